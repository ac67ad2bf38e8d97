// The RHEL profile: its release samples, and what it names for things not in the guest yet.
import { test } from "node:test";
import assert from "node:assert/strict";
import { pickProfile } from "../../../src/distros/index.ts";
import { parseRedhatRelease, rhel } from "../../../src/distros/rhel.ts";
import { releaseFileTests } from "./check.ts";

releaseFileTests("rhel", rhel);

test("rhel: ID_LIKE decides for a rebuild the profile does not list by ID", () => {
  assert.equal(pickProfile("navylinux", "rhel centos fedora"), rhel);
  assert.equal(pickProfile("CentOS"), rhel, "IDs are compared in lower case");
});

test("rhel: /etc/redhat-release lines of other rebuilds", () => {
  assert.deepEqual(parseRedhatRelease("Red Hat Enterprise Linux Server release 5.11 (Tikanga)\n"), { id: "rhel", version: "5.11", name: "Red Hat Enterprise Linux Server release 5.11 (Tikanga)" });
  assert.equal(parseRedhatRelease("Rocky Linux release 8.9 (Green Obsidian)").id, "rocky");
  assert.equal(parseRedhatRelease("AlmaLinux release 8.9 (Midnight Oncilla)").id, "almalinux");
  assert.equal(parseRedhatRelease("EuroLinux release 9.2 (Istanbul)").id, "rhel", "an unknown name is read as RHEL");
});

test("rhel: dracut images are initramfs-<v>.img, RHEL 5 mkinitrd images initrd-<v>.img with --with=", () => {
  assert.equal(rhel.initramfs.imagePath("dracut", "5.14.0-427.el9.x86_64"), "/boot/initramfs-5.14.0-427.el9.x86_64.img");
  assert.equal(rhel.initramfs.imagePath("mkinitrd", "2.6.18-419.el5"), "/boot/initrd-2.6.18-419.el5.img");
  assert.deepEqual(rhel.initramfs.mkinitrd.argv("/boot/initrd-2.6.18-419.el5.img", "/boot/vmlinuz-2.6.18-419.el5", "2.6.18-419.el5", ["mptspi", "vmxnet3"]), [
    "mkinitrd", "-f", "--with=mptspi", "--with=vmxnet3", "/boot/initrd-2.6.18-419.el5.img", "2.6.18-419.el5",
  ]);
  assert.equal(rhel.initramfs.mkinitrd.modulesSetting, undefined);
});

test("rhel: EFI vendor directories per ID, own first; SysV under /etc/rc.d; rpm", () => {
  assert.deepEqual(rhel.efiVendors("rocky"), ["rocky", "redhat"]);
  assert.deepEqual(rhel.efiVendors("ol"), ["redhat", "ol"]);
  assert.deepEqual(rhel.efiVendors("amzn"), []);
  assert.deepEqual(rhel.allEfiVendors, ["redhat", "centos", "rocky", "almalinux", "ol", "fedora"]);
  assert.equal(rhel.sysv.rcDir(3), "/etc/rc.d/rc3.d");
  assert.equal(rhel.sysv.initd, "/etc/rc.d/init.d");
  assert.equal(rhel.packageFormat, "rpm");
  assert.ok(rhel.networkSystems.includes("ifcfg"));
});
