// result.json timings: every phase of stage 1 is there, the entries never overlap, they fit in
// the total, and every step's plan, every change's backup and write and every command has one.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { runStage1 } from "../../../src/agent/stage1.ts";
import { loadInputs } from "../../../src/protocol/inputs.ts";
import { Result, type Timing } from "../../../src/protocol/schemas.ts";
import { FIXUP_FILES } from "../../../src/protocol/files.ts";
import type { ExecRunner } from "../../../src/engine/exec.ts";
import { Logger } from "../../../src/util/log.ts";
import { PhaseClock, coveredMs, gapsOf, totalsOf } from "../../../src/util/timings.ts";
import { SAMPLE, SKIP_CHROOT, copyTree, tempDir } from "../../helpers/tree.ts";
import { CLI_SCRIPT } from "../../helpers/cli.ts";
import { deliver, startAgent } from "../../helpers/agent.ts";

/** A guest tool that takes a measurable while and succeeds. */
const slowTool: ExecRunner = async () => {
  await new Promise((r) => setTimeout(r, 30));
  return { exitCode: 0, output: "", timedOut: false };
};

function assertConsistent(r: Result): Timing[] {
  const t = r.timings ?? [];
  assert.ok(t.length > 0, "timings present");
  for (const e of t) assert.ok(e.startMs + e.durationMs <= r.durationMs, `${e.phase} ends within the total (${e.startMs}+${e.durationMs} > ${r.durationMs})`);
  // a step run alongside another has its own time line: neither line overlaps itself
  const lines = new Map<string, Timing[]>();
  for (const e of t) {
    const key = e.alongside ? `${e.step ?? ""} alongside ${e.alongside}` : "";
    lines.set(key, [...(lines.get(key) ?? []), e]);
  }
  for (const line of lines.values()) {
    const sorted = [...line].sort((a, b) => a.startMs - b.startMs);
    for (let i = 0; i + 1 < sorted.length; i++) {
      const [e, next] = [sorted[i]!, sorted[i + 1]!];
      assert.ok(e.startMs + e.durationMs <= next.startMs, `${e.phase} ${e.what ?? ""} overlaps ${next.phase} ${next.what ?? ""}`);
    }
    const sum = line.reduce((s, e) => s + e.durationMs, 0);
    assert.ok(sum <= r.durationMs, `the phases (${sum} ms) fit in the total (${r.durationMs} ms)`);
  }
  return t;
}

test("timings: apply times inspection, every step's plan, every backup, write and command", async () => {
  const root = await copyTree(join(SAMPLE, "root"));
  const inputs = await loadInputs(join(SAMPLE, "inputs"));
  const { result } = await runStage1({ root, inputs, mode: "apply", log: new Logger(), exec: slowTool });
  assert.equal(result.status, "succeeded", result.message);
  Result.parse(result);
  const t = assertConsistent(result);
  for (const p of ["undo-previous", "inspect", "journal"] as const) assert.ok(t.some((e) => e.phase === p), `${p} is timed`);
  for (const s of result.steps) {
    assert.equal(t.filter((e) => e.phase === "plan" && e.step === s.name).length, 1, `step ${s.name} has one plan entry`);
    for (const c of s.changes) {
      const mine = t.filter((e) => e.step === s.name);
      if (c.action === "exec") {
        const ex = mine.filter((e) => e.phase === "exec" && e.what?.includes(c.argv![0]!));
        assert.ok(ex.length >= 1, `command ${c.argv!.join(" ")} is timed`);
        assert.ok(ex.every((e) => e.durationMs >= 25), "the command's own time is in its entry");
      } else {
        assert.ok(mine.some((e) => e.phase === "backup" && e.what?.includes(c.path!)), `backup of ${c.path} is timed`);
        assert.ok(mine.some((e) => e.phase === "write" && e.what?.includes(c.path!)), `write of ${c.path} is timed`);
      }
    }
  }
  assert.ok(result.steps.some((s) => s.changes.some((c) => c.action === "exec")), "the sample runs at least one command");
  // the sample's initrd step runs alongside the boot loader's: its entries say so
  assert.ok(t.some((e) => e.step === "initrd" && e.alongside === "bootloader"), "initrd's entries are marked alongside bootloader");
  assert.deepEqual(t.filter((e) => e.alongside && e.step !== "initrd"), [], "no other step's entries are marked");
});

test("timings: plan mode times inspection and each step's plan, and nothing is applied", async () => {
  const root = await copyTree(join(SAMPLE, "root"));
  const inputs = await loadInputs(join(SAMPLE, "inputs"));
  const { result } = await runStage1({ root, inputs, mode: "plan", log: new Logger() });
  const t = assertConsistent(result);
  assert.ok(t.some((e) => e.phase === "inspect"));
  assert.deepEqual(t.filter((e) => !["inspect", "plan", "validate"].includes(e.phase)), [], "no backup, write or command in plan mode");
  assert.equal(t.filter((e) => e.phase === "plan").length, result.steps.length);
});

test("timings: the agent's result starts at BEGIN and times the inputs; fixup.log has a time: line for each", async () => {
  const root = await copyTree(join(SAMPLE, "root"));
  const dir = await tempDir();
  await deliver(dir, join(SAMPLE, "inputs"));
  const run = startAgent([process.execPath, CLI_SCRIPT, "agent", "--fixup-dir", dir, "--root", root, ...SKIP_CHROOT, "-q"]);
  assert.equal((await run.exit).code, 0);
  const result = Result.parse(JSON.parse(await readFile(join(dir, FIXUP_FILES.result), "utf8")));
  const t = assertConsistent(result);
  assert.equal(t[0]!.phase, "inputs");
  const log = await readFile(join(dir, FIXUP_FILES.log), "utf8");
  assert.equal(log.split("\n").filter((l) => / INFO {2}time: /.test(l)).length, t.length);
  assert.ok(existsSync(join(dir, FIXUP_FILES.end)));
});

test("gapsOf: what no entry covers, with the entry it follows", () => {
  const clock = new PhaseClock(1000);
  clock.add("inspect", 1100, 1300);
  clock.add("plan", 1300, 1350, { step: "fstab" });
  clock.add("exec", 2000, 2500, { step: "initrd", what: "exec update-initramfs" });
  assert.deepEqual(gapsOf(clock.entries, 3000), [
    { afterMs: 0, durationMs: 100, after: "start" },
    { afterMs: 350, durationMs: 650, after: "plan [fstab]" },
    { afterMs: 1500, durationMs: 1500, after: "exec [initrd] exec update-initramfs" },
  ]);
  assert.deepEqual(gapsOf([], 0), []);
});

test("coveredMs: the wall time covered, overlapping entries once", () => {
  const clock = new PhaseClock(0);
  clock.add("exec", 100, 600, { step: "initrd", what: "exec dracut 1" });
  clock.add("exec", 300, 900, { step: "initrd", what: "exec dracut 2" });
  clock.add("exec", 400, 500, { step: "bootloader", what: "exec grub-install" });
  clock.add("exec", 1000, 1200, { step: "bootloader", what: "exec grub-mkconfig" });
  assert.equal(coveredMs(clock.entries), 800 + 200);
  assert.equal(coveredMs([]), 0);
});

test("totalsOf: per phase, largest total first, with its longest entry", () => {
  const clock = new PhaseClock(0);
  clock.add("backup", 0, 10, { step: "fstab", what: "write /etc/fstab" });
  clock.add("exec", 10, 900, { step: "initrd", what: "exec update-initramfs" });
  clock.add("backup", 900, 1400, { step: "bootloader", what: "300 file(s)" });
  assert.deepEqual(
    totalsOf(clock.entries).map((t) => [t.phase, t.count, t.totalMs, t.largest.what]),
    [
      ["exec", 1, 890, "exec update-initramfs"],
      ["backup", 2, 510, "300 file(s)"],
    ],
  );
});
