// Discovery and mounting on small loop disks: a root on LVM with a separate /boot named by
// UUID in fstab; several roots on one disk (ambiguous unless system-configuration names one);
// a btrfs root in a subvolume; an xfs root with a dirty log, looked at before BEGIN without
// replaying it; a look before BEGIN that missed the root. The LVM and btrfs cases check the
// /dev/disk/by-uuid link itself, made while the guest is open and gone after close().
// No chroot: these check what openGuest finds, mounts and undoes.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, lstatSync, mkdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { execa } from "execa";
import { openGuest } from "../../../src/guest/mount.ts";
import { LookAhead, lookAhead } from "../../../src/guest/look-ahead.ts";
import { FixupError } from "../../../src/protocol/codes.ts";
import { Logger } from "../../../src/util/log.ts";
import { assertRoot, inputsFor } from "./helpers.ts";
import { LoopDisk, mountsUnder, scratch } from "./loop.ts";

/** Writes a minimal OS tree (etc, usr, os-release, fstab) onto a filesystem device. */
async function populate(dev: string, dir: string, fstab: string, extra: Record<string, string> = {}): Promise<void> {
  const m = join(dir, "populate");
  mkdirSync(m, { recursive: true });
  await execa("mount", [dev, m]);
  try {
    for (const d of ["etc", "usr/bin", "boot", "var", "dev", "proc", "sys", "run"]) mkdirSync(join(m, d), { recursive: true });
    writeFileSync(join(m, "etc/os-release"), 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n');
    writeFileSync(join(m, "etc/fstab"), fstab);
    for (const [p, t] of Object.entries(extra)) {
      mkdirSync(join(m, p, ".."), { recursive: true });
      writeFileSync(join(m, p), t);
    }
  } finally {
    await execa("umount", [m]);
  }
}

async function uuidOf(dev: string): Promise<string> {
  return (await execa("blkid", ["-p", "-s", "UUID", "-o", "value", dev])).stdout.trim();
}

/**
 * The /dev/disk/by-uuid link of a replica device, which grub-mkconfig needs: while the guest is
 * open it points at the device (made by udev, or by openGuest where no udev runs); after
 * close() it is there exactly when it was before (openGuest removes only the links it made).
 */
async function byUuidLink(uuid: string, dev: string): Promise<{ whileOpen: () => void; afterClose: () => void }> {
  // where udev runs, its links for the new devices come asynchronously: let it finish first
  if (existsSync("/run/udev/control")) await execa("udevadm", ["settle", "--timeout=30"], { reject: false });
  const link = `/dev/disk/by-uuid/${uuid}`;
  const present = () => lstatSync(link, { throwIfNoEntry: false }) !== undefined;
  const before = present();
  return {
    whileOpen: () => {
      assert.ok(existsSync(link), `no ${link} while the guest is open`);
      assert.equal(realpathSync(link), realpathSync(dev), `${link} does not lead to ${dev}`);
    },
    afterClose: () => assert.equal(present(), before, before ? `close() removed ${link}, which it did not make` : `close() left ${link}`),
  };
}

test("LVM root with /boot by UUID: found, mounted in order, by-uuid links made, all undone by close()", { timeout: 10 * 60_000 }, async (t) => {
  assertRoot();
  // LVM needs the kernel's device-mapper. This workplace's kernel has none, so here the test
  // is reported as skipped (not passed); LVM activation is exercised for real by the e2e
  // migration of deb12-dracut-lvm, whose fixup VM runs a Debian kernel.
  const dm = await execa("dmsetup", ["version"], { reject: false });
  if (dm.exitCode !== 0) {
    t.skip(`no device-mapper in this kernel (CONFIG_BLK_DEV_DM): ${(dm.all ?? dm.stderr).split("\n")[0]}`);
    return;
  }
  const dir = scratch("discover-lvm-");
  const vg = `osamit${process.pid}`;
  const disk = await LoopDisk.create(join(dir, "disk.raw"), "256M", [{ size: "64M", type: "83" }, { size: "", type: "8e" }]);
  try {
    await execa("mkfs.ext4", ["-q", "-F", disk.part(1)]);
    await execa("pvcreate", ["-q", "-y", disk.part(2)]);
    await execa("vgcreate", ["-q", vg, disk.part(2)]);
    await execa("lvcreate", ["-q", "-y", "-n", "root", "-L", "100M", vg]);
    await execa("vgmknodes", [vg]);
    const lv = `/dev/mapper/${vg}-root`;
    await execa("mkfs.ext4", ["-q", "-F", lv]);
    const bootUuid = await uuidOf(disk.part(1));
    await populate(disk.part(1), dir, "", { "grub/marker": "boot partition\n" });
    await populate(lv, dir, `${lv} / ext4 errors=remount-ro 0 1\nUUID=${bootUuid} /boot ext4 defaults 0 2\n/dev/vdb1 /srv ext4 defaults 0 2\n`);
    await execa("vgchange", ["-an", vg]);

    const inputs = inputsFor({ disks: [{ source: "/dev/vda", unit: 0, device: disk.device, boot: true }] });
    const log = new Logger({ keep: true });
    const mountBase = join(dir, "mnt");
    const bootLink = await byUuidLink(bootUuid, disk.part(1));
    const t0 = Date.now();
    const g = await openGuest(inputs, log, { mountBase, noBinds: true });
    try {
      process.stderr.write(`discover-lvm: openGuest took ${Date.now() - t0} ms\n`);
      assert.equal(readFileSync(join(g.root, "boot/grub/marker"), "utf8"), "boot partition\n", "/boot not mounted from the UUID in fstab");
      const rootDev = g.devices.find((d) => d.source === lv);
      assert.ok(rootDev?.uuid, `no blkid facts for ${lv}: ${JSON.stringify(g.devices)}`);
      assert.ok(g.devices.some((d) => d.source === "/dev/vda1" && d.uuid === bootUuid && d.target === disk.part(1)));
      bootLink.whileOpen();
    } finally {
      await g.close();
    }
    assert.deepEqual(mountsUnder(mountBase), []);
    const active = (await execa("lvs", ["--noheadings", "-o", "lv_active", `${vg}/root`], { reject: false })).stdout.trim();
    assert.notEqual(active, "active", "close() left the guest's volume group active");
    bootLink.afterClose();
  } finally {
    await execa("vgchange", ["-an", vg], { reject: false });
    await execa("vgremove", ["-q", "-f", vg], { reject: false });
    await disk.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("two roots on the boot disk: GUEST_AMBIGUOUS_ROOT, unless source.root names one", { timeout: 10 * 60_000 }, async () => {
  assertRoot();
  const dir = scratch("discover-ambig-");
  const disk = await LoopDisk.create(join(dir, "disk.raw"), "160M", [{ size: "64M", type: "83" }, { size: "", type: "83" }]);
  try {
    for (const n of [1, 2]) {
      await execa("mkfs.ext4", ["-q", "-F", disk.part(n)]);
      await populate(disk.part(n), dir, `/dev/vda${n} / ext4 defaults 0 1\n`, { "etc/hostname": `root${n}\n` });
    }
    const mountBase = join(dir, "mnt");
    const disks = [{ source: "/dev/vda", unit: 0, device: disk.device, boot: true }];
    await assert.rejects(openGuest(inputsFor({ disks }), new Logger({ keep: true }), { mountBase, noBinds: true }), (e: unknown) => e instanceof FixupError && e.codeName === "GUEST_AMBIGUOUS_ROOT" && /\/dev\/vda1/.test(e.message) && /\/dev\/vda2/.test(e.message));
    assert.deepEqual(mountsUnder(mountBase), [], "a failed open left mounts behind");
    const want = await uuidOf(disk.part(2));
    const g = await openGuest(inputsFor({ disks, root: `UUID=${want}` }), new Logger({ keep: true }), { mountBase, noBinds: true });
    try {
      assert.equal(readFileSync(join(g.root, "etc/hostname"), "utf8"), "root2\n");
    } finally {
      await g.close();
    }
    assert.deepEqual(mountsUnder(mountBase), []);
  } finally {
    await disk.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("btrfs root in subvolume @ with /var in @var (as fstab says): both mounted", { timeout: 10 * 60_000 }, async () => {
  assertRoot();
  const dir = scratch("discover-btrfs-");
  const disk = await LoopDisk.create(join(dir, "disk.raw"), "300M", [{ size: "", type: "83" }]);
  try {
    await execa("mkfs.btrfs", ["-q", "-f", disk.part(1)]);
    const uuid = await uuidOf(disk.part(1));
    const top = join(dir, "top");
    mkdirSync(top);
    await execa("mount", [disk.part(1), top]);
    try {
      await execa("btrfs", ["-q", "subvolume", "create", join(top, "@")]);
      await execa("btrfs", ["-q", "subvolume", "create", join(top, "@var")]);
      for (const d of ["etc", "usr", "var", "boot"]) mkdirSync(join(top, "@", d));
      writeFileSync(join(top, "@/etc/os-release"), 'PRETTY_NAME="Ubuntu 22.04.4 LTS"\nID=ubuntu\nVERSION_ID="22.04"\n');
      writeFileSync(join(top, "@/etc/fstab"), `UUID=${uuid} / btrfs defaults,subvol=@ 0 1\nUUID=${uuid} /var btrfs defaults,subvol=@var 0 2\n`);
      writeFileSync(join(top, "@var/marker"), "var subvolume\n");
    } finally {
      await execa("umount", [top]);
    }
    const mountBase = join(dir, "mnt");
    const rootLink = await byUuidLink(uuid, disk.part(1));
    const g = await openGuest(inputsFor({ disks: [{ source: "/dev/vda", unit: 0, device: disk.device, boot: true }] }), new Logger({ keep: true }), { mountBase, noBinds: true });
    try {
      assert.ok(existsSync(join(g.root, "etc/os-release")), "root is not the @ subvolume");
      assert.equal(readFileSync(join(g.root, "var/marker"), "utf8"), "var subvolume\n", "/var is not the @var subvolume");
      rootLink.whileOpen();
    } finally {
      await g.close();
    }
    assert.deepEqual(mountsUnder(mountBase), []);
    rootLink.afterClose();
  } finally {
    await disk.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("xfs root with a dirty log (crash-consistent replica): mounting replays it, the last write is there", { timeout: 10 * 60_000 }, async () => {
  assertRoot();
  const dir = scratch("discover-xfs-");
  const disk = await LoopDisk.create(join(dir, "disk.raw"), "400M", [{ size: "", type: "83" }]);
  try {
    await execa("mkfs.xfs", ["-q", "-f", disk.part(1)]);
    await populate(disk.part(1), dir, "/dev/vda1 / xfs defaults 0 0\n");
    const m = join(dir, "crash");
    mkdirSync(m);
    await execa("mount", [disk.part(1), m]);
    writeFileSync(join(m, "etc/last-write"), "committed to the log only\n");
    // data and its metadata reach the log; the metadata is not written back in place yet
    await execa("xfs_io", ["-c", "fsync", join(m, "etc/last-write")]);
    // flush the log, then stop the filesystem as a power cut would: the log stays dirty
    await execa("xfs_io", ["-x", "-c", "shutdown -f", m]);
    await execa("umount", [m]);
    const dirty = await execa("xfs_repair", ["-n", disk.part(1)], { reject: false });
    assert.notEqual(dirty.exitCode, 0, "the log should be dirty before the guest is opened");
    const mountBase = join(dir, "mnt");
    // before BEGIN: seen read-only, the log left as it is (nothing written to the replica)
    const sum = async () => (await execa("sha256sum", [disk.part(1)])).stdout.split(" ")[0];
    const before = await sum();
    const ahead = await lookAhead(new Logger({ keep: true }), { devices: [disk.device, disk.part(1)], mountBase });
    assert.equal(await sum(), before, "the look before BEGIN wrote to the replica");
    assert.notEqual((await execa("xfs_repair", ["-n", disk.part(1)], { reject: false })).exitCode, 0, "the look before BEGIN replayed the log");
    assert.equal(ahead.entry(disk.part(1))?.type, "xfs");
    assert.equal(ahead.root(disk.part(1))?.os, "Debian GNU/Linux 12 (bookworm)");
    const log = new Logger({ keep: true });
    const g = await openGuest(inputsFor({ disks: [{ source: "/dev/vda", unit: 0, device: disk.device, boot: true }] }), log, { mountBase, noBinds: true, ahead });
    try {
      assert.equal(readFileSync(join(g.root, "etc/last-write"), "utf8"), "committed to the log only\n");
      assert.ok(log.lines.some((l) => /blkid: 2 of 2 device\(s\) as seen before BEGIN/.test(l)), log.lines.join("\n"));
      assert.ok(log.lines.some((l) => /root probe: 1 of 1 filesystem\(s\) as seen before BEGIN/.test(l)), log.lines.join("\n"));
      assert.ok(!log.lines.some((l) => /host: mount -t xfs -o ro /.test(l)), "probed again after BEGIN");
    } finally {
      await g.close();
    }
    const clean = await execa("xfs_repair", ["-n", disk.part(1)], { reject: false });
    assert.equal(clean.exitCode, 0, `the log is still dirty after open/close: ${clean.stderr}`);
  } finally {
    await disk.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a look before BEGIN that saw no root (a stale view): the filesystems are looked at again, and the root is found", { timeout: 10 * 60_000 }, async () => {
  assertRoot();
  const dir = scratch("discover-ahead-");
  const disk = await LoopDisk.create(join(dir, "disk.raw"), "200M", [{ size: "", type: "83" }]);
  try {
    await execa("mkfs.ext4", ["-q", "-F", disk.part(1)]);
    await populate(disk.part(1), dir, "/dev/vda1 / ext4 defaults 0 1\n");
    const mountBase = join(dir, "mnt");
    const ahead = await lookAhead(new Logger({ keep: true }), { devices: [disk.device, disk.part(1)], mountBase });
    assert.ok(ahead.root(disk.part(1)), "the look before BEGIN found no root");
    // as if the filesystem had shown no OS without its journal: kept as seen, but no root
    const stale = new LookAhead("/sys");
    stale.keep(disk.device, ahead.entry(disk.device) ?? null);
    stale.keep(disk.part(1), ahead.entry(disk.part(1)) ?? null);
    stale.keepRoot(disk.part(1), null);
    const log = new Logger({ keep: true });
    const g = await openGuest(inputsFor({ disks: [{ source: "/dev/vda", unit: 0, device: disk.device, boot: true }] }), log, { mountBase, noBinds: true, ahead: stale });
    try {
      assert.ok(log.lines.some((l) => /no root among the 1 filesystem\(s\) seen before BEGIN: looking again/.test(l)), log.lines.join("\n"));
      assert.ok(readFileSync(join(g.root, "etc/os-release"), "utf8").includes("bookworm"));
    } finally {
      await g.close();
    }
    assert.deepEqual(mountsUnder(mountBase), []);
  } finally {
    await disk.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
});
