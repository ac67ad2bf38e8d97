import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { spawn, spawnSync } from "node:child_process";
import { GuestRoot } from "../../../src/guest/guest-root.ts";
import { runSteps } from "../../../src/engine/run.ts";
import { Journal } from "../../../src/engine/journal.ts";
import type { ExecRunner } from "../../../src/engine/exec.ts";
import type { FixupStep, FixupContext } from "../../../src/fixups/types.ts";
import { loadInputs } from "../../../src/protocol/inputs.ts";
import { inspectGuest } from "../../../src/guest/inspect.ts";
import { DiskView } from "../../../src/guest/view.ts";
import { Logger } from "../../../src/util/log.ts";
import { CODES } from "../../../src/protocol/codes.ts";
import { GUEST_DATA_DIR } from "../../../src/protocol/files.ts";
import { SAMPLE, copyTree, diffPrints, fingerprint, removeTree, SKIP_CHROOT } from "../../helpers/tree.ts";
import { CLI_SCRIPT } from "../../helpers/cli.ts";

const INITRD = "/boot/initrd.img-6.1.0-27-amd64";

const edits: FixupStep = {
  name: "edits",
  title: "test edits",
  fatal: false,
  failCode: "APPLY_FAILED",
  async plan({ view }) {
    const fstab = (await view.readText("/etc/fstab"))!;
    return {
      warnings: [],
      changes: [
        { action: "write", path: "/etc/fstab", content: fstab.replace("/dev/vda1", "UUID=0c3a4f5e-9a51-4b1e-8a43-5d0b27f0e6a1"), reason: "root by UUID" },
        { action: "rename", path: "/etc/network/interfaces.d/ens4", to: "/etc/network/interfaces.d/eth1", reason: "rename" },
        { action: "symlink", path: "/etc/systemd/system/default.target", target: "/lib/systemd/system/rescue.target", reason: "single user" },
        { action: "remove", path: "/etc/blkid.tab", reason: "stale" },
        { action: "write", path: "/etc/osam-test/deep/new.conf", content: "new\n", reason: "new file in new dirs" },
        { action: "write", path: `${GUEST_DATA_DIR}/state/default-target`, content: "graphical.target\n", reason: "state" },
      ],
    };
  },
};

/** Reads what the first step wrote: later steps plan against the result of earlier ones. */
const sees: FixupStep = {
  name: "sees",
  title: "sees earlier edits",
  fatal: false,
  failCode: "APPLY_FAILED",
  async plan({ view }) {
    const fstab = (await view.readText("/etc/fstab"))!;
    assert.match(fstab, /UUID=0c3a/, "the previous step's edit is visible");
    return { warnings: [], changes: [{ action: "write", path: "/etc/fstab", content: fstab + "# seen\n", reason: "append" }] };
  },
};

const rebuild: FixupStep = {
  name: "initrd",
  title: "rebuild initramfs",
  fatal: true,
  failCode: "INITRD_FAILED",
  async plan() {
    return { warnings: [], changes: [{ action: "exec", argv: ["update-initramfs", "-u", "-k", "6.1.0-27-amd64"], produces: [INITRD], reason: "drivers" }] };
  },
};

function fakeExec(root: string, fail: boolean): ExecRunner {
  return async (argv) => {
    // like a real tool: rewrites the image, then maybe fails half-way
    await writeFile(join(root, INITRD), fail ? "half-written image" : `rebuilt by ${argv.join(" ")}\n`);
    return fail ? { exitCode: 1, output: "E: mkinitramfs failure cpio 141", timedOut: false } : { exitCode: 0, output: "ok", timedOut: false };
  };
}

async function ctx(root: string): Promise<Omit<FixupContext, "view">> {
  const inputs = await loadInputs(join(SAMPLE, "inputs"));
  return { info: await inspectGuest(new DiskView(new GuestRoot(root))), inputs, devices: [], log: new Logger() };
}

const notJournal = (rel: string) => rel.endsWith("journal.jsonl");

test("apply journals every change; rollback restores the tree byte for byte", async () => {
  const root = await copyTree(join(SAMPLE, "root"));
  const before = await fingerprint(root);
  const g = new GuestRoot(root);
  const out = await runSteps(g, [edits, sees, rebuild], await ctx(root), { mode: "apply", version: "t", exec: fakeExec(root, false) });
  assert.equal(out.failure, undefined);
  assert.deepEqual(out.steps.map((s) => s.status), ["changed", "changed", "changed"]);
  assert.match(await readFile(join(root, "etc/fstab"), "utf8"), /UUID=0c3a[\s\S]*# seen\n$/);
  assert.equal(await g.readlink("/etc/systemd/system/default.target"), "/lib/systemd/system/rescue.target");
  assert.equal(await g.readText("/opt/vmware/hcx/osam/data/backup/etc/fstab"), await readFile(join(SAMPLE, "root/etc/fstab"), "utf8"), "original fstab backed up");
  assert.match((await g.readText(INITRD))!, /rebuilt/);
  const j = await Journal.read(g);
  assert.equal(j.lastStatus, "succeeded");
  await j.rollback(new Logger());
  assert.deepEqual(diffPrints(before, await fingerprint(root)), []);
});

test("a re-run converges to the same tree as one run", async () => {
  const root = await copyTree(join(SAMPLE, "root"));
  const g = new GuestRoot(root);
  const steps = [edits, sees, rebuild];
  await runSteps(g, steps, await ctx(root), { mode: "apply", version: "t", exec: fakeExec(root, false) });
  const once = await fingerprint(root, notJournal);
  await runSteps(g, steps, await ctx(root), { mode: "apply", version: "t", exec: fakeExec(root, false) });
  assert.deepEqual(diffPrints(once, await fingerprint(root, notJournal)), []);
});

test("a fatal step's failure restores every original, the earlier steps' too", async () => {
  const root = await copyTree(join(SAMPLE, "root"));
  const before = await fingerprint(root);
  const out = await runSteps(new GuestRoot(root), [edits, rebuild], await ctx(root), { mode: "apply", version: "t", exec: fakeExec(root, true) });
  assert.equal(out.failure?.code, CODES.INITRD_FAILED.code);
  assert.equal(out.failure?.step, "initrd");
  assert.match(out.failure.message, /exited with 1: E: mkinitramfs failure/);
  assert.deepEqual(out.steps.map((s) => s.status), ["changed", "failed"]);
  assert.deepEqual(diffPrints(before, await fingerprint(root)), [], "guest as it was, initramfs included");
});

test("a best-effort step's failure undoes only that step and becomes a warning", async () => {
  const root = await copyTree(join(SAMPLE, "root"));
  const broken: FixupStep = {
    name: "broken",
    title: "breaks half-way",
    fatal: false,
    failCode: "APPLY_FAILED",
    async plan() {
      return {
        warnings: [],
        changes: [
          { action: "write", path: "/etc/hostname", content: "changed\n", reason: "x" },
          { action: "write", path: "/etc/fstab/impossible", content: "x", reason: "fails: fstab is a file" },
        ],
      };
    },
  };
  const out = await runSteps(new GuestRoot(root), [broken, edits], await ctx(root), { mode: "apply", version: "t" });
  assert.equal(out.failure, undefined);
  assert.equal(out.steps[0]!.status, "failed");
  assert.equal(await readFile(join(root, "etc/hostname"), "utf8"), "kvmguest\n", "the failed step's first change was undone");
  assert.match(out.warnings.join("\n"), /broken: .*not a directory/);
  assert.equal(out.steps[1]!.status, "changed");
});

test("plan mode changes nothing and shows later steps the earlier steps' changes", async () => {
  const root = await copyTree(join(SAMPLE, "root"));
  const before = await fingerprint(root);
  const out = await runSteps(new GuestRoot(root), [edits, sees, rebuild], await ctx(root), { mode: "plan", version: "t" });
  assert.equal(out.failure, undefined);
  assert.equal(out.planned.length, 8);
  assert.deepEqual(diffPrints(before, await fingerprint(root)), []);
});

test("a SIGKILL after any change, then a re-run, converges; rollback then restores the original", async () => {
  // the CLI's crash hook kills the process after the Nth change, as a power cut would
  const cli = CLI_SCRIPT;
  const inputs = join(SAMPLE, "inputs");
  const ref = await copyTree(join(SAMPLE, "root"));
  const original = await fingerprint(ref);
  const full = spawnSync(process.execPath, [cli, "apply", "--root", ref, "--inputs", inputs, ...SKIP_CHROOT, "-q"], { encoding: "utf8" });
  assert.equal(full.status, 0, full.stderr);
  const expected = await fingerprint(ref, notJournal);
  const changes = (await Journal.read(new GuestRoot(ref))).entries.filter((e) => e.t === "done").length;
  assert.ok(changes >= 1, "the sample run makes changes");
  await removeTree(ref);
  const killAt = async (n: number): Promise<void> => {
    const root = await copyTree(join(SAMPLE, "root"));
    const killed = await run([cli, "apply", "--root", root, "--inputs", inputs, ...SKIP_CHROOT, "-q"], { OSAM_TEST_KILL_AFTER_CHANGE: String(n) });
    assert.equal(killed.signal, "SIGKILL", `run ${n} was killed`);
    const again = await run([cli, "apply", "--root", root, "--inputs", inputs, ...SKIP_CHROOT, "-q"]);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(diffPrints(expected, await fingerprint(root, notJournal)), [], `after a kill at change ${n}`);
    const back = await run([cli, "rollback", "--root", root, "-q"]);
    assert.equal(back.code, 0, back.stderr);
    assert.deepEqual(diffPrints(original, await fingerprint(root)), [], `rollback after a kill at change ${n}`);
    await removeTree(root);
  };
  // the runs mostly wait for their fsyncs, so a few kill points at once use the time
  const points = Array.from({ length: changes }, (_, i) => i + 1);
  const worker = async (): Promise<void> => {
    for (let n = points.shift(); n !== undefined; n = points.shift()) await killAt(n);
  };
  await Promise.all([worker(), worker(), worker()]);
});

/** Runs node with args to its end: exit code, signal and stderr. */
function run(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { env: { ...process.env, ...env }, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code, signal) => resolve({ code, signal, stderr }));
  });
}
