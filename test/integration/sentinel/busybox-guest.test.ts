// The sentinel run for real, under busybox sh, in small guests made from the golden trees
// (RHEL 8-style systemd, RHEL 6-style SysV) with the host's static busybox as their whole
// userland: restore, cleanup, the tarball-installer fallback, the tools policy (a warning by
// default, a failure with requireTools that leaves the guest in single-user mode asking for
// the root password), and a power cut at every checkpoint. Needs root (chroot).
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { readFile, readlink } from "node:fs/promises";
import { join } from "node:path";
import { SENTINEL_SCRIPT, stage2Path } from "../../../src/protocol/files.ts";
import { diffPrints, removeTree } from "../../helpers/tree.ts";
import { present, CHECKPOINTS, GOLDEN, GUEST_BUSYBOX, assertStage2Done, endState, goldenGuest, runSentinel, sentinelLog, stage2Result, statusWord, tarballMedia, vmtoolsdPresent } from "./harness.ts";

const BB = [GUEST_BUSYBOX, "sh"];
const g = (root: string, p: string) => join(root, p.replace(/^\//, ""));
const guest = (name: "rhel8-systemd" | "rhel6-sysv") => goldenGuest(name);

test("systemd guest, tools already there: default target, SELinux and relabel restored, everything of stage 2 gone", async () => {
  const root = await guest("rhel8-systemd");
  try {
    await vmtoolsdPresent(root);
    assert.equal(await readlink(g(root, "/etc/systemd/system/default.target")), "/usr/lib/systemd/system/rescue.target");
    const r = await runSentinel(root, BB);
    assert.equal(r.exitCode, 0, r.output);
    await assertStage2Done(root, "rhel8 busybox");
    assert.equal(await readlink(g(root, "/etc/systemd/system/default.target")), "/usr/lib/systemd/system/multi-user.target");
    assert.match(await readFile(g(root, "/etc/selinux/config"), "utf8"), /^SELINUX=enforcing$/m);
    assert.ok(present(root, "/.autorelabel"), "relabel requested");
    assert.match(r.output, /already installed; leaving them as they are/);
    // the foreign tools stay masked: stage 2 does not undo that
    assert.equal(await readlink(g(root, "/etc/systemd/system/qemu-guest-agent.service")), "/dev/null");
  } finally {
    await removeTree(root);
  }
});

test("SysV guest, VMware Tools tarball: installer run, inittab, SINGLE= and SELinux restored", async () => {
  const root = await guest("rhel6-sysv");
  try {
    const media = await tarballMedia(root);
    const r = await runSentinel(root, BB, { OSAM_TOOLS_SOURCE: media });
    assert.equal(r.exitCode, 0, r.output);
    await assertStage2Done(root, "rhel6 busybox");
    assert.deepEqual([stage2Result(root)!.status, stage2Result(root)!.tools.code], ["succeeded", "INSTALLED"]);
    assert.equal(await readFile(g(root, "/etc/vmware-tools/installed-by"), "utf8"), "installed with: --default --force-install\n");
    const inittab = await readFile(g(root, "/etc/inittab"), "utf8");
    assert.equal(inittab, await readFile(join(GOLDEN, "rhel6-sysv/root/etc/inittab"), "utf8"), "inittab byte-identical to the original");
    assert.equal(await readFile(g(root, "/etc/sysconfig/init"), "utf8"), await readFile(join(GOLDEN, "rhel6-sysv/root/etc/sysconfig/init"), "utf8"));
    assert.equal(await readFile(g(root, "/etc/selinux/config"), "utf8"), await readFile(join(GOLDEN, "rhel6-sysv/root/etc/selinux/config"), "utf8"));
    assert.equal(present(root, "/etc/rc.d/rc3.d/S99osam-sentinel"), false);
    assert.ok(present(root, "/etc/rc.d/rc3.d/K26hypervkvpd"), "foreign tools stay disabled");
  } finally {
    await removeTree(root);
  }
});

test("no tools medium, default policy: a bounded wait, then a warning; the guest restored, no password-less console, powered off", async () => {
  const root = await guest("rhel8-systemd");
  try {
    const t0 = Date.now();
    const r = await runSentinel(root, BB, { OSAM_CDROM_WAIT: "5" });
    assert.equal(r.exitCode, 0, r.output);
    // bounded: two looks 5 s apart, then on (the rest of the run is slow on a loaded machine)
    assert.ok(Date.now() - t0 < 120_000, "the wait is bounded");
    const log = await sentinelLog(root);
    assert.match(log, /waiting for the tools CD-ROM \(attempt 1 of 2/);
    assert.match(log, /waiting for the tools CD-ROM \(attempt 2 of 2/);
    assert.doesNotMatch(log, /attempt 3/);
    assert.match(log, /WARNING: VMware Tools were not installed: no VMware Tools medium found/);
    await assertStage2Done(root, "no medium");
    assert.equal(await readlink(g(root, "/etc/systemd/system/default.target")), "/usr/lib/systemd/system/multi-user.target");
    const res = stage2Result(root)!;
    assert.deepEqual([res.status, res.code, res.tools.installed, res.tools.code, res.tools.required], ["succeeded-with-warnings", "TOOLS_MISSING", false, "NO_MEDIUM", false]);
    assert.match(res.warnings.join("\n"), /no VMware Tools medium found/);
  } finally {
    await removeTree(root);
  }
});

test("requireTools: no tools medium fails stage 2; single-user mode asking for the root password; a rerun with the medium finishes", async () => {
  const root = await goldenGuest("rhel8-systemd", { requireTools: true });
  try {
    const r = await runSentinel(root, BB, { OSAM_CDROM_WAIT: "0" });
    assert.equal(r.exitCode, 1, r.output);
    const log = await sentinelLog(root);
    assert.match(log, /FAILED: VMware Tools are required \(options.requireTools\) and were not installed: no VMware Tools medium found/);
    assert.match(await statusWord(root) ?? "", /^failed:/);
    // still single-user and resumable, but the console asks for the root password
    assert.equal(await readlink(g(root, "/etc/systemd/system/default.target")), "/usr/lib/systemd/system/rescue.target");
    assert.equal(present(root, "/etc/systemd/system/rescue.service.d/osam-no-password.conf"), false);
    assert.equal(present(root, "/etc/systemd/system/emergency.service.d/osam-no-password.conf"), false);
    assert.ok(existsSync(g(root, SENTINEL_SCRIPT)) && existsSync(g(root, stage2Path("manifest"))));
    assert.equal(present(root, "/osam-test-poweroff"), false, "a failed stage 2 does not power off");
    const res = stage2Result(root)!;
    assert.deepEqual([res.status, res.code, res.guestState, res.consoleSecured, res.targetRestored, res.powerOff, res.tools.required], ["failed", "TOOLS_MISSING", "single-user", true, false, "not-attempted", true]);
    assert.match(res.reason, /asks for the root password/);
    const media = await tarballMedia(root);
    const again = await runSentinel(root, BB, { OSAM_TOOLS_SOURCE: media });
    assert.equal(again.exitCode, 0, again.output);
    assert.match(again.output, /stage 2 resuming after: failed: VMware Tools are required/);
    await assertStage2Done(root, "rerun after failure");
    assert.equal(stage2Result(root)!.status, "succeeded");
  } finally {
    await removeTree(root);
  }
});

test("requireTools failure, then the administrator accepts the guest without tools (OSAM_REQUIRE_TOOLS=no): restored, a warning, powered off", async () => {
  const root = await goldenGuest("rhel6-sysv", { requireTools: true });
  try {
    const r = await runSentinel(root, BB);
    assert.equal(r.exitCode, 1, r.output);
    assert.equal(await readFile(g(root, "/etc/sysconfig/init"), "utf8"), await readFile(join(GOLDEN, "rhel6-sysv/root/etc/sysconfig/init"), "utf8"), "single-user mode asks for the root password again");
    const again = await runSentinel(root, BB, { OSAM_REQUIRE_TOOLS: "no" });
    assert.equal(again.exitCode, 0, again.output);
    await assertStage2Done(root, "accepted without tools");
    assert.deepEqual([stage2Result(root)!.status, stage2Result(root)!.tools.required], ["succeeded-with-warnings", false]);
    assert.equal(await readFile(g(root, "/etc/inittab"), "utf8"), await readFile(join(GOLDEN, "rhel6-sysv/root/etc/inittab"), "utf8"));
  } finally {
    await removeTree(root);
  }
});

test("power cut at every checkpoint (busybox sh, SysV guest, tarball): the rerun reaches the same end", async () => {
  assert.ok(CHECKPOINTS.length >= 6, `checkpoints found: ${CHECKPOINTS.join(" ")}`);
  const ref = await guest("rhel6-sysv");
  let want;
  try {
    const media = await tarballMedia(ref);
    const r = await runSentinel(ref, BB, { OSAM_TOOLS_SOURCE: media });
    assert.equal(r.exitCode, 0, r.output);
    want = await endState(ref);
  } finally {
    await removeTree(ref);
  }
  for (const cp of CHECKPOINTS) {
    const root = await guest("rhel6-sysv");
    try {
      const media = await tarballMedia(root);
      const cut = await runSentinel(root, BB, { OSAM_TOOLS_SOURCE: media, OSAM_CRASH_AT: cp });
      assert.equal(cut.signal, "SIGKILL", `${cp}: the sentinel should have been killed\n${cut.output}`);
      assert.equal(present(root, "/osam-test-poweroff"), false, `${cp}: powered off before the cut`);
      // after the cleanup the script is gone: nothing runs at the next boot, and nothing has to
      if (existsSync(g(root, SENTINEL_SCRIPT))) {
        const again = await runSentinel(root, BB, { OSAM_TOOLS_SOURCE: media });
        assert.equal(again.exitCode, 0, `${cp}: rerun\n${again.output}`);
      } else assert.equal(cp, CHECKPOINTS[CHECKPOINTS.length - 1], `${cp}: the script is gone before the last checkpoint`);
      const got = await endState(root);
      assert.deepEqual(diffPrints(want.files, got.files), [], `${cp}: end state differs`);
      assert.equal(got.status, "done", cp);
    } finally {
      await removeTree(root);
    }
  }
});
