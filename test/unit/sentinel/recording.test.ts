// Recording the original state for stage 2: what the state files hold for a systemd and a
// SysV guest, that a second stage-1 run keeps the true original (with and without the
// journal that lets it start from the original guest), and the options that turn it off.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, readFile, readlink, rm, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { runStage1 } from "../../../src/agent/stage1.ts";
import type { Inputs } from "../../../src/protocol/inputs.ts";
import { GUEST_BACKUP_DIR, GUEST_JOURNAL, STAGE2_FILES, STAGE2_NONE, stage2Path } from "../../../src/protocol/files.ts";
import { parseState, setInitdefault, initdefaultLine, stateText } from "../../../src/fixups/stage2-state.ts";
import { Logger } from "../../../src/util/log.ts";
import { loadCaseInputs } from "../../helpers/golden.ts";
import { copyTree, diffPrints, fingerprint, removeTree, tempDir } from "../../helpers/tree.ts";

const GOLDEN = new URL("../../golden/sentinel/", import.meta.url).pathname;
const STEPS = ["stage2-state", "single-user", "selinux", "foreign-tools", "sentinel"];
const noExec = async () => ({ exitCode: 0, output: "", timedOut: false });

async function stage1(root: string, inputs: Inputs) {
  const r = await runStage1({ root, inputs, mode: "apply", log: new Logger(), only: STEPS, exec: noExec });
  assert.equal(r.result.status, "succeeded", r.result.message);
  return r.result;
}

const g = (root: string, p: string) => join(root, p);
async function state(root: string, name: keyof typeof STAGE2_FILES): Promise<string | undefined> {
  const p = g(root, stage2Path(name));
  return existsSync(p) ? parseState(await readFile(p, "utf8")) : undefined;
}
const volatile = (rel: string) => rel === GUEST_JOURNAL.slice(1) || rel.startsWith(GUEST_BACKUP_DIR.slice(1));

async function withCase<T>(name: string, fn: (root: string, inputs: Inputs) => Promise<T>): Promise<T> {
  const root = await copyTree(join(GOLDEN, name, "root"), "osam-rec-");
  try {
    return await fn(root, await loadCaseInputs(join(GOLDEN, name, "inputs")));
  } finally {
    await removeTree(root);
  }
}

test("state file format: a comment header, then the value; parse reads the value back", () => {
  const t = stateText("defaultTarget", "/lib/systemd/system/graphical.target");
  assert.match(t, /^# /);
  assert.equal(parseState(t), "/lib/systemd/system/graphical.target");
  assert.equal(parseState(stateText("initdefault", STAGE2_NONE)), STAGE2_NONE);
  assert.equal(parseState("# only a comment\n"), undefined);
});

test("initdefault edits keep every other line; a missing line is added", () => {
  const tab = "# comment\nid:3:initdefault:\nsi::sysinit:/etc/init.d/rcS\n";
  assert.equal(setInitdefault(tab, "1"), "# comment\nid:1:initdefault:\nsi::sysinit:/etc/init.d/rcS\n");
  assert.equal(initdefaultLine(tab), "id:3:initdefault:");
  assert.equal(setInitdefault("# none\n", "1"), "# none\nid:1:initdefault:\n");
  assert.equal(initdefaultLine("# id:5:initdefault:\n"), undefined);
});

test("systemd guest: the original default target and SELinux mode are recorded, the guest set to rescue/permissive", async () => {
  await withCase("rhel8-systemd", async (root, inputs) => {
    await stage1(root, inputs);
    assert.equal(await state(root, "defaultTarget"), "/usr/lib/systemd/system/multi-user.target");
    assert.equal(await state(root, "selinuxMode"), "enforcing");
    assert.equal(await state(root, "initdefault"), undefined, "no inittab on a systemd guest");
    assert.equal(await readlink(g(root, "/etc/systemd/system/default.target")), "/usr/lib/systemd/system/rescue.target");
    assert.match(await readFile(g(root, "/etc/selinux/config"), "utf8"), /^SELINUX=permissive$/m);
  });
});

test("stage 1 twice: the second run keeps the true original and leaves the guest the same", async () => {
  await withCase("rhel8-systemd", async (root, inputs) => {
    await stage1(root, inputs);
    const first = await fingerprint(root, volatile);
    await stage1(root, inputs);
    assert.deepEqual(diffPrints(first, await fingerprint(root, volatile)), []);
    assert.equal(await state(root, "defaultTarget"), "/usr/lib/systemd/system/multi-user.target");
    assert.equal(await state(root, "selinuxMode"), "enforcing");
  });
});

test("stage 1 again after the journal was lost: the recorded original is kept, not the single-user state", async () => {
  await withCase("rhel8-systemd", async (root, inputs) => {
    await stage1(root, inputs);
    const first = await fingerprint(root, volatile);
    await rm(g(root, GUEST_JOURNAL));
    await rm(g(root, GUEST_BACKUP_DIR), { recursive: true });
    const r = await stage1(root, inputs);
    assert.deepEqual(r.warnings.filter((w) => w.startsWith("stage2-state")), [], "the kept record needs no warning");
    assert.equal(await state(root, "defaultTarget"), "/usr/lib/systemd/system/multi-user.target");
    assert.equal(await state(root, "selinuxMode"), "enforcing");
    assert.deepEqual(diffPrints(first, await fingerprint(root, volatile)), []);
  });
});

test("journal and records both lost: rescue.target is not taken for the original (recorded as none, with a warning)", async () => {
  await withCase("rhel8-systemd", async (root, inputs) => {
    await stage1(root, inputs);
    await rm(g(root, GUEST_JOURNAL));
    await rm(g(root, GUEST_BACKUP_DIR), { recursive: true });
    await rm(g(root, stage2Path("defaultTarget")));
    const r = await stage1(root, inputs);
    assert.equal(await state(root, "defaultTarget"), STAGE2_NONE);
    assert.ok(r.warnings.some((w) => /rescue\.target/.test(w)), r.warnings.join("\n"));
  });
});

test("SysV guest (RHEL 6): initdefault, SINGLE= and SELinux recorded; twice and without journal keep runlevel 3", async () => {
  await withCase("rhel6-sysv", async (root, inputs) => {
    await stage1(root, inputs);
    assert.equal(await state(root, "initdefault"), "id:3:initdefault:");
    assert.equal(await state(root, "sysconfigSingle"), "SINGLE=/sbin/sulogin");
    assert.equal(await state(root, "selinuxMode"), "enforcing");
    assert.equal(await state(root, "defaultTarget"), undefined);
    assert.match(await readFile(g(root, "/etc/inittab"), "utf8"), /^id:1:initdefault:$/m);
    assert.match(await readFile(g(root, "/etc/sysconfig/init"), "utf8"), /^SINGLE=\/sbin\/sushell$/m);
    const first = await fingerprint(root, volatile);
    await stage1(root, inputs);
    assert.deepEqual(diffPrints(first, await fingerprint(root, volatile)), []);
    await rm(g(root, GUEST_JOURNAL));
    await rm(g(root, GUEST_BACKUP_DIR), { recursive: true });
    await stage1(root, inputs);
    assert.equal(await state(root, "initdefault"), "id:3:initdefault:");
    assert.equal(await state(root, "sysconfigSingle"), "SINGLE=/sbin/sulogin");
    assert.deepEqual(diffPrints(first, await fingerprint(root, volatile)), []);
  });
});

test("options off: no single-user mode, no sentinel, no state; only the relabel request remains", async () => {
  await withCase("rhel8-systemd", async (root, inputs) => {
    const before = await fingerprint(root);
    inputs.system.options = { singleUserMode: false, installStage2: false, removeForeignTools: false };
    const r = await stage1(root, inputs);
    const changed = diffPrints(before, await fingerprint(root, (rel) => volatile(rel) || rel === "opt/vmware" || rel.startsWith("opt/vmware/")));
    assert.deepEqual(changed, [".autorelabel: (new) file 644 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"]);
    for (const s of ["stage2-state", "single-user", "foreign-tools", "sentinel"]) assert.equal(r.steps.find((x) => x.name === s)?.status, "skipped", s);
  });
});

test("plan shows the state files, the unit and the script, and changes nothing", async () => {
  await withCase("rhel8-systemd", async (root, inputs) => {
    const before = await fingerprint(root);
    const r = await runStage1({ root, inputs, mode: "plan", log: new Logger(), only: STEPS });
    const paths = r.outcome.planned.map((p) => ("path" in p.change ? p.change.path : ""));
    for (const p of [stage2Path("defaultTarget"), stage2Path("selinuxMode"), stage2Path("manifest"), "/etc/systemd/system/osam-sentinel.service", "/opt/vmware/hcx/osam/bin/osam-sentinel"]) {
      assert.ok(paths.includes(p), `plan lacks ${p}`);
    }
    assert.deepEqual(diffPrints(before, await fingerprint(root)), []);
  });
});

test("plan on a SysV guest writes no data directory", async () => {
  await withCase("rhel6-sysv", async (root, inputs) => {
    await runStage1({ root, inputs, mode: "plan", log: new Logger(), only: STEPS });
    assert.equal(existsSync(g(root, "/opt/vmware")), false);
  });
});

test("SUSE SysV layout: the sentinel's runlevel links go to /etc/init.d/rcN.d, pointing at ../osam-sentinel", async () => {
  const root = await tempDir("osam-suse-");
  try {
    for (const d of ["etc/init.d/rc1.d", "etc/init.d/rc3.d", "etc/init.d/rc5.d", "sbin"]) await mkdir(join(root, d), { recursive: true });
    await writeFile(join(root, "etc/SuSE-release"), "SUSE Linux Enterprise Server 11 (x86_64)\nVERSION = 11\nPATCHLEVEL = 4\n");
    await writeFile(join(root, "etc/inittab"), "id:5:initdefault:\n");
    await writeFile(join(root, "sbin/init"), "placeholder\n");
    await writeFile(join(root, "etc/fstab"), "/dev/sda2 / ext3 defaults 1 1\n");
    const r = await runStage1({ root, inputs: await loadCaseInputs(join(GOLDEN, "none")), mode: "plan", log: new Logger(), only: STEPS });
    const links = r.outcome.planned.flatMap((p) => (p.change.action === "symlink" ? [`${p.change.path} -> ${p.change.target}`] : []));
    assert.ok(links.includes("/etc/init.d/rc1.d/S00osam-sentinel -> ../osam-sentinel"), links.join("\n"));
    assert.ok(links.includes("/etc/init.d/rc5.d/S99osam-sentinel -> ../osam-sentinel"), links.join("\n"));
  } finally {
    await removeTree(root);
  }
});

test("foreign tools are best effort: a unit that cannot be masked becomes a warning in result.json, the run still succeeds", async () => {
  await withCase("rhel8-systemd", async (root, inputs) => {
    // a directory where the mask link would go: the engine refuses to replace it
    await mkdir(g(root, "/etc/systemd/system/qemu-guest-agent.service"), { recursive: true });
    const r = await runStage1({ root, inputs, mode: "apply", log: new Logger(), only: STEPS, exec: noExec });
    assert.equal(r.result.status, "succeeded", r.result.message);
    assert.equal(r.result.steps.find((s) => s.name === "foreign-tools")?.status, "failed");
    assert.ok(r.result.warnings.some((w) => w.startsWith("foreign-tools:") && /best effort/.test(w)), r.result.warnings.join("\n"));
    // its other changes were undone with it; the stage-2 steps after it still ran
    assert.equal(existsSync(g(root, "/etc/systemd/system/hypervkvpd.service")), false);
    assert.ok(existsSync(g(root, "/opt/vmware/hcx/osam/bin/osam-sentinel")));
  });
});

test("singleUserMode false, installStage2 true: the target stays, the sentinel still runs (wanted by multi-user.target)", async () => {
  await withCase("rhel8-systemd", async (root, inputs) => {
    inputs.system.options = { singleUserMode: false };
    await stage1(root, inputs);
    assert.equal(await readlink(g(root, "/etc/systemd/system/default.target")), "/usr/lib/systemd/system/multi-user.target");
    assert.equal(await readlink(g(root, "/etc/systemd/system/multi-user.target.wants/osam-sentinel.service")), "/etc/systemd/system/osam-sentinel.service");
    assert.equal(existsSync(g(root, "/etc/systemd/system/rescue.service.d/osam-no-password.conf")), false);
    const manifest = await readFile(g(root, stage2Path("manifest")), "utf8");
    assert.doesNotMatch(manifest, /osam-no-password/);
  });
});
