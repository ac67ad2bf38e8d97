// The fixup VM's own drivers under the guest's disks (initrd/target-drivers.ts), on a sysfs
// tree built here: a partition on a PVSCSI disk, an LVM volume over an NVMe namespace, a
// built-in driver, and devices the inventory (not blkid) named.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { diskDriverModules } from "../../../src/initrd/target-drivers.ts";

function link(at: string, to: string): void {
  mkdirSync(dirname(at), { recursive: true });
  symlinkSync(to, at);
}

test("diskDriverModules: every module from the block device up to the PCI function, through device-mapper's slaves", () => {
  const base = mkdtempSync(join(tmpdir(), "osam-sysfs-"));
  try {
    const sys = join(base, "sys");
    const dev = join(base, "dev");
    const drv = (name: string, module?: string) => {
      const d = join(sys, "bus/x/drivers", name);
      mkdirSync(d, { recursive: true });
      if (module) link(join(d, "module"), join(sys, "module", module));
      mkdirSync(join(sys, "module", module ?? "none"), { recursive: true });
      return d;
    };
    // PVSCSI: PCI function (vmw_pvscsi) > host > target > SCSI device (sd: sd_mod) > sda > sda1
    const pci = join(sys, "devices/pci0000:00/0000:00:10.0");
    const sdev = join(pci, "host0/target0:0:0/0:0:0:0");
    mkdirSync(join(sdev, "block/sda/sda1"), { recursive: true });
    link(join(pci, "driver"), drv("vmw_pvscsi", "vmw_pvscsi"));
    link(join(sdev, "driver"), drv("sd", "sd_mod"));
    link(join(sys, "class/block/sda1"), join(sdev, "block/sda/sda1"));
    // NVMe namespace under dm-0; the PCI bridge above has a built-in driver (no module link)
    const npci = join(sys, "devices/pci0000:00/0000:00:1c.0/0000:01:00.0");
    mkdirSync(join(npci, "nvme/nvme0/nvme0n1"), { recursive: true });
    link(join(npci, "driver"), drv("nvme", "nvme"));
    link(join(dirname(npci), "driver"), drv("pcieport"));
    link(join(sys, "class/block/nvme0n1"), join(npci, "nvme/nvme0/nvme0n1"));
    mkdirSync(join(sys, "devices/virtual/block/dm-0/slaves"), { recursive: true });
    link(join(sys, "devices/virtual/block/dm-0/slaves/nvme0n1"), join(npci, "nvme/nvme0/nvme0n1"));
    link(join(sys, "class/block/dm-0"), join(sys, "devices/virtual/block/dm-0"));
    mkdirSync(join(dev, "mapper"), { recursive: true });
    writeFileSync(join(dev, "sda1"), "");
    writeFileSync(join(dev, "dm-0"), "");
    link(join(dev, "mapper/vg-root"), "../dm-0");

    assert.deepEqual(diskDriverModules([{ source: "/dev/vda1", target: "/dev/sda1", from: "blkid" }], sys, dev), ["sd_mod", "vmw_pvscsi"]);
    assert.deepEqual(diskDriverModules([{ source: "/dev/vg/root", target: "/dev/mapper/vg-root", from: "blkid" }], sys, dev), ["nvme"]);
    assert.deepEqual(diskDriverModules([{ source: "/dev/vda1", target: "/dev/sda1", from: "inventory" }, { source: "/dev/vdb1", target: "/dev/sdz1", from: "blkid" }], sys, dev), [], "inventory facts and unknown devices say nothing");
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
});
