// A step that says it may run alongside the one before it (the boot loader alongside the
// initramfs, issue 13) starts first, and the earlier step is planned and applied while its
// commands run; each failure still rolls the whole run back, byte exact, once both have ended.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile, writeFile, mkdir } from "node:fs/promises";
import { join } from "node:path";
import { GuestRoot } from "../../../src/guest/guest-root.ts";
import { runSteps } from "../../../src/engine/run.ts";
import type { Change } from "../../../src/engine/changes.ts";
import type { ExecRunner } from "../../../src/engine/exec.ts";
import type { FixupContext, FixupStep } from "../../../src/fixups/types.ts";
import { loadInputs } from "../../../src/protocol/inputs.ts";
import { inspectGuest } from "../../../src/guest/inspect.ts";
import { DiskView } from "../../../src/guest/view.ts";
import { Logger } from "../../../src/util/log.ts";
import { SAMPLE, copyTree, diffPrints, fingerprint } from "../../helpers/tree.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function guest(): Promise<string> {
  const root = await copyTree(join(SAMPLE, "root"));
  await mkdir(join(root, "boot/grub"), { recursive: true });
  await writeFile(join(root, "boot/initrd.img-1"), "old image\n");
  await writeFile(join(root, "boot/grub/grub.cfg"), "old cfg\n");
  return root;
}

async function ctx(root: string): Promise<Omit<FixupContext, "view">> {
  return { info: await inspectGuest(new DiskView(new GuestRoot(root))), inputs: await loadInputs(join(SAMPLE, "inputs")), devices: [], log: new Logger({ keep: true }) };
}

/** What happened, in order: "early plan start", "late exec end", ... */
type Events = string[];

/** The earlier step: a 200 ms plan, then its writes (and a command when asked). */
function early(ev: Events, o: { path?: string; exec?: boolean; fail?: boolean } = {}): FixupStep {
  return {
    name: "early",
    title: "early",
    fatal: true,
    failCode: "INITRD_FAILED",
    plan: async () => {
      ev.push("early plan start");
      await sleep(200);
      ev.push("early plan end");
      if (o.fail) throw new Error("early cannot plan");
      const changes: Change[] = [
        { action: "write", path: o.path ?? "/boot/initrd.img-1", content: "new image\n", reason: "complete the image" },
        { action: "write", path: "/etc/early.conf", content: "x\n", reason: "config" },
      ];
      if (o.exec) changes.push({ action: "exec", argv: ["early-tool"], produces: ["/boot/initrd.img-1"], reason: "rebuild" });
      return { warnings: [], changes };
    },
  };
}

/** The later step: a 400 ms command that writes grub.cfg; it runs alongside `early` while `when` says so. */
function late(ev: Events, when = true): FixupStep {
  return {
    name: "late",
    title: "late",
    fatal: true,
    failCode: "BOOTLOADER_FAILED",
    plan: async () => {
      ev.push("late plan");
      return { warnings: [], changes: [{ action: "exec", argv: ["late-tool"], produces: ["/boot/grub/grub.cfg"], reason: "regenerate" }] };
    },
    alongside: { step: "early", why: "test", when: async () => when },
  };
}

function runner(root: string, ev: Events, failing?: string): ExecRunner {
  return async (argv) => {
    ev.push(`${argv[0]} start`);
    if (argv[0] === "late-tool") await writeFile(join(root, "boot/grub/grub.cfg"), "new cfg\n");
    await sleep(400);
    ev.push(`${argv[0]} end`);
    return argv[0] === failing ? { exitCode: 1, output: `${argv[0]}: broken`, timedOut: false } : { exitCode: 0, output: "", timedOut: false };
  };
}

test("the later step's command runs while the earlier step is planned and applied; results keep the steps' order", async () => {
  const root = await guest();
  const ev: Events = [];
  const out = await runSteps(new GuestRoot(root), [early(ev), late(ev)], await ctx(root), { mode: "apply", version: "t", exec: runner(root, ev) });
  assert.equal(out.failure, undefined, out.failure?.message);
  assert.deepEqual(out.steps.map((s) => [s.name, s.status]), [["early", "changed"], ["late", "changed"]]);
  assert.ok(ev.indexOf("late-tool start") < ev.indexOf("early plan end"), `the command started before the earlier plan ended: ${ev.join(", ")}`);
  // the earlier step's plan waits for the command: one event loop, and the command is the long pole
  assert.ok(ev.indexOf("late-tool start") < ev.indexOf("early plan start"), `the earlier plan started after the command: ${ev.join(", ")}`);
  assert.equal(await readFile(join(root, "boot/initrd.img-1"), "utf8"), "new image\n");
  assert.equal(await readFile(join(root, "boot/grub/grub.cfg"), "utf8"), "new cfg\n");
});

test("where the condition does not hold, the steps run one after the other, as listed", async () => {
  const root = await guest();
  const ev: Events = [];
  const out = await runSteps(new GuestRoot(root), [early(ev), late(ev, false)], await ctx(root), { mode: "apply", version: "t", exec: runner(root, ev) });
  assert.equal(out.failure, undefined);
  assert.deepEqual(ev, ["early plan start", "early plan end", "late plan", "late-tool start", "late-tool end"]);
});

test("the earlier step's own command waits for the later step's end (one TMPDIR, the CPUs)", async () => {
  const root = await guest();
  const ev: Events = [];
  const out = await runSteps(new GuestRoot(root), [early(ev, { exec: true }), late(ev)], await ctx(root), { mode: "apply", version: "t", exec: runner(root, ev) });
  assert.equal(out.failure, undefined, out.failure?.message);
  assert.ok(ev.indexOf("early-tool start") > ev.indexOf("late-tool end"), ev.join(", "));
});

for (const c of [
  { what: "the later step's command fails", steps: (ev: Events) => [early(ev), late(ev)], failing: "late-tool", code: "BOOTLOADER_FAILED", step: "late" },
  { what: "the earlier step's command fails after the later step has ended", steps: (ev: Events) => [early(ev, { exec: true }), late(ev)], failing: "early-tool", code: "INITRD_FAILED", step: "early" },
  { what: "the earlier step's plan fails", steps: (ev: Events) => [early(ev, { fail: true }), late(ev)], failing: undefined, code: "INITRD_FAILED", step: "early" },
  { what: "both steps would change one path", steps: (ev: Events) => [early(ev, { path: "/boot/grub/grub.cfg" }), late(ev)], failing: undefined, code: "INTERNAL", step: "early" },
]) {
  test(`${c.what}: the run fails at that step and the guest is byte for byte as before`, async () => {
    const root = await guest();
    const before = await fingerprint(root);
    const ev: Events = [];
    const out = await runSteps(new GuestRoot(root), c.steps(ev), await ctx(root), { mode: "apply", version: "t", exec: runner(root, ev, c.failing) });
    assert.equal(out.failure?.codeName, c.code, out.failure?.message);
    assert.equal(out.failure?.step, c.step);
    // no command still running when the run returned: its end came before the rollback
    assert.equal(ev.filter((e) => e.endsWith(" start") && e !== "early plan start").length, ev.filter((e) => e.endsWith(" end") && e !== "early plan end").length, ev.join(", "));
    assert.deepEqual(diffPrints(before, await fingerprint(root)), []);
  });
}
