import { test } from "node:test";
import assert from "node:assert/strict";
import { isNeeded, lvmFilterConfig, mountOptions, resolveSpec } from "../../../src/guest/mount.ts";
import { dev } from "./ctx.ts";

test("mountOptions keeps the filesystem's own options (subvol=) and drops boot-time ones", () => {
  assert.deepEqual(mountOptions("defaults,subvol=/@/var,nofail,x-systemd.device-timeout=0,noauto"), ["subvol=/@/var"]);
  assert.deepEqual(mountOptions("umask=0077"), ["umask=0077"]);
  assert.deepEqual(mountOptions("defaults"), []);
});

test("isNeeded: /boot, /boot/efi, /usr, /var and below; not /home or /srv", () => {
  for (const p of ["/boot", "/boot/efi", "/boot/grub2/i386-pc", "/usr", "/usr/local", "/var", "/opt"]) assert.ok(isNeeded(p), p);
  for (const p of ["/home", "/srv", "/data", "/bootstrap", "/.snapshots"]) assert.ok(!isNeeded(p), p);
});

test("resolveSpec through blkid facts: UUID=, LABEL=, by-uuid links, source names, LVM paths", () => {
  const devs = [{ ...dev("/dev/vda1", "ABCD-1234", "vfat", "/dev/sdb1"), label: "EFI" }, dev("/dev/vda2", "8c2b5f7e-3a9d-4c16-b0e4-d7f1a6c3e952", "ext4", "/dev/sdb2")];
  assert.equal(resolveSpec("UUID=abcd-1234", devs), "/dev/sdb1");
  assert.equal(resolveSpec("LABEL=EFI", devs), "/dev/sdb1");
  assert.equal(resolveSpec("/dev/disk/by-uuid/8c2b5f7e-3a9d-4c16-b0e4-d7f1a6c3e952", devs), "/dev/sdb2");
  assert.equal(resolveSpec("/dev/vda2", devs), "/dev/sdb2");
  assert.equal(resolveSpec("/dev/mapper/rhel-root", devs), "/dev/mapper/rhel-root");
  assert.equal(resolveSpec("UUID=0000", devs), undefined);
  assert.equal(resolveSpec("/dev/vdc1", devs), undefined);
});

test("the LVM filter accepts only the replica devices (the fixup disk's VGs stay out)", () => {
  const c = lvmFilterConfig(["/dev/sdb2", "/dev/md127"]);
  assert.match(c, /"a\|\^\/dev\/sdb2\$\|", "a\|\^\/dev\/md127\$\|", "r\|\.\*\|"/);
  assert.match(c, /use_devicesfile = 0/);
});

test("without udevd, LVM neither waits for udev nor leaves the device nodes to it", () => {
  assert.match(lvmFilterConfig(["/dev/sdb2"], false), /activation \{ udev_sync = 0 udev_rules = 0 \}/);
  assert.doesNotMatch(lvmFilterConfig(["/dev/sdb2"], true), /udev_sync/);
});
