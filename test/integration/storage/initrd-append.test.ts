// An initramfs-tools image that lacks the VMware drivers, completed by one more archive
// (initrd/append.ts) on a real Debian 12 tree: the guest's own mkinitramfs builds an image with
// only the source's virtio drivers (MODULES=list, as a host-only image on KVM has), the guest is
// configured MODULES=dep, and the initrd step must add the drivers without running any tool
// of the guest. The result is unpacked as the kernel would (archives in order, a later file
// replacing an earlier one) and kmod's modprobe resolves, from the unpacked tree alone, the
// PVSCSI and vmxnet3 PCI IDs to their modules and the modules to files that are there. The
// e2e migration boots such an image (deb12-itools).
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { execa } from "execa";
import { ensureRootfs, withOverlay } from "../../helpers/images.ts";
import { bindChrootDirs } from "../../../src/guest/binds.ts";
import { readInitramfs } from "../../../src/initrd/image.ts";
import { applyStorage, assertRoot, fakeDevices, inputsFor } from "./helpers.ts";
import { scratch } from "./loop.ts";

/** The image unpacked into dir as the kernel unpacks it: every archive in order, later entries replacing earlier ones. */
async function unpack(image: Buffer, dir: string): Promise<void> {
  const img = await readInitramfs(image, () => true, { maxFile: 256 << 20 });
  for (const [name, e] of img.entries) {
    if (!name) continue;
    const at = join(dir, name);
    mkdirSync(dirname(at), { recursive: true });
    if (e.kind === "dir") mkdirSync(at, { recursive: true });
    else if (e.kind === "symlink") symlinkSync(img.links.get(name)!, at);
    else if (e.kind === "file") writeFileSync(at, img.files.get(name)!);
  }
}

test("deb12: an image with only the source's virtio drivers is completed by an archive; modprobe finds PVSCSI and vmxnet3 in it", { timeout: 30 * 60_000 }, async () => {
  assertRoot();
  const rootfs = await ensureRootfs("deb12-itools");
  await withOverlay(rootfs, async (root) => {
    const kver = readdirSync(join(root, "lib/modules"))[0]!;
    const image = `/boot/initrd.img-${kver}`;
    // the source's image: the guest's own mkinitramfs with the virtio drivers alone
    writeFileSync(join(root, "etc/initramfs-tools/conf.d/zz-source"), "MODULES=list\n");
    writeFileSync(join(root, "etc/initramfs-tools/modules"), "virtio_pci\nvirtio_blk\nvirtio_net\next4\n");
    const release = await bindChrootDirs(root);
    try {
      const t0 = Date.now();
      await execa("chroot", [root, "mkinitramfs", "-o", image, kver], { timeout: 20 * 60_000 });
      const built = Date.now() - t0;
      rmSync(join(root, "etc/initramfs-tools/conf.d/zz-source"));
      writeFileSync(join(root, "etc/initramfs-tools/modules"), "# none\n");
      writeFileSync(join(root, "etc/initramfs-tools/initramfs.conf"), readFileSync(join(root, "etc/initramfs-tools/initramfs.conf"), "utf8").replace(/^MODULES=.*$/m, "MODULES=dep"));
      const before = readFileSync(join(root, image));
      const source = await readInitramfs(before, () => false);
      assert.ok(![...source.entries.keys()].some((n) => /vmw_pvscsi|vmxnet3/.test(n)), "the source image already has the drivers");

      const t1 = Date.now();
      const { result, log } = await applyStorage(root, inputsFor(), fakeDevices([{ source: "/dev/vda1", uuid: "00000001-4d2c-4b1a-9e3f-5a6b7c8d9e0f", fsType: "ext4" }]), ["preflight", "device-refs", "initrd"]);
      const ms = Date.now() - t1;
      assert.equal(result.status, "succeeded", `${result.message}\n${log.lines.slice(-30).join("\n")}`);
      const step = result.steps.find((s) => s.name === "initrd")!;
      assert.deepEqual(step.changes.filter((c) => c.action === "exec"), [], "no tool ran");
      assert.ok(step.changes.some((c) => c.action === "write" && c.path === image), `${image} was not written`);
      assert.match(step.notes?.join("\n") ?? "", /completed by one more archive instead of a rebuild: \d+ module\(s\) \([^)]*vmw_pvscsi[^)]*\)/);
      process.stderr.write(`initrd-append: mkinitramfs of the source image ${built} ms; the storage steps with the archive added ${ms} ms\n`);

      const after = readFileSync(join(root, image));
      assert.ok(after.subarray(0, before.length).equals(before), "the source image is kept byte for byte at the front");
      const dir = scratch("initrd-append-");
      try {
        await unpack(after, dir);
        const modprobe = (...args: string[]) => execa("modprobe", ["-d", dir, "-S", kver, ...args], { reject: false });
        for (const [alias, module] of [
          ["pci:v000015ADd000007C0sv000015ADsd000007C0bc01sc00i00", "vmw_pvscsi"],
          ["pci:v000015ADd000007B0sv000015ADsd000007B0bc02sc00i00", "vmxnet3"],
          ["scsi:t-0x00", "sd_mod"],
        ]) {
          const r = await modprobe("-R", alias!);
          assert.equal(r.exitCode, 0, `${alias}: ${r.stderr}`);
          assert.ok(r.stdout.split("\n").includes(module!), `${alias} resolves to ${r.stdout.trim()}, not ${module}`);
        }
        const deps = await modprobe("--show-depends", "vmw_pvscsi");
        assert.equal(deps.exitCode, 0, deps.stderr);
        const files = deps.stdout.split("\n").filter((l) => l.startsWith("insmod ")).map((l) => l.split(" ")[1]!);
        assert.ok(files.some((f) => f.endsWith("/vmw_pvscsi.ko")) && files.some((f) => f.endsWith("/scsi_mod.ko")), deps.stdout);
        for (const f of files) assert.ok(readFileSync(f).subarray(0, 4).equals(Buffer.from("\x7fELF", "latin1")), `${f} is not in the unpacked image`);
        // what init loads first, and the virtio drivers of the source still there
        assert.match(readFileSync(join(dir, "conf/modules"), "utf8"), /^vmw_pvscsi$/m);
        assert.equal((await modprobe("--show-depends", "virtio_blk")).exitCode, 0);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    } finally {
      await release();
    }
  });
});
