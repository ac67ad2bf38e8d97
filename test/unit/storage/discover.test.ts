// Disk discovery against a fake sysfs tree: the replica disks are found by SCSI address
// (scsi0:<unit> = target <unit> on the controller that carries the fixup disk at 15), never
// by the alphabetical order of their sdX names.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chooseRoot, controllerHost, listScsiDisks, locateDisks, mapPartitions, mdMembers } from "../../../src/guest/discover.ts";
import { FixupError } from "../../../src/protocol/codes.ts";
import { dev, fakeSys, inputs } from "./ctx.ts";

test("replica disks by SCSI target id on the controller with the fixup disk, whatever their sdX names", () => {
  // probe order gave the fixup disk sda and scrambled the rest; an ATA host (host0) has its own target 0
  const f = fakeSys([
    { hctl: "0:0:0:0", name: "sdz", proc: "ata_piix" },
    { hctl: "2:0:15:0", name: "sda", parts: [1] },
    { hctl: "2:0:1:0", name: "sdb", parts: [1] },
    { hctl: "2:0:0:0", name: "sdc", parts: [1, 2, 3] },
  ]);
  try {
    assert.equal(controllerHost(listScsiDisks(f.sys), f.sys), 2);
    const located = locateDisks(inputs({ disks: [{ source: "/dev/vda", unit: 0, boot: true }, { source: "/dev/vdb", unit: 1 }] }).disks, f.sys);
    assert.deepEqual(located.map((d) => [d.source, d.device]), [["/dev/vda", "/dev/sdc"], ["/dev/vdb", "/dev/sdb"]]);
    const parts = mapPartitions(located, f.sys).map((p) => `${p.source}=${p.target}`);
    assert.deepEqual(parts, ["/dev/vda=/dev/sdc", "/dev/vda1=/dev/sdc1", "/dev/vda2=/dev/sdc2", "/dev/vda3=/dev/sdc3", "/dev/vdb=/dev/sdb", "/dev/vdb1=/dev/sdb1"]);
  } finally {
    f.cleanup();
  }
});

test("an md array's members by their source names, from /sys/block/<md>/slaves", () => {
  const f = fakeSys([{ hctl: "2:0:15:0", name: "sda" }, { hctl: "2:0:1:0", name: "sdb", parts: [1] }, { hctl: "2:0:0:0", name: "sdc", parts: [1] }]);
  try {
    for (const n of ["sdb1", "sdc1"]) mkdirSync(join(f.sys, "block/md127/slaves", n), { recursive: true });
    const located = locateDisks(inputs({ disks: [{ source: "/dev/vda", unit: 0, boot: true }, { source: "/dev/vdb", unit: 1 }] }).disks, f.sys);
    assert.deepEqual(mdMembers("/dev/md127", mapPartitions(located, f.sys), f.sys), ["/dev/vda1", "/dev/vdb1"]);
    assert.deepEqual(mdMembers("/dev/md126", mapPartitions(located, f.sys), f.sys), []);
  } finally {
    f.cleanup();
  }
});

test("NVMe source partitions map by number onto the SCSI disk's partitions", () => {
  const f = fakeSys([{ hctl: "1:0:15:0", name: "sdb" }, { hctl: "1:0:0:0", name: "sda", parts: [1, 2] }]);
  try {
    const located = locateDisks(inputs({ disks: [{ source: "/dev/nvme0n1", unit: 0 }] }).disks, f.sys);
    assert.deepEqual(mapPartitions(located, f.sys).map((p) => `${p.source}=${p.target}`), ["/dev/nvme0n1=/dev/sda", "/dev/nvme0n1p1=/dev/sda1", "/dev/nvme0n1p2=/dev/sda2"]);
  } finally {
    f.cleanup();
  }
});

test("a replica disk missing from its SCSI address is INPUT_CONTRADICTORY, not a guess", () => {
  const f = fakeSys([{ hctl: "2:0:15:0", name: "sda" }, { hctl: "2:0:0:0", name: "sdb" }]);
  try {
    assert.throws(() => locateDisks(inputs({ disks: [{ source: "/dev/vda", unit: 0 }, { source: "/dev/vdb", unit: 3 }] }).disks, f.sys), (e: unknown) => e instanceof FixupError && e.codeName === "INPUT_CONTRADICTORY" && /scsi0:3/.test(e.message));
  } finally {
    f.cleanup();
  }
});

test("chooseRoot: one candidate; source.root by device or UUID; the boot disk; else GUEST_AMBIGUOUS_ROOT", () => {
  const a = { device: dev("/dev/vda2", "aaaa-1", "ext4", "/dev/sda2"), os: "Debian 12" };
  const b = { device: dev("/dev/vdb1", "bbbb-2", "ext4", "/dev/sdb1"), os: "Debian 11" };
  const c = { device: dev("/dev/vda3", "cccc-3", "ext4", "/dev/sda3"), os: "Debian 10" };
  const two = inputs({ disks: [{ source: "/dev/vda", unit: 0 }, { source: "/dev/vdb", unit: 1 }] });
  assert.equal(chooseRoot([a], two), a);
  assert.equal(chooseRoot([a, b], inputs({ disks: [{ source: "/dev/vda", unit: 0 }, { source: "/dev/vdb", unit: 1 }], root: "UUID=BBBB-2" })), b);
  assert.equal(chooseRoot([a, b], inputs({ disks: [{ source: "/dev/vda", unit: 0 }, { source: "/dev/vdb", unit: 1 }], root: "/dev/vdb1" })), b);
  assert.equal(chooseRoot([a, b], two), a, "the root on the boot disk (scsi0:0)");
  assert.throws(() => chooseRoot([a, c], two), (e: unknown) => e instanceof FixupError && e.codeName === "GUEST_AMBIGUOUS_ROOT");
  assert.throws(() => chooseRoot([], two), (e: unknown) => e instanceof FixupError && e.codeName === "GUEST_NOT_FOUND");
  assert.throws(() => chooseRoot([a, b], inputs({ root: "UUID=nope" })), (e: unknown) => e instanceof FixupError && e.codeName === "GUEST_AMBIGUOUS_ROOT");
});
