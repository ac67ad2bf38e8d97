// The newest kernel without the target's drivers is not left to boot (issue 12, kind 5): the
// newest kernel with them becomes the default by the guest's own mechanism, or the run stops
// with DEFAULT_KERNEL_UNSET.
import { test } from "node:test";
import assert from "node:assert/strict";
import { planDefaultKernel, setGrubenv } from "../../../src/bootloader/default-kernel.ts";
import { bootChoice, compareKernelVersions, type KernelFit } from "../../../src/initrd/modules.ts";
import { CODES, FixupError } from "../../../src/protocol/codes.ts";
import { context } from "./ctx.ts";

const dep = (mods: string[]) => mods.map((m) => `kernel/x/${m}.ko.xz:`).join("\n") + "\n";
const GOOD = dep(["vmw_pvscsi", "vmxnet3", "ext4"]);
const BAD = dep(["virtio_blk", "vmxnet3", "ext4"]);
const kernels = (old: string, young: string) => ({
  [`boot/vmlinuz-${old}`]: "k",
  [`lib/modules/${old}/modules.dep`]: GOOD,
  [`boot/vmlinuz-${young}`]: "k",
  [`lib/modules/${young}/modules.dep`]: BAD,
});

test("grubenv keeps its 1024 bytes; a key is replaced or added", () => {
  const env = "# GRUB Environment Block\nsaved_entry=0\n" + "#".repeat(1024 - 39);
  const out = setGrubenv(env, "saved_entry", "gnulinux-1-advanced-x")!;
  assert.equal(out.length, 1024);
  assert.match(out, /^# GRUB Environment Block\nsaved_entry=gnulinux-1-advanced-x\n#+$/);
  assert.match(setGrubenv(undefined, "saved_entry", "a")!, /^# GRUB Environment Block\nsaved_entry=a\n#{985}$/);
  assert.equal(setGrubenv(env, "saved_entry", "x".repeat(1100)), undefined);
});

test("the choice: newest with all drivers, else newest with the controller; rpm order (1160.102.1.el7 > 1160.el7)", () => {
  assert.ok(compareKernelVersions("3.10.0-1160.102.1.el7.x86_64", "3.10.0-1160.el7.x86_64") > 0);
  const fit = (version: string, lacks?: string[]): KernelFit => ({ kernel: { version }, ...(lacks ? { lacks } : {}) });
  assert.equal(bootChoice([fit("1", []), fit("2", [])], "vmw_pvscsi"), undefined);
  assert.equal(bootChoice([fit("1", []), fit("2", ["vmxnet3"]), fit("3", ["vmw_pvscsi"])], "vmw_pvscsi")?.pick?.kernel.version, "1");
  assert.equal(bootChoice([fit("1", ["vmxnet3"]), fit("2", ["vmxnet3"]), fit("3", ["vmw_pvscsi", "vmxnet3"])], "vmw_pvscsi")?.pick?.kernel.version, "2");
  // the newest has the disks, none has the NIC: it stays
  assert.equal(bootChoice([fit("1", ["vmxnet3"]), fit("2", ["vmxnet3"])], "vmw_pvscsi")?.pick, undefined);
  assert.equal(bootChoice([fit("1"), fit("2", ["vmw_pvscsi"])], "vmw_pvscsi")?.pick, undefined);
});

test("GRUB_DEFAULT set in a grub.d drop-in is changed there", async () => {
  const id = "0c3a4f5e-9a51-4b1e-8a43-5d0b27f0e6a1";
  const ctx = await context({
    ...kernels("6.1.0-26-amd64", "6.1.0-27-amd64"),
    "usr/sbin/grub-mkconfig": "",
    "etc/default/grub": "GRUB_DEFAULT=0\nGRUB_DISABLE_SUBMENU=y\n",
    "etc/default/grub.d/50-cloudimg.cfg": "GRUB_DEFAULT=1\n",
    "boot/grub/grub.cfg": `menuentry 'Debian' $menuentry_id_option 'gnulinux-simple-${id}' {\n\tlinux /boot/vmlinuz-6.1.0-27-amd64 root=UUID=${id} ro\n}\n`,
  });
  try {
    const p = await planDefaultKernel(ctx);
    assert.deepEqual(p.changes.map((c) => (c.action === "write" ? [c.path, String(c.content)] : [])), [["/etc/default/grub.d/50-cloudimg.cfg", `GRUB_DEFAULT=gnulinux-6.1.0-26-amd64-advanced-${id}\n`]]);
    assert.match(p.warnings[0]!, /6\.1\.0-26-amd64 is made the default boot entry .*\(was 1\)/);
  } finally {
    ctx.cleanup();
  }
});

test("GRUB legacy 'default saved' and a guest without GRUB: DEFAULT_KERNEL_UNSET, nothing planned", async () => {
  const legacy = "default saved\ntimeout 5\ntitle new\n\tkernel /vmlinuz-2 root=/dev/sda1\ntitle old\n\tkernel /vmlinuz-1 root=/dev/sda1\n";
  for (const files of [{ "boot/grub/menu.lst": legacy }, { "etc/hostname": "h\n" }] as Record<string, string>[]) {
    const ctx = await context({ ...kernels("1", "2"), ...files });
    try {
      await assert.rejects(planDefaultKernel(ctx), (e: unknown) => e instanceof FixupError && e.code === CODES.DEFAULT_KERNEL_UNSET.code && /make 1, the newest kernel with the target's drivers, the default/.test(e.message));
    } finally {
      ctx.cleanup();
    }
  }
});
