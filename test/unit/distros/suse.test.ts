// The SUSE profile: release samples, initrd-<v> images and SUSE's own mkinitrd.
import { test } from "node:test";
import assert from "node:assert/strict";
import { pickProfile } from "../../../src/distros/index.ts";
import { parseSuseRelease, suse } from "../../../src/distros/suse.ts";
import { releaseFileTests } from "./check.ts";

releaseFileTests("suse", suse);

test("suse: any openSUSE flavour is claimed", () => {
  assert.equal(pickProfile("opensuse-slowroll"), suse);
  assert.equal(pickProfile("sle-micro", "suse"), suse);
});

test("suse: PATCHLEVEL 0 is left out of the version", () => {
  assert.equal(parseSuseRelease("SUSE Linux Enterprise Server 12 (x86_64)\nVERSION = 12\nPATCHLEVEL = 0\n").version, "12");
});

test("suse: initrd-<v> from dracut or mkinitrd; mkinitrd -k -i -m, INITRD_MODULES kept for later builds", () => {
  assert.equal(suse.initramfs.imagePath("dracut", "5.14.21-150500.55.19-default"), "/boot/initrd-5.14.21-150500.55.19-default");
  assert.equal(suse.initramfs.imagePath("mkinitrd", "3.0.101-108.13-default"), "/boot/initrd-3.0.101-108.13-default");
  assert.deepEqual(suse.initramfs.mkinitrd.argv("/boot/initrd-3.0.101-108.13-default", "/boot/vmlinuz-3.0.101-108.13-default", "3.0.101-108.13-default", ["vmw_pvscsi", "vmxnet3"]), [
    "mkinitrd", "-k", "/boot/vmlinuz-3.0.101-108.13-default", "-i", "/boot/initrd-3.0.101-108.13-default", "-m", "vmw_pvscsi vmxnet3",
  ]);
  assert.deepEqual(suse.initramfs.mkinitrd.modulesSetting, { path: "/etc/sysconfig/kernel", key: "INITRD_MODULES" });
  assert.deepEqual(suse.efiVendors("sles"), ["sles", "opensuse"]);
  assert.equal(suse.sysv.rcDir(3), "/etc/init.d/rc3.d");
  assert.ok(suse.networkSystems.includes("wicked"));
});
