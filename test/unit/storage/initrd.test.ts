import { test } from "node:test";
import assert from "node:assert/strict";
import { ITOOLS_TEMP_CONF, addToModulesFile, planInitrd } from "../../../src/initrd/plan.ts";
import { TARGET_NIC_DRIVERS, TARGET_STORAGE_DRIVERS, requiredModules } from "../../../src/initrd/drivers.ts";
import { FixupError } from "../../../src/protocol/codes.ts";
import { context, inputs } from "./ctx.ts";

const K = "5.14.0-362.8.1.el9_3.x86_64";
const dep = (mods: string[]) => mods.map((m) => `kernel/drivers/x/${m}.ko.xz:`).join("\n") + "\n";

test("the one driver list: PVSCSI, LSI, SATA, disks, NICs, plus the root's fs, LVM and md", () => {
  for (const m of ["vmw_pvscsi", "mptspi", "mptsas", "ahci", "sd_mod", "vmxnet3", "e1000e"]) assert.ok([...TARGET_STORAGE_DRIVERS, ...TARGET_NIC_DRIVERS].includes(m as never), m);
  assert.ok(requiredModules({ fsType: "xfs", lvm: true, md: false, crypt: false }).includes("xfs"));
  assert.ok(requiredModules({ fsType: "xfs", lvm: true, md: false, crypt: false }).includes("dm_mod"));
  assert.ok(requiredModules({ fsType: "ext4", lvm: false, md: true, crypt: false }).includes("raid1"));
});

test("dracut per kernel, no host-only, only the drivers the kernel has (RHEL 9 has no mptspi)", async () => {
  const ctx = await context({
    "etc/os-release": 'ID="rhel"\nVERSION_ID="9.3"\n',
    "etc/fstab": "/dev/mapper/rhel-root / xfs defaults 0 0\n",
    "usr/sbin/dracut": "",
    [`boot/vmlinuz-${K}`]: "",
    [`boot/initramfs-${K}.img`]: "old",
    [`lib/modules/${K}/modules.dep`]: dep(["vmw_pvscsi", "ahci", "sd_mod", "sr_mod", "vmxnet3", "e1000e", "xfs", "dm-mod"]),
  });
  try {
    const p = await planInitrd(ctx);
    const exec = p.changes.find((c) => c.action === "exec")!;
    assert.ok(exec.action === "exec");
    assert.deepEqual(exec.argv, ["dracut", "--force", "--no-hostonly", "--add-drivers", "vmw_pvscsi ahci sd_mod sr_mod vmxnet3 e1000e xfs dm_mod", `/boot/initramfs-${K}.img`, K]);
    assert.deepEqual(exec.produces, [`/boot/initramfs-${K}.img`]);
  } finally {
    ctx.cleanup();
  }
});

test("LSI Logic target on a kernel without mptspi: INITRD_FAILED before anything is built", async () => {
  const ctx = await context(
    { "etc/os-release": 'ID="rhel"\n', "etc/fstab": "UUID=1 / xfs defaults 0 0\n", "usr/sbin/dracut": "", [`boot/vmlinuz-${K}`]: "", [`lib/modules/${K}/modules.dep`]: dep(["vmw_pvscsi", "sd_mod"]) },
    inputs({ controller: "lsilogic" }),
  );
  try {
    await assert.rejects(planInitrd(ctx), (e: unknown) => e instanceof FixupError && e.codeName === "INITRD_FAILED" && /mptspi/.test(e.message));
  } finally {
    ctx.cleanup();
  }
});

test("no initramfs tool: INITRD_TOOL_MISSING", async () => {
  const ctx = await context({ "etc/os-release": "ID=debian\n", "etc/fstab": "UUID=1 / ext4 defaults 0 1\n", "boot/vmlinuz-6.1.0-18-amd64": "", "lib/modules/6.1.0-18-amd64/modules.dep": "" });
  try {
    await assert.rejects(planInitrd(ctx), (e: unknown) => e instanceof FixupError && e.codeName === "INITRD_TOOL_MISSING");
  } finally {
    ctx.cleanup();
  }
});

test("initramfs-tools with MODULES=dep: modules listed, built once with MODULES=most through a conf.d file removed after", async () => {
  const v = "6.1.0-18-amd64";
  const ctx = await context({
    "etc/os-release": "ID=debian\n",
    "etc/fstab": "/dev/vda1 / ext4 defaults 0 1\n",
    "usr/sbin/update-initramfs": "",
    "etc/initramfs-tools/initramfs.conf": "MODULES=dep\n",
    "etc/initramfs-tools/modules": "# modules\nsd_mod\n",
    [`boot/vmlinuz-${v}`]: "",
    [`boot/initrd.img-${v}`]: "old",
    [`lib/modules/${v}/modules.dep`]: dep(["vmw_pvscsi", "sd_mod", "vmxnet3", "ext4"]),
  });
  try {
    const p = await planInitrd(ctx);
    assert.deepEqual(p.changes.map((c) => (c.action === "exec" ? c.argv.join(" ") : `${c.action} ${c.path}`)), [
      "write /etc/initramfs-tools/modules",
      `write ${ITOOLS_TEMP_CONF}`,
      `update-initramfs -u -t -k ${v}`,
      `remove ${ITOOLS_TEMP_CONF}`,
    ]);
  } finally {
    ctx.cleanup();
  }
});

test("addToModulesFile appends the missing modules once, under one comment", () => {
  const once = addToModulesFile("# List of modules\nsd-mod\n", ["sd_mod", "vmw_pvscsi"]);
  assert.equal(once, "# List of modules\nsd-mod\n# osam-fixup: drivers of the VMware target hardware (disks, NICs) and of the root filesystem\nvmw_pvscsi\n");
  assert.equal(addToModulesFile(once, ["sd_mod", "vmw_pvscsi"]), once);
});

test("old mkinitrd: SLES 11 (-k/-i/-m and INITRD_MODULES) and RHEL 5 (--with=) syntax", async () => {
  const sv = "3.0.101-108.13-default";
  const sles = await context({
    "etc/SuSE-release": "SUSE Linux Enterprise Server 11 (x86_64)\nVERSION = 11\nPATCHLEVEL = 4\n",
    "etc/fstab": "/dev/sda2 / ext3 acl,user_xattr 1 1\n",
    "etc/sysconfig/kernel": '## Type:        string\n## Command:     /sbin/mkinitrd\n#\n# This variable contains the list of modules to be added to the initial\n# ramdisk by calling the script "mkinitrd"\n#\nINITRD_MODULES="processor thermal ata_piix ata_generic"\n',
    "sbin/mkinitrd": "",
    [`boot/vmlinuz-${sv}`]: "",
    [`boot/initrd-${sv}`]: "old",
    [`lib/modules/${sv}/modules.dep`]: dep(["vmw_pvscsi", "mptspi", "sd_mod", "vmxnet3", "ext3", "ext4", "jbd2"]),
  }, inputs({ disks: [{ source: "/dev/sda", unit: 0 }] }));
  try {
    const p = await planInitrd(sles);
    const w = p.changes[0]!;
    assert.ok(w.action === "write" && w.path === "/etc/sysconfig/kernel" && /INITRD_MODULES="processor thermal ata_piix ata_generic vmw_pvscsi mptspi sd_mod vmxnet3 ext4 ext3 jbd2"/.test(String(w.content)));
    const x = p.changes[1]!;
    assert.deepEqual(x.action === "exec" && x.argv, ["mkinitrd", "-k", `/boot/vmlinuz-${sv}`, "-i", `/boot/initrd-${sv}`, "-m", "vmw_pvscsi mptspi sd_mod vmxnet3 ext4 ext3 jbd2"]);
  } finally {
    sles.cleanup();
  }
  const rv = "2.6.18-419.el5";
  const rhel = await context({
    "etc/redhat-release": "Red Hat Enterprise Linux Server release 5.11 (Tikanga)\n",
    "etc/fstab": "LABEL=/ / ext3 defaults 1 1\n",
    "sbin/mkinitrd": "",
    [`boot/vmlinuz-${rv}`]: "",
    [`boot/initrd-${rv}.img`]: "old",
    [`lib/modules/${rv}/modules.dep`]: dep(["vmw_pvscsi", "mptspi", "sd_mod", "e1000", "ext3", "jbd"]),
  }, inputs({ disks: [{ source: "/dev/hda", unit: 0 }] }));
  try {
    const p = await planInitrd(rhel);
    const x = p.changes[0]!;
    assert.deepEqual(x.action === "exec" && x.argv, ["mkinitrd", "-f", "--with=vmw_pvscsi", "--with=mptspi", "--with=sd_mod", "--with=e1000", "--with=ext3", `/boot/initrd-${rv}.img`, rv]);
    assert.ok(p.warnings.some((w) => /no vmxnet3 driver/.test(w)));
  } finally {
    rhel.cleanup();
  }
});
