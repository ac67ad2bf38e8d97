// A failing initramfs build (an update-initramfs that truncates the image and exits 1,
// shadowing the real one in the guest's PATH) is fatal: the previous image and every config file the earlier steps changed
// are back byte for byte, and result.json names the step, the code and the reason.
import { test } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runAgent } from "../../../src/agent/agent.ts";
import { bindChrootDirs } from "../../../src/guest/binds.ts";
import { FIXUP_FILES } from "../../../src/protocol/files.ts";
import { CODES } from "../../../src/protocol/codes.ts";
import { ensureRootfs, withOverlay } from "../../helpers/images.ts";
import { diffPrints, fingerprint, removeTree, tempDir } from "../../helpers/tree.ts";
import { assertRoot } from "./helpers.ts";

test("deb12-itools: update-initramfs failing in the chroot leaves image and configs byte-identical; result.json says initrd, 310, why", { timeout: 30 * 60_000 }, async () => {
  assertRoot();
  const rootfs = await ensureRootfs("deb12-itools");
  await withOverlay(rootfs, async (root) => {
    // the wrapper comes first in the chroot's PATH (/usr/local/sbin)
    mkdirSync(join(root, "usr/local/sbin"), { recursive: true });
    writeFileSync(join(root, "usr/local/sbin/update-initramfs"), "#!/bin/sh\n# half-written image, then the failure\nfor f in /boot/initrd.img-*; do echo partial > \"$f\"; done\necho 'E: simulated failure: cpio: write error' >&2\nexit 1\n");
    chmodSync(join(root, "usr/local/sbin/update-initramfs"), 0o755);
    const skip = (r: string) => r.startsWith("dev/") || r.startsWith("proc/") || r.startsWith("sys/") || r.startsWith("run/") || r.startsWith("tmp/") || r.startsWith("var/");
    const before = await fingerprint(root, skip);
    const fixup = await tempDir("osam-initrd-fail-");
    const release = await bindChrootDirs(root);
    try {
      writeFileSync(join(fixup, FIXUP_FILES.systemConfiguration), JSON.stringify({ migrationId: "initrd-fail", source: { firmware: "bios" }, target: { firmware: "bios", scsiController: "pvscsi", nicModel: "vmxnet3" }, options: { rebuildInitramfs: true } }));
      writeFileSync(join(fixup, FIXUP_FILES.replicaDiskMap), JSON.stringify({ disks: [{ source: { device: "/dev/vda" }, target: { controller: "scsi0", unit: 0 }, boot: true }] }));
      writeFileSync(join(fixup, FIXUP_FILES.networkInterfaceMap), JSON.stringify({ interfaces: [] }));
      // without the boot loader: grub-mkconfig cannot probe this overlay root (grub-probe: "failed
      // to get canonical path of overlay"), and run alongside, its failure would come first
      const code = await runAgent({ fixupDir: fixup, root, noWait: true, only: ["preflight", "stale-caches", "device-refs", "initrd"] });
      assert.equal(code, 1);
      const result = JSON.parse(readFileSync(join(fixup, FIXUP_FILES.result), "utf8")) as { status: string; code: number; step?: string; message: string; steps: { name: string; status: string }[] };
      assert.equal(result.status, "failed");
      assert.equal(result.code, CODES.INITRD_FAILED.code);
      assert.equal(result.step, "initrd");
      assert.match(result.message, /update-initramfs/);
      assert.match(result.message, /simulated failure/);
      assert.equal(result.steps.find((s) => s.name === "initrd")?.status, "failed");
      // device-refs had rewritten fstab before the failure: it is back too
      assert.equal(result.steps.find((s) => s.name === "device-refs")?.status, "changed");
      assert.equal(readFileSync(join(fixup, FIXUP_FILES.end), "utf8").trim(), `failed ${CODES.INITRD_FAILED.code}`);
    } finally {
      await release();
      await removeTree(fixup);
    }
    assert.deepEqual(diffPrints(before, await fingerprint(root, skip)), [], "the guest is not byte-identical after the failed run");
  });
});
