import { test } from "node:test";
import assert from "node:assert/strict";
import { planBootloader } from "../../../src/bootloader/grub.ts";
import { editCmdline, planKernelArgs } from "../../../src/bootloader/cmdline.ts";
import { quote } from "../../../src/formats/shell-vars.ts";
import { context, dev, inputs } from "./ctx.ts";

test("UEFI without shim: BOOTX64.EFI is a copy of grubx64.efi; grub.cfg regenerated and checked for linux16", async () => {
  const ctx = await context(
    {
      "etc/os-release": "ID=debian\n",
      "etc/fstab": "UUID=a / ext4 defaults 0 1\nUUID=B-C /boot/efi vfat umask=0077 0 1\n",
      "etc/default/grub": "GRUB_CMDLINE_LINUX=\"\"\n",
      "usr/sbin/grub-mkconfig": "",
      "boot/grub/grub.cfg": "### BEGIN /etc/grub.d/10_linux ###\n",
      "boot/efi/EFI/debian/grubx64.efi": Buffer.from("MZ grub"),
    },
    inputs({ firmware: "uefi" }),
  );
  try {
    const p = await planBootloader(ctx);
    const w = p.changes.find((c) => c.action === "write")!;
    assert.ok(w.action === "write" && w.path === "/boot/efi/EFI/BOOT/BOOTX64.EFI" && Buffer.from(w.content).equals(Buffer.from("MZ grub")));
    const execs = p.changes.filter((c) => c.action === "exec");
    assert.deepEqual(execs[0]!.action === "exec" && execs[0]!.argv, ["grub-mkconfig", "-o", "/boot/grub/grub.cfg"]);
    assert.deepEqual(execs[0]!.action === "exec" && execs[0]!.env, { GRUB_DISABLE_OS_PROBER: "true" });
    assert.ok(execs[1]!.action === "exec" && execs[1]!.argv[0] === "/bin/sh" && /linux16/.test(execs[1]!.argv[2]!));
  } finally {
    ctx.cleanup();
  }
});

test("BIOS without the boot disk attached (plan, --root): grub-install skipped with a warning, never guessed", async () => {
  const ctx = await context({ "etc/os-release": "ID=debian\n", "etc/fstab": "UUID=a / ext4 defaults 0 1\n", "etc/default/grub": "", "usr/sbin/grub-install": "", "usr/sbin/grub-mkconfig": "", "boot/grub/i386-pc/": "" }, inputs(), [{ ...dev("/dev/vda1", "a"), from: "inventory" }]);
  try {
    const p = await planBootloader(ctx);
    assert.ok(!p.changes.some((c) => c.action === "exec" && c.argv[0] === "grub-install"));
    assert.ok(p.warnings.some((w) => /grub-install skipped/.test(w)));
  } finally {
    ctx.cleanup();
  }
});

test("BIOS with the boot disk attached: grub-install to its device in the fixup VM", async () => {
  const ctx = await context({ "etc/os-release": "ID=debian\n", "etc/fstab": "UUID=a / ext4 defaults 0 1\n", "etc/default/grub": "", "usr/sbin/grub-install": "", "usr/sbin/grub-mkconfig": "", "boot/grub/i386-pc/": "" }, inputs(), [dev("/dev/vda", undefined, undefined, "/dev/sdc")]);
  try {
    const p = await planBootloader(ctx);
    assert.ok(p.changes.some((c) => c.action === "exec" && c.argv.join(" ") === "grub-install --target=i386-pc /dev/sdc"));
  } finally {
    ctx.cleanup();
  }
});

test("GRUB legacy: nothing run, a note that the config was edited in place", async () => {
  const ctx = await context({ "etc/redhat-release": "CentOS release 6.10 (Final)\n", "etc/fstab": "UUID=a / ext4 defaults 1 1\n", "boot/grub/grub.conf": "title CentOS\n\tkernel /vmlinuz ro root=UUID=a\n" });
  try {
    const p = await planBootloader(ctx);
    assert.deepEqual(p.changes, []);
    assert.match(p.warnings[0]!, /GRUB legacy/);
  } finally {
    ctx.cleanup();
  }
});

test("editCmdline returns the line untouched when nothing changes (no whitespace churn)", () => {
  const l = "ro  quiet splash";
  assert.equal(editCmdline(l, { map: () => undefined }), l);
});

test("planKernelArgs: a map-only edit adds no empty GRUB_CMDLINE_LINUX; grub.d drop-ins edited in place; $VAR references survive", async () => {
  const ctx = await context({
    "etc/default/grub": 'GRUB_CMDLINE_LINUX_DEFAULT="quiet resume=/dev/vda2"\n',
    "etc/default/grub.d/50-cloudimg-settings.cfg": 'GRUB_CMDLINE_LINUX_DEFAULT="$GRUB_CMDLINE_LINUX_DEFAULT resume=/dev/vda2"\n',
  });
  try {
    const edit = { map: (k: string, v: string | null) => (k === "resume" && v === "/dev/vda2" ? "UUID=9" : undefined) };
    const ch = await planKernelArgs(ctx.view, edit, "t");
    const byPath = Object.fromEntries(ch.map((c) => [c.action === "write" ? c.path : "", c.action === "write" ? String(c.content) : ""]));
    assert.equal(byPath["/etc/default/grub"], 'GRUB_CMDLINE_LINUX_DEFAULT="quiet resume=UUID=9"\n');
    assert.equal(byPath["/etc/default/grub.d/50-cloudimg-settings.cfg"], 'GRUB_CMDLINE_LINUX_DEFAULT="$GRUB_CMDLINE_LINUX_DEFAULT resume=UUID=9"\n');
  } finally {
    ctx.cleanup();
  }
  assert.equal(quote("a $HOME b"), '"a $HOME b"');
  assert.equal(quote("cost $5"), '"cost \\$5"');
});
