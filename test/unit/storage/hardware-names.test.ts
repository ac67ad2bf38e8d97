// by-id, by-path and cryptopts names of the source's hardware (issue 12, kind 4): traced to a
// UUID by the disk serial or by the reference's role, else a warning where the boot goes on
// without it, and DEVICE_REF_UNRESOLVED where it does not.
import { test } from "node:test";
import assert from "node:assert/strict";
import { diskBySerial, parseHardwareName, uuidByRole } from "../../../src/fixups/hardware-names.ts";
import { DeviceResolver, planDeviceRefs } from "../../../src/fixups/device-refs.ts";
import { CODES, FixupError } from "../../../src/protocol/codes.ts";
import { ReplicaDiskMap, SystemConfiguration } from "../../../src/protocol/schemas.ts";
import type { KnownDevice } from "../../../src/fixups/types.ts";
import type { Inputs } from "../../../src/protocol/inputs.ts";
import { context, inputs } from "./ctx.ts";

const map = (...serials: (string | undefined)[]) => ReplicaDiskMap.parse({ disks: serials.map((s, i) => ({ source: { device: `/dev/vd${"abc"[i]}`, ...(s ? { serial: s } : {}) }, target: { controller: "scsi0", unit: i } })) });
const blk = (source: string, uuid: string, fsType: string): KnownDevice => ({ source, uuid, fsType, from: "blkid" });

test("by-id and by-path names are parsed; device-mapper, md and LVM ids are stable", () => {
  assert.deepEqual(parseHardwareName("/dev/disk/by-id/virtio-SRC01-part3"), { kind: "by-id", id: "virtio-SRC01", part: 3 });
  assert.deepEqual(parseHardwareName("/dev/disk/by-path/pci-0000:00:04.0"), { kind: "by-path", id: "pci-0000:00:04.0" });
  assert.deepEqual(parseHardwareName("/dev/disk/by-path/pci-0000:00:1f.2-ata-1-part2"), { kind: "by-path", id: "pci-0000:00:1f.2-ata-1", part: 2 });
  for (const s of ["/dev/disk/by-id/dm-name-vg-root", "/dev/disk/by-id/dm-uuid-LVM-abc", "/dev/disk/by-id/md-uuid-3aaa0122:29827cfa", "/dev/disk/by-id/lvm-pv-uuid-x", "/dev/disk/by-uuid/1234", "/dev/vda1", "UUID=1"]) assert.equal(parseHardwareName(s), undefined, s);
});

test("a by-id name finds its disk by serial: virtio (20 bytes at most), ATA, SCSI, NVMe; never two", () => {
  const m = map("4f2a9c1e8b7d6a5c3e1f07b2", "QM00002", "drive-scsi0-0-0-0");
  assert.equal(diskBySerial("virtio-4f2a9c1e8b7d6a5c3e1f", m), "/dev/vda");
  assert.equal(diskBySerial("ata-QEMU_HARDDISK_QM00002", m), "/dev/vdb");
  assert.equal(diskBySerial("scsi-0QEMU_QEMU_HARDDISK_drive-scsi0-0-0-0", m), "/dev/vdc");
  assert.equal(diskBySerial("nvme-Samsung_SSD_970_QM00002", m), "/dev/vdb");
  assert.equal(diskBySerial("virtio-other", m), undefined);
  assert.equal(diskBySerial("virtio-S1", map("S1", "S1")), undefined, "ambiguous serials trace nothing");
  assert.equal(diskBySerial("ata-WDC_WD10_WD-WCC 123".replace(" ", "_"), map("WD-WCC 123")), "/dev/vda", "white space as udev writes it");
});

test("the role traces what the serial cannot: the inventory's mount point, the only swap, the only LUKS device", () => {
  const sys = SystemConfiguration.parse({ migrationId: "t", source: { firmware: "bios", blockDevices: [{ device: "/dev/vda2", uuid: "AAAA-1", mountpoint: "/" }, { device: "/dev/vda1", uuid: "BBBB-2", mountpoint: "/boot" }] }, target: { firmware: "bios", scsiController: "pvscsi", nicModel: "vmxnet3" } });
  assert.equal(uuidByRole({ mountpoint: "/" }, sys, []), "aaaa-1");
  assert.equal(uuidByRole({ mountpoint: "/home" }, sys, []), undefined);
  assert.equal(uuidByRole({ swap: true }, sys, [blk("/dev/vda3", "cccc-3", "swap")]), "cccc-3");
  assert.equal(uuidByRole({ swap: true }, sys, [blk("/dev/vda3", "cccc-3", "swap"), blk("/dev/vdb1", "dddd-4", "swap")]), undefined, "two swaps: not known which");
  assert.equal(uuidByRole({ luks: true }, sys, [blk("/dev/vda3", "eeee-5", "crypto_LUKS")]), "eeee-5");
});

test("the resolver: serial first, then role; a by-id of an unreplicated disk is unresolved", () => {
  const inp: Inputs = { ...inputs(), disks: map("SER1") };
  const r = new DeviceResolver(inp, [blk("/dev/vda1", "1111-aaaa", "ext4"), blk("/dev/vda2", "2222-bbbb", "swap")]);
  assert.deepEqual(r.resolve("/dev/disk/by-id/virtio-SER1-part1"), { kind: "uuid", value: "UUID=1111-aaaa" });
  assert.deepEqual(r.resolve("/dev/disk/by-path/pci-0000:00:05.0-part2", { swap: true }), { kind: "uuid", value: "UUID=2222-bbbb" });
  assert.equal(r.resolve("/dev/disk/by-id/virtio-OTHER-part1").kind, "unresolved");
  assert.equal(r.resolve("/dev/disk/by-id/dm-name-vg-root").kind, "stable");
});

const FSTAB = [
  "UUID=1111-aaaa / ext4 defaults 0 1",
  "/dev/disk/by-path/pci-0000:00:06.0-part1 /srv ext4 defaults 0 2",
  "/dev/disk/by-path/pci-0000:00:06.0-part2 /mnt/opt ext4 noauto 0 0",
  "",
].join("\n");

test("unresolvable but not needed to boot: /srv gets nofail, a noauto line a warning; the step succeeds", async () => {
  const ctx = await context({ "etc/fstab": FSTAB, "etc/crypttab": "data /dev/disk/by-id/ata-X_Y-part3 none luks,noauto\n" });
  try {
    const p = await planDeviceRefs(ctx);
    const w = p.changes.find((c) => c.action === "write" && c.path === "/etc/fstab");
    assert.ok(w && w.action === "write");
    assert.match(String(w.content), /^\/dev\/disk\/by-path\/pci-0000:00:06\.0-part1 \/srv ext4 defaults,nofail 0 2$/m);
    assert.ok(p.warnings.some((x) => /^\/etc\/fstab:2: \/srv: .*marked nofail/.test(x)), p.warnings.join("\n"));
    assert.ok(p.warnings.some((x) => /^\/etc\/fstab:3: \/mnt\/opt: .*noauto/.test(x)));
    assert.ok(p.warnings.some((x) => /^\/etc\/crypttab:1: data: .*names the source's hardware/.test(x)));
  } finally {
    ctx.cleanup();
  }
});

test("unresolvable and needed to boot: /boot, crypttab without nofail, resume= and cryptopts stop the step with code 301, every one named", async () => {
  const ctx = await context({
    "etc/fstab": "UUID=1111-aaaa / ext4 defaults 0 1\n/dev/disk/by-id/virtio-GONE-part1 /boot ext4 defaults 0 2\n",
    "etc/crypttab": "root_crypt /dev/disk/by-path/pci-0000:00:04.0-part3 none luks\n",
    "etc/default/grub": 'GRUB_CMDLINE_LINUX="resume=/dev/disk/by-path/pci-0000:00:04.0-part2 cryptopts=target=root_crypt,source=/dev/disk/by-id/virtio-GONE-part3"\n',
  });
  try {
    await assert.rejects(planDeviceRefs(ctx), (e: unknown) => {
      assert.ok(e instanceof FixupError);
      assert.equal(e.code, CODES.DEVICE_REF_UNRESOLVED.code);
      for (const m of [/\/etc\/fstab:2: \/boot: /, /\/etc\/crypttab:1: root_crypt: /, /kernel command line resume=\/dev\/disk\/by-path/, /kernel command line cryptopts source=\/dev\/disk\/by-id\/virtio-GONE-part3/, /source\.serial/]) assert.match(e.message, m);
      return true;
    });
  } finally {
    ctx.cleanup();
  }
});
