import { test } from "node:test";
import assert from "node:assert/strict";
import { DeviceResolver, editDeviceMap, editGrubCfg, planDeviceRefs, replaceField } from "../../../src/fixups/device-refs.ts";
import type { Change } from "../../../src/engine/changes.ts";
import { FixupError } from "../../../src/protocol/codes.ts";
import { context, dev, inputs } from "./ctx.ts";

const written = (changes: Change[], path: string) => {
  const c = changes.find((x) => x.action === "write" && x.path === path);
  return c && c.action === "write" ? String(c.content) : undefined;
};

test("resolver: UUID where blkid knows one; the target name by unit order where not; unmigrated; stable left alone", () => {
  // the source used sdX in another order: /dev/sdb was the boot disk and sits at scsi0:0 now
  const r = new DeviceResolver(inputs({ disks: [{ source: "/dev/sdb", unit: 0 }, { source: "/dev/sda", unit: 1 }] }), [dev("/dev/sdb1", "1111-aaaa")]);
  assert.deepEqual(r.resolve("/dev/sdb1"), { kind: "uuid", value: "UUID=1111-aaaa" });
  assert.deepEqual(r.resolve("/dev/sda2"), { kind: "name", value: "/dev/sdb2", why: "no UUID is known for /dev/sda2" });
  assert.deepEqual(r.resolve("/dev/sdb"), { kind: "name", value: "/dev/sda", why: "no UUID is known for /dev/sdb" });
  assert.deepEqual(r.resolve("/dev/sdc1"), { kind: "unmigrated" });
  for (const s of ["UUID=x", "LABEL=root", "PARTUUID=ab-01", "/dev/mapper/vg-root", "/dev/vg/root", "/dev/disk/by-uuid/1111-aaaa", "/dev/disk/by-id/dm-name-vg-root", "/dev/md0"]) assert.deepEqual(r.resolve(s), { kind: "stable" });
  // the source's hardware (issue 12): traced by serial or role, else unresolved (hardware-names.test.ts)
  assert.equal(r.resolve("/dev/disk/by-id/x").kind, "unresolved");
});

test("fstab: device names to UUID, nofail on NFS/CIFS and unmigrated disks with warnings, stable specs and comments untouched", async () => {
  const fstab = `# <file system> <mount point> <type> <options> <dump> <pass>
/dev/vda1 / ext4 errors=remount-ro 0 1
LABEL=boot /boot ext4 defaults 0 2
/dev/vdb1 /srv xfs defaults 0 0
//fs.example.com/share /mnt/share cifs credentials=/root/.smb 0 0
nfs:/export /mnt/nfs nfs defaults,nofail 0 0
proc /proc proc defaults 0 0
/dev/disk/by-id/virtio-abc-part1 /data ext4 defaults 0 2
`;
  const ctx = await context({ "etc/fstab": fstab }, inputs(), [dev("/dev/vda1", "8c2b5f7e-3a9d-4c16-b0e4-d7f1a6c3e952", "ext4"), { ...dev("/dev/vda2", "2222", "ext4"), label: "boot" }]);
  try {
    const p = await planDeviceRefs(ctx);
    const t = written(p.changes, "/etc/fstab")!;
    assert.match(t, /^# <file system>/);
    assert.match(t, /^UUID=8c2b5f7e-3a9d-4c16-b0e4-d7f1a6c3e952 \/ +ext4/m);
    assert.match(t, /^LABEL=boot \/boot ext4 defaults 0 2$/m);
    assert.match(t, /^\/dev\/vdb1 +\/srv +xfs +defaults,nofail/m);
    assert.match(t, /cifs +credentials=\/root\/\.smb,nofail/);
    assert.match(t, /^nfs:\/export \/mnt\/nfs nfs defaults,nofail 0 0$/m, "already nofail: unchanged");
    assert.match(t, /^proc \/proc proc defaults 0 0$/m);
    assert.ok(p.warnings.some((w) => /\/srv is on \/dev\/vdb1, which is not among the replica disks/.test(w)));
    assert.ok(p.warnings.some((w) => /network filesystem/.test(w) && /share/.test(w)));
    assert.match(t, /^\/dev\/disk\/by-id\/virtio-abc-part1 \/data ext4 defaults,nofail 0 2$/m, "untraceable and not needed to boot: nofail");
    assert.ok(p.warnings.some((w) => /\/etc\/fstab:8: \/data: \/dev\/disk\/by-id\/virtio-abc-part1 names the source's hardware.*marked nofail/.test(w)));
  } finally {
    ctx.cleanup();
  }
});

test("a root on a device that is not replicated is fatal (FSTAB_FAILED); so is root= naming one", async () => {
  const a = await context({ "etc/fstab": "/dev/vdc1 / ext4 defaults 0 1\n" });
  try {
    await assert.rejects(planDeviceRefs(a), (e: unknown) => e instanceof FixupError && e.codeName === "FSTAB_FAILED");
  } finally {
    a.cleanup();
  }
  const b = await context({ "etc/fstab": "UUID=1 / ext4 defaults 0 1\n", "etc/default/grub": 'GRUB_CMDLINE_LINUX="root=/dev/xvdf1 ro"\n' });
  try {
    await assert.rejects(planDeviceRefs(b), (e: unknown) => e instanceof FixupError && e.codeName === "FSTAB_FAILED" && /root=\/dev\/xvdf1/.test(e.message));
  } finally {
    b.cleanup();
  }
});

test("crypttab source, initramfs-tools resume, device.map, grub.cfg kernel lines", async () => {
  const ctx = await context(
    {
      "etc/fstab": "/dev/mapper/cryptroot / ext4 defaults 0 1\n",
      "etc/crypttab": "# <target name>\t<source device>\t\t<key file>\t<options>\ncryptroot\t/dev/vda2\tnone\t\tluks,discard\ncrypthome UUID=abcd none luks\n",
      "etc/initramfs-tools/conf.d/resume": "RESUME=/dev/vda3\n",
      "boot/grub/device.map": "(hd0)\t/dev/vda\n(hd1)\t/dev/vdz\n",
      "boot/grub/grub.cfg": "### BEGIN /etc/grub.d/10_linux ###\n\tlinux\t/vmlinuz root=/dev/mapper/cryptroot ro resume=/dev/vda3 quiet\n",
    },
    inputs(),
    [dev("/dev/vda2", "5555-luks", "crypto_LUKS"), dev("/dev/vda3", "6666-swap", "swap")],
  );
  try {
    const p = await planDeviceRefs(ctx);
    assert.equal(written(p.changes, "/etc/crypttab"), "# <target name>\t<source device>\t\t<key file>\t<options>\ncryptroot\tUUID=5555-luks\tnone\t\tluks,discard\ncrypthome UUID=abcd none luks\n");
    assert.equal(written(p.changes, "/etc/initramfs-tools/conf.d/resume"), "RESUME=UUID=6666-swap\n");
    assert.equal(written(p.changes, "/boot/grub/device.map"), "(hd0)\t/dev/sda\n(hd1)\t/dev/vdz\n");
    assert.equal(written(p.changes, "/boot/grub/grub.cfg"), "### BEGIN /etc/grub.d/10_linux ###\n\tlinux\t/vmlinuz root=/dev/mapper/cryptroot ro resume=UUID=6666-swap quiet\n");
  } finally {
    ctx.cleanup();
  }
});

test("editGrubCfg leaves lines without a source device as they were; replaceField keeps spacing", () => {
  const cfg = "\tlinux16 /vmlinuz root=UUID=x ro  quiet\n\tinitrd16 /initramfs.img\n";
  assert.equal(editGrubCfg(cfg, { map: () => undefined }), cfg);
  assert.equal(replaceField("a\t b   c", 1, "X"), "a\t X   c");
});

test("device.map maps by the target's unit order", () => {
  const m = editDeviceMap("(hd0) /dev/vdb\n(hd1) /dev/vda\n", new DeviceResolver(inputs({ disks: [{ source: "/dev/vda", unit: 1 }, { source: "/dev/vdb", unit: 0 }] }), []));
  assert.equal(m, "(hd0) /dev/sda\n(hd1) /dev/sdb\n");
});

test("nothing to change: no changes (UUID fstab, no device names anywhere)", async () => {
  const ctx = await context({ "etc/fstab": "UUID=8c2b / ext4 defaults 0 1\n", "etc/default/grub": 'GRUB_CMDLINE_LINUX_DEFAULT="quiet"\nGRUB_CMDLINE_LINUX=""\n' });
  try {
    const p = await planDeviceRefs(ctx);
    assert.deepEqual(p.changes, []);
  } finally {
    ctx.cleanup();
  }
});
