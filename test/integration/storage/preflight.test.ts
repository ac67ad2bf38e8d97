// The checks before the first change, on real filesystems: a guest whose /boot is too small
// for a new initramfs, or whose root is mounted read-only, stops with GUEST_NO_SPACE and is
// left exactly as it was.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { execa } from "execa";
import { runStage1 } from "../../../src/agent/stage1.ts";
import { CODES } from "../../../src/protocol/codes.ts";
import { Logger } from "../../../src/util/log.ts";
import { diffPrints, fingerprint } from "../../helpers/tree.ts";
import { assertRoot, inputsFor } from "./helpers.ts";
import { scratch } from "./loop.ts";

function guestTree(root: string): void {
  for (const d of ["etc", "usr/sbin", "boot", "lib/modules/6.1.0-18-amd64"]) mkdirSync(join(root, d), { recursive: true });
  writeFileSync(join(root, "etc/os-release"), "ID=debian\nVERSION_ID=12\n");
  writeFileSync(join(root, "etc/fstab"), "/dev/vda1 / ext4 defaults 0 1\n/dev/vda2 /boot ext4 defaults 0 2\n");
  writeFileSync(join(root, "usr/sbin/update-initramfs"), "");
  writeFileSync(join(root, "lib/modules/6.1.0-18-amd64/modules.dep"), "");
}

test("a /boot without room for a new initramfs: GUEST_NO_SPACE before any change", { timeout: 120_000 }, async () => {
  assertRoot();
  const dir = scratch("preflight-");
  const root = join(dir, "root");
  mkdirSync(root);
  guestTree(root);
  await execa("mount", ["-t", "tmpfs", "-o", "size=24m", "tmpfs", join(root, "boot")]);
  try {
    writeFileSync(join(root, "boot/vmlinuz-6.1.0-18-amd64"), "k");
    writeFileSync(join(root, "boot/initrd.img-6.1.0-18-amd64"), Buffer.alloc(12 * 1024 * 1024));
    const before = await fingerprint(root);
    const { result } = await runStage1({ root, inputs: inputsFor(), mode: "apply", log: new Logger({ keep: true }), only: ["preflight", "device-refs", "initrd"], exec: () => Promise.reject(new Error("nothing may run")) });
    assert.equal(result.status, "failed");
    assert.equal(result.code, CODES.GUEST_NO_SPACE.code);
    assert.equal(result.step, "preflight");
    assert.match(result.message, /\/boot has \d+ MB free/);
    assert.deepEqual(diffPrints(before, await fingerprint(root)), []);
  } finally {
    await execa("umount", [join(root, "boot")], { reject: false });
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a read-only root: plan warns, apply stops before any change", { timeout: 120_000 }, async () => {
  assertRoot();
  const dir = scratch("preflight-ro-");
  const src = join(dir, "src");
  const root = join(dir, "root");
  mkdirSync(src);
  mkdirSync(root);
  guestTree(src);
  await execa("mount", ["--bind", "-o", "ro", src, root]);
  try {
    const plan = await runStage1({ root, inputs: inputsFor(), mode: "plan", log: new Logger({ keep: true }), only: ["preflight"] });
    assert.equal(plan.result.status, "succeeded");
    assert.ok(plan.result.warnings.some((w) => /not writable/.test(w)), JSON.stringify(plan.result.warnings));
    // the engine opens its journal before any step runs, so on a read-only root apply stops
    // there (EROFS); the agent's openGuest reports GUEST_NO_SPACE before that point
    const before = await fingerprint(src);
    const apply = await runStage1({ root, inputs: inputsFor(), mode: "apply", log: new Logger({ keep: true }), only: ["preflight"] }).then(
      (o) => `${o.result.code}: ${o.result.message}`,
      (e: Error) => e.message,
    );
    assert.match(apply, new RegExp(`^${CODES.GUEST_NO_SPACE.code}: .*not writable|EROFS`));
    assert.deepEqual(diffPrints(before, await fingerprint(src)), []);
  } finally {
    await execa("umount", [root], { reject: false });
    rmSync(dir, { recursive: true, force: true });
  }
});
