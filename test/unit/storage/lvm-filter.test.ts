// LVM filters that name the source's disks (issue 12): rewritten to the target's names, a
// filter that only narrowed LVM to the source's disks accepts all, the rest of the file as it was.
import { test } from "node:test";
import assert from "node:assert/strict";
import { rewriteLvmFilters, rewritePattern } from "../../../src/fixups/lvm-filter.ts";

const MAP: Record<string, string> = { "/dev/vda": "/dev/sda", "/dev/vdb": "/dev/sdb", "/dev/nvme0n1": "/dev/sdc" };
const newDisk = (d: string) => MAP[d];

test("patterns: literal disks and partitions by the map, name families to /dev/sd, others kept", () => {
  assert.deepEqual(rewritePattern("a|^/dev/vda2$|", newDisk), { kind: "set", value: "a|^/dev/sda2$|" });
  assert.deepEqual(rewritePattern("a/^\\/dev\\/nvme0n1p3$/", newDisk), { kind: "keep" });
  assert.deepEqual(rewritePattern("a|/dev/nvme0n1p3|", newDisk), { kind: "set", value: "a|/dev/sdc3|" });
  assert.deepEqual(rewritePattern("r|/dev/xvd.*|", newDisk), { kind: "set", value: "r|/dev/sd.*|" });
  assert.deepEqual(rewritePattern("a|/dev/mapper/mpath.*|", newDisk), { kind: "keep" });
  assert.equal(rewritePattern("a|^/dev/vdc1$|", newDisk).kind, "drop");
});

test("a filter that only accepted source disks that are gone accepts all; comments and the rest stay byte for byte", () => {
  const conf = 'devices {\n\t# filter = [ "a|/dev/vdc|" ]\n\tfilter = [ "a|^/dev/vdc1$|", "r|.*|" ]  # data disk\n\tscan = [ "/dev" ]\n}\n';
  const notes: string[] = [];
  const out = rewriteLvmFilters(conf, newDisk, notes);
  assert.equal(out, 'devices {\n\t# filter = [ "a|/dev/vdc|" ]\n\tfilter = [ "a|.*|" ]  # data disk\n\tscan = [ "/dev" ]\n}\n');
  assert.match(notes[0]!, /filter \(line 3\) only accepted the source's disks/);
});

test("a reject of a disk that is not replicated is dropped with its comma; untouched files are returned as they are", () => {
  const notes: string[] = [];
  assert.equal(rewriteLvmFilters('global_filter = [ "r|/dev/vdc|", "a|/dev/vda|" ]\n', newDisk, notes), 'global_filter = [ "a|/dev/sda|" ]\n');
  assert.match(notes.join("\n"), /"r\|\/dev\/vdc\|" dropped: \/dev\/vdc is not on any replica disk/);
  const plain = 'devices {\n\tfilter = [ "a|.*|" ]\n}\n';
  assert.equal(rewriteLvmFilters(plain, newDisk, []), plain);
});
