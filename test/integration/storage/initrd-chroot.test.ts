// The storage steps against real Debian trees (overlay copies of the test images): the
// guest's own update-initramfs or dracut runs in a chroot, and the images it leaves contain
// the VMware disk and NIC drivers; fstab names the filesystems by UUID. grub-mkconfig needs
// the tree on a real block device and is covered by agent-disk.test.ts.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ensureRootfs, withOverlay, type Variant } from "../../helpers/images.ts";
import { bindChrootDirs } from "../../../src/guest/binds.ts";
import { Fstab } from "../../../src/formats/fstab.ts";
import { applyStorage, assertRoot, fakeDevices, initrdFiles, inputsFor } from "./helpers.ts";

/** Made-up blkid facts for every /dev/vdXN the tree's fstab names. */
function devicesFromFstab(root: string) {
  const list: { source: string; uuid: string; fsType: string }[] = [];
  let i = 1;
  for (const e of new Fstab(readFileSync(join(root, "etc/fstab"), "utf8")).entries()) {
    if (!/^\/dev\/vd[a-z]\d+$/.test(e.spec)) continue;
    const uuid = e.vfstype === "vfat" ? `ABCD-000${i}` : `0000000${i}-4d2c-4b1a-9e3f-5a6b7c8d9e0f`;
    list.push({ source: e.spec, uuid, fsType: e.vfstype });
    i++;
  }
  return fakeDevices(list);
}

const CASES: { variant: Variant; firmware: "bios" | "uefi"; expectFs: string }[] = [
  { variant: "deb12-itools", firmware: "bios", expectFs: "ext4.ko" },
  { variant: "deb12-xfs", firmware: "bios", expectFs: "xfs.ko" },
  { variant: "deb12-uefi", firmware: "uefi", expectFs: "ext4.ko" },
  { variant: "deb12-dracut-lvm", firmware: "bios", expectFs: "ext4.ko" },
];

for (const c of CASES) {
  test(`${c.variant}: initramfs rebuilt in the chroot carries vmw_pvscsi and vmxnet3; fstab by UUID`, { timeout: 90 * 60_000 }, async () => {
    assertRoot();
    const rootfs = await ensureRootfs(c.variant);
    await withOverlay(rootfs, async (root) => {
      const release = await bindChrootDirs(root);
      try {
        const devices = devicesFromFstab(root);
        assert.ok(devices.length >= 1, "the image's fstab names no /dev/vdXN");
        const t0 = Date.now();
        const { result, log } = await applyStorage(root, inputsFor({ firmware: c.firmware, rebuildInitramfs: true }), devices, ["preflight", "stale-caches", "device-refs", "initrd"]);
        const ms = Date.now() - t0;
        assert.equal(result.status, "succeeded", `${result.message}\n${log.lines.slice(-30).join("\n")}`);
        process.stderr.write(`${c.variant}: storage steps with the initramfs rebuild took ${ms} ms\n`);
        const fstab = readFileSync(join(root, "etc/fstab"), "utf8");
        assert.doesNotMatch(fstab, /^\/dev\/vd/m, "fstab still names /dev/vdX");
        for (const d of devices) assert.match(fstab, new RegExp(`^UUID=${d.uuid!}\\s`, "m"));
        const initrd = result.steps.find((s) => s.name === "initrd")!;
        const images = initrd.changes.filter((ch) => ch.action === "exec").map((ch) => ch.argv!);
        assert.ok(images.length >= 1, "no initramfs was rebuilt");
        const kver = images[0]!.at(-1)!;
        const img = c.variant === "deb12-dracut-lvm" ? images[0]!.at(-2)! : `/boot/initrd.img-${kver}`;
        const files = await initrdFiles(root, img);
        for (const m of ["vmw_pvscsi.ko", "vmxnet3.ko", "sd_mod.ko", c.expectFs]) assert.match(files, new RegExp(m.replace(".", "\\.")), `${img} has no ${m}`);
        if (c.variant === "deb12-dracut-lvm") {
          // LVM tools for the root, and none of the fixup host's command line baked in
          assert.match(files, /sbin\/lvm\b/, `${img} has no lvm`);
          assert.doesNotMatch(files, /etc\/cmdline\.d\/.*host/, `${img} carries a host-only command line`);
        }
      } finally {
        await release();
      }
    });
  });
}
