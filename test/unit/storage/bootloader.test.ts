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
    // grub-mkconfig writes grub.cfg.new and renames it: a kill in between must not leave it behind
    assert.deepEqual(execs[0]!.action === "exec" && execs[0]!.produces, ["/boot/grub/grub.cfg", "/boot/grub/grub.cfg.new"]);
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

test("BIOS with the root (and /boot) on md RAID1 across two disks: grub-install on every member disk, each backed up", async () => {
  // the fstab names the array as the source did; here it assembled as md127, same file system UUID
  const devices = [
    dev("/dev/vda", undefined, undefined, "/dev/sdb"),
    dev("/dev/vdb", undefined, undefined, "/dev/sdc"),
    dev("/dev/vda1", "a1b2", "linux_raid_member", "/dev/sdb1"),
    dev("/dev/vdb1", "a1b2", "linux_raid_member", "/dev/sdc1"),
    { ...dev("/dev/md127", "f00d", "ext4", "/dev/md127"), members: ["/dev/vda1", "/dev/vdb1"] },
    { ...dev("/dev/md0", "f00d", "ext4"), from: "inventory" as const },
  ];
  const files = { "etc/os-release": "ID=debian\n", "etc/fstab": "/dev/md0 / ext4 errors=remount-ro 0 1\n", "etc/default/grub": "", "usr/sbin/grub-install": "", "usr/sbin/grub-mkconfig": "", "boot/grub/i386-pc/": "" };
  const disks = inputs({ disks: [{ source: "/dev/vda", unit: 0, boot: true }, { source: "/dev/vdb", unit: 1 }] });
  const ctx = await context(files, disks, devices);
  try {
    const p = await planBootloader(ctx);
    const installs = p.changes.filter((c) => c.action === "exec" && c.argv[0] === "grub-install");
    assert.deepEqual(installs.map((c) => c.action === "exec" && [c.argv.join(" "), c.bootArea]), [
      ["grub-install --target=i386-pc /dev/sdb", "/dev/sdb"],
      ["grub-install --target=i386-pc /dev/sdc", "/dev/sdc"],
    ]);
    assert.match(installs[1]!.reason, /md member disk at scsi0:1/);
    assert.deepEqual(p.warnings.filter((w) => /grub-install skipped/.test(w)), []);
  } finally {
    ctx.cleanup();
  }
  // a separate /boot on the array (UUID=), the second member's disk not attached: a warning names it
  const ctx2 = await context({ ...files, "etc/fstab": "UUID=f00d /boot ext4 defaults 0 2\nUUID=b / ext4 defaults 0 1\n" }, disks, devices.filter((d) => d.source !== "/dev/vdb"));
  try {
    const p = await planBootloader(ctx2);
    assert.deepEqual(p.changes.filter((c) => c.action === "exec" && c.argv[0] === "grub-install").map((c) => c.action === "exec" && c.argv.at(-1)), ["/dev/sdb"]);
    assert.ok(p.warnings.some((w) => /md member disk \/dev\/vdb \(scsi0:1\) is not attached.*grub-install skipped/.test(w)), p.warnings.join("\n"));
  } finally {
    ctx2.cleanup();
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
