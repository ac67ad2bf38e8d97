// Swap files and a separate /usr (issue 12): resume= with resume_offset= names the filesystem
// holding the swap file, not a swap device; the initramfs gets /usr's filesystem driver too.
import { test } from "node:test";
import assert from "node:assert/strict";
import { resumeRole } from "../../../src/fixups/device-refs.ts";
import { initrdStacks, requiredModules } from "../../../src/initrd/drivers.ts";
import { context } from "./ctx.ts";

const e = (spec: string, file: string, vfstype: string) => ({ spec, file, vfstype });

test("resume_offset: the filesystem that holds the swap file; no swap file or several filesystems: no role", () => {
  const fstab = [e("UUID=r", "/", "ext4"), e("UUID=v", "/var", "xfs"), e("/dev/vdb1", "none", "swap")];
  assert.deepEqual(resumeRole(false, fstab), { swap: true });
  assert.deepEqual(resumeRole(true, [...fstab, e("/swapfile", "none", "swap")]), { mountpoint: "/" });
  assert.deepEqual(resumeRole(true, [...fstab, e("/var/swap/file", "none", "swap")]), { mountpoint: "/var" });
  assert.deepEqual(resumeRole(true, fstab), {});
  assert.deepEqual(resumeRole(true, [...fstab, e("/swapfile", "none", "swap"), e("/var/swap", "none", "swap")]), {});
});

test("a separate /usr on another filesystem and on LVM adds its driver and dm_mod", async () => {
  const ctx = await context({ "etc/fstab": "/dev/vda1 / ext4 defaults 0 1\n/dev/mapper/vg-usr /usr xfs defaults 0 2\n" });
  try {
    const mods = [...new Set(initrdStacks(ctx.info).flatMap(requiredModules))];
    for (const m of ["ext4", "xfs", "dm_mod"]) assert.ok(mods.includes(m), mods.join(" "));
  } finally {
    ctx.cleanup();
  }
});
