import { test } from "node:test";
import assert from "node:assert/strict";
import { SOURCE_STYLE_NAME, bootDisk, partitionName, sdName, splitPartition, targetDiskNames } from "../../../src/guest/discover-names.ts";
import { parseBlkidExport } from "../../../src/guest/blkid.ts";
import { inputs } from "./ctx.ts";

test("splitPartition: sd/vd/xvd/hd, nvme and mmcblk 'p' suffixes, whole disks", () => {
  assert.deepEqual(splitPartition("/dev/vda1"), { disk: "/dev/vda", part: 1 });
  assert.deepEqual(splitPartition("/dev/xvdb12"), { disk: "/dev/xvdb", part: 12 });
  assert.deepEqual(splitPartition("/dev/hda2"), { disk: "/dev/hda", part: 2 });
  assert.deepEqual(splitPartition("/dev/sdaa3"), { disk: "/dev/sdaa", part: 3 });
  assert.deepEqual(splitPartition("/dev/nvme0n1p2"), { disk: "/dev/nvme0n1", part: 2 });
  assert.deepEqual(splitPartition("/dev/mmcblk0p1"), { disk: "/dev/mmcblk0", part: 1 });
  assert.deepEqual(splitPartition("/dev/loop3p1"), { disk: "/dev/loop3", part: 1 });
  assert.deepEqual(splitPartition("/dev/nvme1n1"), { disk: "/dev/nvme1n1" });
  assert.deepEqual(splitPartition("/dev/sdb"), { disk: "/dev/sdb" });
  assert.deepEqual(splitPartition("/dev/mapper/vg-root"), { disk: "/dev/mapper/vg-root" });
});

test("partitionName adds 'p' after a disk name ending in a digit", () => {
  assert.equal(partitionName("/dev/sda", 1), "/dev/sda1");
  assert.equal(partitionName("/dev/nvme0n1", 3), "/dev/nvme0n1p3");
  assert.equal(partitionName("/dev/loop0", 2), "/dev/loop0p2");
});

test("sdName counts like the kernel: sda..sdz, sdaa", () => {
  assert.equal(sdName(0), "/dev/sda");
  assert.equal(sdName(25), "/dev/sdz");
  assert.equal(sdName(26), "/dev/sdaa");
  assert.equal(sdName(27), "/dev/sdab");
});

test("target disk names follow the SCSI unit order, not the source order", () => {
  const m = targetDiskNames(inputs({ disks: [{ source: "/dev/sda", unit: 2 }, { source: "/dev/sdb", unit: 0 }, { source: "/dev/vdc", unit: 1 }] }).disks);
  assert.equal(m.get("/dev/sdb"), "/dev/sda");
  assert.equal(m.get("/dev/vdc"), "/dev/sdb");
  assert.equal(m.get("/dev/sda"), "/dev/sdc");
});

test("bootDisk: marked boot, else scsi0:0", () => {
  assert.equal(bootDisk(inputs({ disks: [{ source: "/dev/vda", unit: 0 }, { source: "/dev/vdb", unit: 1, boot: true }] }).disks).source.device, "/dev/vdb");
  assert.equal(bootDisk(inputs({ disks: [{ source: "/dev/vdb", unit: 1 }, { source: "/dev/vda", unit: 0 }] }).disks).source.device, "/dev/vda");
});

test("SOURCE_STYLE_NAME: probe-order names yes; stable names no", () => {
  for (const n of ["/dev/vda1", "/dev/sdb", "/dev/xvda2", "/dev/hdc1", "/dev/nvme0n1p1", "/dev/nvme1n1", "/dev/mmcblk0p2"]) assert.match(n, SOURCE_STYLE_NAME);
  for (const n of ["UUID=1234", "LABEL=root", "/dev/mapper/rhel-root", "/dev/rhel/root", "/dev/disk/by-uuid/x", "/dev/md0", "PARTUUID=ab-01"]) assert.doesNotMatch(n, SOURCE_STYLE_NAME);
});

test("parseBlkidExport: blocks, escapes, missing keys", () => {
  const out = parseBlkidExport('DEVNAME=/dev/sdb1\nUUID=8c2b5f7e-3a9d-4c16-b0e4-d7f1a6c3e952\nTYPE=ext4\nPARTUUID=9a3c7e21-01\n\nDEVNAME=/dev/sdb2\nLABEL=my\\ data\nTYPE=xfs\n');
  assert.deepEqual(out, [
    { device: "/dev/sdb1", uuid: "8c2b5f7e-3a9d-4c16-b0e4-d7f1a6c3e952", type: "ext4", partuuid: "9a3c7e21-01" },
    { device: "/dev/sdb2", label: "my data", type: "xfs" },
  ]);
});
