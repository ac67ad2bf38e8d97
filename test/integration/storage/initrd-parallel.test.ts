// Two kernels' images rebuilt at once with the guest's own update-initramfs (issue 13): the
// deb12-itools tree gets a second kernel (its modules and vmlinuz under another version), and
// the initrd step, asked to rebuild, runs both builds side by side in the chroot. Both images
// must come out with the VMware drivers. MODULES=list keeps each build to seconds.
import { test } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { execa } from "execa";
import { ensureRootfs, withOverlay } from "../../helpers/images.ts";
import { bindChrootDirs } from "../../../src/guest/binds.ts";
import { applyStorage, assertRoot, fakeDevices, initrdFiles, inputsFor } from "./helpers.ts";

test("deb12: two kernels' initramfs images are rebuilt side by side, each with vmw_pvscsi and vmxnet3", { timeout: 30 * 60_000 }, async () => {
  assertRoot();
  const rootfs = await ensureRootfs("deb12-itools");
  await withOverlay(rootfs, async (root) => {
    const kver = readdirSync(join(root, "lib/modules"))[0]!;
    const second = `${kver}-copy`;
    // the same kernel under a second version: hard links in the overlay cost no space
    await execa("cp", ["-al", join(root, "lib/modules", kver), join(root, "lib/modules", second)]);
    for (const f of ["vmlinuz", "config"]) copyFileSync(join(root, "boot", `${f}-${kver}`), join(root, "boot", `${f}-${second}`));
    // small images (the listed drivers and what the hooks add): a generic build takes minutes
    writeFileSync(join(root, "etc/initramfs-tools/conf.d/zz-list"), "MODULES=list\n");
    const release = await bindChrootDirs(root);
    try {
      const t0 = Date.now();
      const { result, log } = await applyStorage(root, inputsFor({ rebuildInitramfs: true }), fakeDevices([{ source: "/dev/vda1", uuid: "00000001-4d2c-4b1a-9e3f-5a6b7c8d9e0f", fsType: "ext4" }]), ["preflight", "device-refs", "initrd"]);
      assert.equal(result.status, "succeeded", `${result.message}\n${log.lines.slice(-30).join("\n")}`);
      const started = log.lines.find((l) => /running 2 commands, \d at a time/.test(l));
      assert.ok(started, `the two builds were not run as one group:\n${log.lines.filter((l) => /initramfs|running/.test(l)).join("\n")}`);
      process.stderr.write(`initrd-parallel: ${started.replace(/^.*?running/, "running")} in ${Date.now() - t0} ms\n`);
      for (const v of [kver, second]) {
        const files = await initrdFiles(root, `/boot/initrd.img-${v}`);
        for (const m of ["vmw_pvscsi.ko", "vmxnet3.ko"]) assert.match(files, new RegExp(m.replace(".", "\\.")), `initrd.img-${v} has no ${m}`);
      }
    } finally {
      await release();
    }
  });
});
