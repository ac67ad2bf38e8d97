// Initramfs builds of several kernels run at once (issue 13): consecutive commands with the
// same `parallel` key, bounded by parallelism(); each backed up before any runs, journaled done
// after all have ended; a failure rolls every one back once none is still running.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile, writeFile, mkdir } from "node:fs/promises";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { GuestRoot } from "../../../src/guest/guest-root.ts";
import { parallelGroup, parallelism, runSteps } from "../../../src/engine/run.ts";
import type { Change } from "../../../src/engine/changes.ts";
import type { ExecRunner } from "../../../src/engine/exec.ts";
import type { FixupContext, FixupStep } from "../../../src/fixups/types.ts";
import { loadInputs } from "../../../src/protocol/inputs.ts";
import { inspectGuest } from "../../../src/guest/inspect.ts";
import { DiskView } from "../../../src/guest/view.ts";
import { Logger } from "../../../src/util/log.ts";
import { EXEC_TMPDIR } from "../../../src/engine/journal.ts";
import { SAMPLE, copyTree, diffPrints, fingerprint } from "../../helpers/tree.ts";

const KERNELS = ["6.1.0-1", "6.1.0-2", "6.1.0-3"];
const image = (k: string) => `/boot/initrd.img-${k}`;
const build = (k: string): Change => ({ action: "exec", argv: ["dracut", "--force", image(k), k], produces: [image(k)], parallel: "initramfs", reason: `rebuild ${k}` });

test("parallelGroup: consecutive commands with one key; parallelism: the CPUs, the free memory, at least one", () => {
  const w: Change = { action: "write", path: "/etc/x", content: "", reason: "x" };
  const other: Change = { ...build("9"), parallel: "other" } as Change;
  const cs = [w, build("1"), build("2"), other, build("3")];
  assert.deepEqual(parallelGroup(cs, 0), [w]);
  assert.deepEqual(parallelGroup(cs, 1), [cs[1], cs[2]]);
  assert.deepEqual(parallelGroup(cs, 3), [other]);
  assert.deepEqual(parallelGroup(cs, 4), [cs[4]]);
  assert.equal(parallelism(8, 64 * 2 ** 30), 8);
  assert.equal(parallelism(8, 600 * 2 ** 20), 2, "a 1 GiB fixup VM with 600 MiB free");
  assert.equal(parallelism(2, 100 * 2 ** 20), 1);
});

async function guest(): Promise<string> {
  const root = await copyTree(join(SAMPLE, "root"));
  await mkdir(join(root, "boot"), { recursive: true });
  for (const k of KERNELS) await writeFile(join(root, image(k)), `old image ${k}\n`);
  return root;
}

/** A dracut that takes 150 ms, writes its image and a file in TMPDIR, and records how many ran at once. */
function fakeBuilds(root: string, fail?: string) {
  let running = 0;
  const seen = { peak: 0, tmpGone: false };
  const exec: ExecRunner = async (argv, o) => {
    running++;
    seen.peak = Math.max(seen.peak, running);
    const k = argv.at(-1)!;
    const tmp = join(root, o?.env?.TMPDIR ?? "/nonexistent", `dracut.${k}`);
    await writeFile(tmp, "work");
    await writeFile(join(root, image(k)), `new image ${k}\n`);
    await new Promise((r) => setTimeout(r, 150));
    // another build ending must not have cleared this one's TMPDIR
    if (!existsSync(tmp)) seen.tmpGone = true;
    running--;
    return k === fail ? { exitCode: 1, output: `dracut: cannot build ${k}`, timedOut: false } : { exitCode: 0, output: "", timedOut: false };
  };
  return { exec, seen };
}

const step: FixupStep = { name: "initrd", title: "initrd", fatal: true, failCode: "INITRD_FAILED", plan: async () => ({ warnings: [], changes: KERNELS.map(build) }) };

async function ctx(root: string): Promise<Omit<FixupContext, "view">> {
  return { info: await inspectGuest(new DiskView(new GuestRoot(root))), inputs: await loadInputs(join(SAMPLE, "inputs")), devices: [], log: new Logger({ keep: true }) };
}

test("three builds, two at a time: all run, none loses its TMPDIR, each is journaled done, TMPDIR is gone after", async () => {
  const root = await guest();
  const { exec, seen } = fakeBuilds(root);
  const c = await ctx(root);
  const out = await runSteps(new GuestRoot(root), [step], c, { mode: "apply", version: "t", exec, parallelism: 2 });
  assert.equal(out.failure, undefined, out.failure?.message);
  assert.equal(seen.peak, 2);
  assert.equal(seen.tmpGone, false);
  for (const k of KERNELS) assert.equal(await readFile(join(root, image(k)), "utf8"), `new image ${k}\n`);
  assert.equal(out.steps[0]!.changes.length, 3);
  assert.equal(existsSync(join(root, EXEC_TMPDIR)), false);
  assert.ok(c.log.lines.some((l) => l.includes("running 3 commands, 2 at a time")));
});

test("one at a time when parallelism is 1", async () => {
  const root = await guest();
  const { exec, seen } = fakeBuilds(root);
  const out = await runSteps(new GuestRoot(root), [step], await ctx(root), { mode: "apply", version: "t", exec, parallelism: 1 });
  assert.equal(out.failure, undefined, out.failure?.message);
  assert.equal(seen.peak, 1);
});

test("one build of the group fails: the step fails with its message after all have ended, and every image is the original again", async () => {
  const root = await guest();
  const before = await fingerprint(root);
  const { exec } = fakeBuilds(root, "6.1.0-2");
  const out = await runSteps(new GuestRoot(root), [step], await ctx(root), { mode: "apply", version: "t", exec, parallelism: 3 });
  assert.match(out.failure?.message ?? "", /dracut --force \/boot\/initrd\.img-6\.1\.0-2 6\.1\.0-2 exited with 1: dracut: cannot build 6\.1\.0-2/);
  assert.deepEqual(diffPrints(before, await fingerprint(root)), []);
});
