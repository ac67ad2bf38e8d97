// The guest's own tools failing under a full stage 1 on real Debian trees on loop disks:
// dracut, update-initramfs, grub-mkconfig and grub-install that write half a file and exit 1,
// that are missing, and a /boot that is too small or fills up during the rebuild. A fatal
// step's failure gives back the whole tree byte for byte; result.json carries the code and a
// message naming the tool and the reason; END is always written.
// (test/integration/storage/initrd-failure.test.ts covers a failing update-initramfs with the
// storage steps only in an overlay; preflight.test.ts a small /boot in a synthetic tree.)
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { execa } from "execa";
import { CODES } from "../../src/protocol/codes.ts";
import type { Variant } from "../helpers/images.ts";
import { assertRoot, removeBaseDisks, withGuestDisk, mountsOf } from "./lib/disk.ts";
import { INPUTS, agentProtocol, applyProtocol, halfWriteWrapper, installWrapper, removeTool, type ProtocolRun } from "./lib/failures.ts";
import { childCpuSeconds } from "./lib/run.ts";
import { diffPrints, fingerprint } from "./lib/tree.ts";

after(removeBaseDisks);
const say = (s: string) => process.stderr.write(`tool-failures: ${s}\n`);
const TIMEOUT = 30 * 60_000;
let handled = 0;
const cpu0 = childCpuSeconds();
const t0 = Date.now();
after(() => say(`tool failures handled: ${handled}; ${Math.round((Date.now() - t0) / 1000)} s wall, ${Math.round(childCpuSeconds() - cpu0)} s CPU in child processes`));

function describeRun(p: ProtocolRun): string {
  return `result: ${JSON.stringify({ status: p.result.status, code: p.result.code, step: p.result.step, message: p.result.message })}\nstderr tail: ${p.run.stderr.trim().split("\n").slice(-15).join("\n")}`;
}

function assertFailed(p: ProtocolRun, code: keyof typeof CODES, step: string, message: RegExp[]): void {
  const want = CODES[code].code;
  assert.equal(p.result.status, "failed", describeRun(p));
  assert.equal(p.result.code, want, describeRun(p));
  assert.equal(p.result.step, step, describeRun(p));
  for (const m of message) assert.match(p.result.message, m);
  assert.equal(p.end.trim(), `failed ${want}`);
  assert.equal(p.run.code, 1, describeRun(p));
}

/**
 * A fatal tool failure: the guest is set up (setup), fingerprinted, stage 1 runs through the
 * agent protocol, and the tree must be byte-identical afterwards.
 */
async function fatalCase(variant: Variant, setup: (root: string) => void, check: (p: ProtocolRun, root: string) => void, opts: { bootMB?: number } = {}): Promise<void> {
  await withGuestDisk(
    variant,
    async ({ root }) => {
      setup(root);
      const before = await fingerprint(root, variant);
      const p = await applyProtocol(root, INPUTS(variant));
      say(`${variant}: ${p.result.code} ${p.result.message.slice(0, 300)} (${Math.round(p.run.ms / 1000)} s)`);
      check(p, root);
      assert.deepEqual(diffPrints(before, await fingerprint(root, variant)), [], "the guest is not byte-identical after the failed run");
      handled++;
    },
    { bootMB: opts.bootMB },
  );
}

test("update-initramfs writes half the image and fails: INITRD_FAILED, everything restored", { timeout: TIMEOUT }, async () => {
  assertRoot();
  await fatalCase(
    "deb12-itools",
    (root) => installWrapper(root, "update-initramfs", halfWriteWrapper("update-initramfs", { path: "/boot/initrd.img-6.1.0-50-amd64" }, "simulated failure writing the archive"))
    ,
    (p) => assertFailed(p, "INITRD_FAILED", "initrd", [/update-initramfs/, /simulated failure writing the archive/]),
  );
});

test("dracut writes half the image and fails: INITRD_FAILED, everything restored", { timeout: TIMEOUT }, async () => {
  assertRoot();
  await fatalCase(
    "deb12-dracut-lvm",
    (root) => installWrapper(root, "dracut", halfWriteWrapper("dracut", { argFromEnd: 2 }, "simulated failure writing the archive")),
    (p) => assertFailed(p, "INITRD_FAILED", "initrd", [/dracut/, /simulated failure writing the archive/]),
  );
});

test("update-initramfs missing: INITRD_TOOL_MISSING, everything restored", { timeout: TIMEOUT }, async () => {
  assertRoot();
  await fatalCase(
    "deb12-itools",
    (root) => assert.ok(removeTool(root, "update-initramfs").length > 0),
    (p) => assertFailed(p, "INITRD_TOOL_MISSING", "initrd", [/update-initramfs/]),
  );
});

test("dracut missing: INITRD_TOOL_MISSING, everything restored", { timeout: TIMEOUT }, async () => {
  assertRoot();
  await fatalCase(
    "deb12-dracut-lvm",
    (root) => assert.ok(removeTool(root, "dracut").length > 0),
    (p) => assertFailed(p, "INITRD_TOOL_MISSING", "initrd", [/dracut/]),
  );
});

test("grub-mkconfig writes half of grub.cfg and fails after the rebuild: BOOTLOADER_FAILED, the new initramfs and every config restored", { timeout: TIMEOUT }, async () => {
  assertRoot();
  await fatalCase(
    "deb12-itools",
    (root) => installWrapper(root, "grub-mkconfig", halfWriteWrapper("grub-mkconfig", { argFromEnd: 1 }, "simulated failure: cannot find a device for /")),
    (p) => {
      assertFailed(p, "BOOTLOADER_FAILED", "bootloader", [/grub-mkconfig/, /simulated failure/]);
      assert.equal(p.result.steps.find((s) => s.name === "initrd")?.status, "changed", "the initramfs was rebuilt before the failure");
    },
  );
});

test("a /boot too small for a new initramfs: GUEST_NO_SPACE before any change", { timeout: TIMEOUT }, async () => {
  assertRoot();
  // the image's /boot holds about 45 MB; a 36 MB initramfs needs about 108 MB free
  await fatalCase(
    "deb12-itools",
    () => undefined,
    (p) => assertFailed(p, "GUEST_NO_SPACE", "preflight", [/\/boot has \d+ MB free/]),
    { bootMB: 96 },
  );
});

test("a /boot that fills up during the rebuild: GUEST_NO_SPACE, everything restored", { timeout: TIMEOUT }, async () => {
  assertRoot();
  // room enough for the check before the first change; then something else fills /boot
  // while the image is being built (an initramfs hook of the guest, here)
  await fatalCase(
    "deb12-itools",
    (root) => {
      const hook = join(root, "etc/initramfs-tools/hooks/zz-osam-test-fill");
      mkdirSync(join(root, "etc/initramfs-tools/hooks"), { recursive: true });
      writeFileSync(hook, '#!/bin/sh\n[ "$1" = prereqs ] && exit 0\nfree=$(df --output=avail -B1 /boot | tail -n 1)\nfallocate -l $((free - 65536)) /boot/osam-test-filler || dd if=/dev/zero of=/boot/osam-test-filler bs=1M 2>/dev/null\nexit 0\n');
      chmodSync(hook, 0o755);
    },
    (p, root) => {
      assertFailed(p, "GUEST_NO_SPACE", "initrd", [/No space left on device|no space/i, /\/boot/]);
      // the filler is the test's doing, not the product's: it goes before the comparison
      rmSync(join(root, "boot/osam-test-filler"));
    },
    { bootMB: 192 },
  );
});

test("grub-mkconfig missing: not fatal; the run says grub.cfg was not regenerated", { timeout: TIMEOUT }, async () => {
  assertRoot();
  await withGuestDisk("deb12-itools", async ({ root }) => {
    assert.ok(removeTool(root, "grub-mkconfig").length > 0);
    // the boot loader step is what is looked at: the initramfs rebuild is left out (it costs a minute)
    const p = await applyProtocol(root, INPUTS("deb12-itools"), ["--skip", "initrd"]);
    say(`grub-mkconfig missing: ${p.result.status} ${p.result.code}; warnings: ${p.result.warnings.join(" | ").slice(0, 400)}`);
    assert.equal(p.result.status, "succeeded", describeRun(p));
    assert.equal(p.end.trim(), "succeeded 0");
    assert.match(p.result.warnings.join("\n"), /grub-mkconfig/);
    // the target names the root disk differently: grub.cfg must not keep the source's name
    const cfg = readFileSync(join(root, "boot/grub/grub.cfg"), "utf8");
    assert.doesNotMatch(cfg, /root=\/dev\/vda1/, "grub.cfg still boots root=/dev/vda1, which the target does not have");
    handled++;
  });
});

/** Agent mode on the unmounted disk (so grub-install has a real boot disk), then a look inside. */
async function agentCase(setup: (root: string) => void, check: (p: ProtocolRun, root: string) => void, fatal: boolean): Promise<void> {
  await withGuestDisk(
    "deb12-itools",
    async ({ device, root }) => {
      const part = `${device}p1`;
      await execa("mount", [part, root]);
      let before;
      try {
        setup(root);
        before = await fingerprint(root, "deb12-itools");
      } finally {
        await execa("umount", [root]);
      }
      // the initramfs rebuild is left out: it costs a minute and is covered by the cases above
      const p = await agentProtocol(INPUTS("deb12-itools", { bootDevice: device }), ["--skip", "initrd"]);
      say(`agent: ${p.result.status} ${p.result.code} ${p.result.message.slice(0, 300)} (${Math.round(p.run.ms / 1000)} s)`);
      assert.deepEqual(mountsOf(device), [], "the disk is still mounted on the host");
      await execa("mount", [part, root]);
      try {
        check(p, root);
        if (fatal) assert.deepEqual(diffPrints(before, await fingerprint(root, "deb12-itools")), [], "the guest is not byte-identical after the failed run");
      } finally {
        await execa("umount", [root]);
      }
      handled++;
    },
    { unmounted: true },
  );
}

test("grub-install writes half of core.img and fails on the real boot disk: BOOTLOADER_FAILED, everything restored", { timeout: TIMEOUT }, async () => {
  assertRoot();
  await agentCase(
    (root) => installWrapper(root, "grub-install", halfWriteWrapper("grub-install", { path: "/boot/grub/i386-pc/core.img" }, "simulated failure: cannot write the boot sector")),
    (p) => assertFailed(p, "BOOTLOADER_FAILED", "bootloader", [/grub-install/, /cannot write the boot sector/]),
    true,
  );
});

test("grub-install missing: not fatal; the run says the boot code stays as replicated", { timeout: TIMEOUT }, async () => {
  assertRoot();
  await agentCase(
    (root) => assert.ok(removeTool(root, "grub-install").length > 0),
    (p) => {
      assert.equal(p.result.status, "succeeded", describeRun(p));
      assert.equal(p.end.trim(), "succeeded 0");
      assert.match(p.result.warnings.join("\n"), /grub-install/);
    },
    false,
  );
});
