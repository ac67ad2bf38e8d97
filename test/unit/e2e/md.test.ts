// The md RAID checks of the e2e, on the consoles of a real deb12-md-raid1 run (2026-11-30):
// the migrated guest with both members, and its boot from the second disk alone, where the one
// member left holds role 1 and /proc/mdstat says [_U]. The check once wanted [U_] there and
// failed a boot that had done exactly what it should.
import { test } from "node:test";
import assert from "node:assert/strict";
import { assertMdRoot, parseMdMarker } from "../../e2e/lib/md.ts";
import type { Marker } from "../../e2e/lib/marker.ts";

const WHOLE = 'E2E-MD {"mdstat":"Personalities : [raid1] [raid6] [raid5] [raid4] [raid10] [raid0] [linear] [multipath] |md0 : active raid1 sdb1[1] sda1[0]|      3141632 blocks super 1.2 [2/2] [UU]|      |unused devices: <none>|","arrays":[{"name":"md0","level":"raid1","state":"active","degraded":"0","members":[{"name":"sda1","driver":"vmw_pvscsi"},{"name":"sdb1","driver":"vmw_pvscsi"}]}]}';
const SECOND_ALONE = 'E2E-MD {"mdstat":"Personalities : [raid1] [raid6] [raid5] [raid4] [raid10] [raid0] [linear] [multipath] |md0 : active raid1 sda1[1]|      3141632 blocks super 1.2 [2/1] [_U]|      |unused devices: <none>|","arrays":[{"name":"md0","level":"raid1","state":"active","degraded":"1","members":[{"name":"sda1","driver":"vmw_pvscsi"}]}]}';
const marker = { root: "/dev/md0", rootBlock: "md0" } as Marker;
const PV = "vmw_pvscsi";

test("both members active on the target controller", () => {
  assertMdRoot(marker, parseMdMarker(`noise\n${WHOLE}\n`), { members: 2, of: 2, driver: PV }, "");
  assert.throws(() => assertMdRoot(marker, parseMdMarker(WHOLE), { members: 2, of: 2, driver: "virtio_blk" }, ""), /members of md0/);
});

test("the second disk alone: one member active, in either slot, degraded by one", () => {
  assertMdRoot(marker, parseMdMarker(SECOND_ALONE), { members: 1, of: 2, driver: PV }, "");
  assertMdRoot(marker, parseMdMarker(SECOND_ALONE.replace("[_U]", "[U_]")), { members: 1, of: 2, driver: PV }, "");
});

test("a degraded array where a whole one is wanted fails, and so does a root off md", () => {
  assert.throws(() => assertMdRoot(marker, parseMdMarker(SECOND_ALONE), { members: 2, of: 2, driver: PV }, ""));
  assert.throws(() => assertMdRoot(marker, parseMdMarker(WHOLE.replace("[UU]", "[U_]").replace('"degraded":"0"', '"degraded":"1"').replace(',{"name":"sdb1","driver":"vmw_pvscsi"}', "")), { members: 2, of: 2, driver: PV }, ""));
  assert.throws(() => assertMdRoot({ root: "/dev/sda1", rootBlock: "sda1" } as Marker, parseMdMarker(WHOLE), { members: 2, of: 2, driver: PV }, ""), /not an md array/);
});
