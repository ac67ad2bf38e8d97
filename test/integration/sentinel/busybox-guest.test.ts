// The sentinel run for real, under busybox sh, in small guests made from the golden trees
// (RHEL 8-style systemd, RHEL 6-style SysV) with the host's static busybox as their whole
// userland: restore, cleanup, the tarball-installer fallback, a failure that leaves a
// guest a person can log into, and a power cut at every checkpoint. Needs root (chroot).
import { test } from "node:test";
import assert from "node:assert/strict";
import { execa } from "execa";
import { existsSync } from "node:fs";
import { chmod, mkdir, readFile, readlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { SENTINEL_SCRIPT, stage2Path } from "../../../src/protocol/files.ts";
import { loadCaseInputs } from "../../helpers/golden.ts";
import { copyTree, diffPrints, removeTree, tempDir } from "../../helpers/tree.ts";
import { present, CHECKPOINTS, GUEST_BUSYBOX, addBusybox, assertStage2Done, endState, needRoot, runSentinel, sentinelLog, stage1, statusWord } from "./harness.ts";

const GOLDEN = new URL("../../golden/sentinel/", import.meta.url).pathname;
const BB = [GUEST_BUSYBOX, "sh"];
const g = (root: string, p: string) => join(root, p.replace(/^\//, ""));

/** A golden tree with busybox applets as its commands, after stage 1. */
async function guest(name: "rhel8-systemd" | "rhel6-sysv"): Promise<string> {
  needRoot("running the sentinel in a busybox guest");
  const root = await copyTree(join(GOLDEN, name, "root"), `osam-bb-${name}-`);
  await addBusybox(root);
  for (const d of ["bin", "sbin", "usr/bin", "usr/sbin", "tmp", "var/log"]) await mkdir(g(root, d), { recursive: true });
  // applets where the guest has nothing (the golden trees' placeholders stay)
  await execa("chroot", [root, GUEST_BUSYBOX, "--install", "-s"]);
  await stage1(root, await loadCaseInputs(join(GOLDEN, name, "inputs")));
  return root;
}

/** A VMware Tools tarball whose installer (run through a stand-in perl) installs vmtoolsd. */
async function tarballMedia(root: string): Promise<string> {
  const media = "/media/vmware-tools";
  const src = await tempDir("osam-vmtools-src-");
  try {
    await mkdir(join(src, "vmware-tools-distrib"), { recursive: true });
    await writeFile(join(src, "vmware-tools-distrib/vmware-install.pl"), "#!/usr/bin/perl\n# test stand-in: installs a vmtoolsd\nmkdir -p /usr/bin /etc/vmware-tools\nprintf '#!/bin/sh\\necho vmtoolsd\\n' > /usr/bin/vmtoolsd\nchmod 755 /usr/bin/vmtoolsd\necho \"installed with: $*\" > /etc/vmware-tools/installed-by\n");
    await chmod(join(src, "vmware-tools-distrib/vmware-install.pl"), 0o755);
    await mkdir(g(root, media), { recursive: true });
    await execa("tar", ["-czf", g(root, `${media}/VMwareTools-10.3.26-12345.tar.gz`), "-C", src, "vmware-tools-distrib"]);
  } finally {
    await removeTree(src);
  }
  await writeFile(g(root, "/usr/bin/perl"), "#!/bin/sh\n# test stand-in for perl: the fake installer is sh\nexec /bin/sh \"$@\"\n");
  await chmod(g(root, "/usr/bin/perl"), 0o755);
  return media;
}

async function vmtoolsdPresent(root: string): Promise<void> {
  await mkdir(g(root, "/usr/bin"), { recursive: true });
  await writeFile(g(root, "/usr/bin/vmtoolsd"), "#!/bin/sh\necho vmtoolsd\n");
  await chmod(g(root, "/usr/bin/vmtoolsd"), 0o755);
}

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

test("no tools medium: a bounded wait, a logged failure, the guest left in single-user mode; a rerun with the medium finishes", async () => {
  const root = await guest("rhel8-systemd");
  try {
    const t0 = Date.now();
    const r = await runSentinel(root, BB, { OSAM_CDROM_WAIT: "5" });
    assert.equal(r.exitCode, 1, r.output);
    assert.ok(Date.now() - t0 < 30_000, "the wait is bounded");
    const log = await sentinelLog(root);
    assert.match(log, /waiting for the tools CD-ROM \(attempt 1 of 2/);
    assert.match(log, /waiting for the tools CD-ROM \(attempt 2 of 2/);
    assert.match(log, /FAILED: no VMware Tools medium found/);
    assert.match(await statusWord(root) ?? "", /^failed:/);
    // still single-user, still passwordless at the console, still resumable
    assert.equal(await readlink(g(root, "/etc/systemd/system/default.target")), "/usr/lib/systemd/system/rescue.target");
    assert.ok(present(root, "/etc/systemd/system/rescue.service.d/osam-no-password.conf"));
    assert.ok(existsSync(g(root, SENTINEL_SCRIPT)) && existsSync(g(root, stage2Path("manifest"))));
    const media = await tarballMedia(root);
    const again = await runSentinel(root, BB, { OSAM_TOOLS_SOURCE: media });
    assert.equal(again.exitCode, 0, again.output);
    assert.match(again.output, /stage 2 resuming after: failed: no VMware Tools medium found/);
    await assertStage2Done(root, "rerun after failure");
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
