// Agent mode end to end on a real block device: the deb12-itools tree on a partitioned loop
// disk (as the replica disk would be in the fixup VM), found and mounted by openGuest, fixed
// by the storage steps with the guest's own update-initramfs, grub-install and grub-mkconfig,
// and unmounted again. update-grub writes kernel entries here because the root is /dev/loopNp1
// (10_linux only skips whole loop devices).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { execa } from "execa";
import { ensureRootfs } from "../../helpers/images.ts";
import { openGuest } from "../../../src/guest/mount.ts";
import { runStage1 } from "../../../src/agent/stage1.ts";
import { Logger } from "../../../src/util/log.ts";
import { Journal } from "../../../src/engine/journal.ts";
import { GuestRoot } from "../../../src/guest/guest-root.ts";
import { realDisks } from "../../../src/bootloader/boot-area.ts";
import { STORAGE_STEPS, assertRoot, initrdFiles, inputsFor } from "./helpers.ts";
import { LoopDisk, mountsUnder, scratch } from "./loop.ts";

test("deb12-itools on a loop disk: openGuest mounts it; fstab, grub.cfg by UUID; initramfs has vmw_pvscsi; close unmounts all", { timeout: 60 * 60_000 }, async () => {
  assertRoot();
  const rootfs = await ensureRootfs("deb12-itools");
  const dir = scratch("agent-disk-");
  const disk = await LoopDisk.create(join(dir, "disk.raw"), "3G", [{ size: "", type: "83", bootable: true }]);
  try {
    const t0 = Date.now();
    await execa("mkfs.ext4", ["-q", "-F", "-d", rootfs, disk.part(1)]);
    process.stderr.write(`agent-disk: mkfs.ext4 -d of the tree took ${Date.now() - t0} ms\n`);
    const uuid = (await execa("blkid", ["-p", "-s", "UUID", "-o", "value", disk.part(1)])).stdout.trim();
    const inputs = inputsFor({ disks: [{ source: "/dev/vda", unit: 0, device: disk.device, boot: true }], rebuildInitramfs: true });
    const log = new Logger({ keep: true });
    const mountBase = join(dir, "mnt");
    const t1 = Date.now();
    const g = await openGuest(inputs, log, { mountBase });
    let closed = false;
    try {
      assert.ok(g.devices.some((d) => d.source === "/dev/vda1" && d.target === disk.part(1) && d.uuid === uuid), `devices: ${JSON.stringify(g.devices)}`);
      const { result } = await runStage1({ root: g.root, inputs, mode: "apply", log, devices: g.devices, only: STORAGE_STEPS });
      process.stderr.write(`agent-disk: open + storage steps took ${Date.now() - t1} ms\n`);
      assert.equal(result.status, "succeeded", `${result.message}\n${log.lines.filter((l) => !l.startsWith("    |")).slice(-40).join("\n")}`);
      const fstab = readFileSync(join(g.root, "etc/fstab"), "utf8");
      assert.match(fstab, new RegExp(`^UUID=${uuid}\\s+/\\s`, "m"));
      const cfg = readFileSync(join(g.root, "boot/grub/grub.cfg"), "utf8");
      assert.match(cfg, /^\s*linux\s+\/boot\/vmlinuz-/m, "grub.cfg has no kernel entry");
      assert.match(cfg, new RegExp(`root=UUID=${uuid}`), "grub.cfg does not boot root by UUID");
      assert.doesNotMatch(cfg, /root=\/dev\//, "grub.cfg still names a device");
      const bl = result.steps.find((s) => s.name === "bootloader")!;
      assert.ok(bl.changes.some((c) => c.argv?.[0] === "grub-install" && c.argv.includes(disk.device)), `grub-install to ${disk.device} not run: ${JSON.stringify(bl)}`);
      const kver = result.steps.find((s) => s.name === "initrd")!.changes.find((c) => c.action === "exec")!.argv!.at(-1)!;
      const files = await initrdFiles(g.root, `/boot/initrd.img-${kver}`);
      assert.match(files, /vmw_pvscsi\.ko/);
      assert.match(files, /vmxnet3\.ko/);
      await g.close();
      closed = true;
      assert.deepEqual(mountsUnder(mountBase), [], "close() left mounts behind");
      // the boot sector now carries GRUB
      const mbr = realDisks.read(disk.device, [[0, 512]]);
      assert.ok(mbr.includes(Buffer.from("GRUB")), "no GRUB boot code in the MBR");
    } finally {
      if (!closed) await g.close();
    }
  } finally {
    await disk.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("GPT with a BIOS boot partition: grub-install embeds core.img there; rollback restores it and the MBR byte for byte", { timeout: 30 * 60_000 }, async () => {
  assertRoot();
  const rootfs = await ensureRootfs("deb12-itools");
  const dir = scratch("agent-gpt-");
  // the root first, so the guest's /dev/vda1 is still its root; the BIOS boot partition after
  const disk = await LoopDisk.create(join(dir, "disk.raw"), "3G", [
    { size: "2900M", type: "0FC63DAF-8483-4772-8E79-3D69D8477DE4" },
    { size: "1M", type: "21686148-6449-6E6F-744E-656564454649" },
  ], "gpt");
  try {
    await execa("mkfs.ext4", ["-q", "-F", "-d", rootfs, disk.part(1)]);
    const biosStart = Number(readFileSync(`/sys/class/block/${disk.part(2).slice(5)}/start`, "utf8").trim()) * 512;
    const area = () => {
      return realDisks.read(disk.device, [[0, 440], [biosStart, 1 << 20]]);
    };
    const before = area();
    const inputs = inputsFor({ disks: [{ source: "/dev/vda", unit: 0, device: disk.device, boot: true }], rebuildInitramfs: true });
    const log = new Logger({ keep: true });
    const g = await openGuest(inputs, log, { mountBase: join(dir, "mnt") });
    try {
      const { result } = await runStage1({ root: g.root, inputs, mode: "apply", log, devices: g.devices, only: ["preflight", "device-refs", "bootloader"] });
      assert.equal(result.status, "succeeded", `${result.message}\n${log.lines.filter((l) => !l.startsWith("    |")).slice(-30).join("\n")}`);
      const after = area();
      assert.ok(after.subarray(0, 440).includes(Buffer.from("GRUB")), "no GRUB boot code in the protective MBR");
      assert.ok(!after.subarray(440).equals(before.subarray(440)), "core.img was not embedded in the BIOS boot partition");
      const backup = readFileSync(join(g.root, `opt/vmware/hcx/osam/data/backup/@disks/${disk.device.slice(5)}.boot-area`));
      assert.ok(backup.equals(before), "the backup is not the MBR boot code plus the BIOS boot partition as they were");
      const rb = new Logger({ keep: true });
      const j = await Journal.read(new GuestRoot(g.root));
      await j.rollback(rb);
      assert.deepEqual(j.unrestored, []);
      assert.ok(area().equals(before), "rollback did not restore the boot code and the BIOS boot partition");
    } finally {
      await g.close();
    }
  } finally {
    await disk.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
});
