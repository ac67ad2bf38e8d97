// A large wave made from one real migration's files: N migrations with their own ids, manager
// steps, durations and outcomes (most succeed; the others fail in stage 1 with real codes or
// time out in a manager step), for the load-time test and the README screenshot.
import { STEP_NAMES } from "../../../src/manager/steps.ts";
import type { ManagerView, MigrationInput } from "../../../src/report/load.ts";
import { prng } from "../../helpers/fuzz.ts";

const FAILURES = [
  { code: 310, step: "initrd", message: "update-initramfs -u -k 6.1.0-27-amd64 exited with 1: W: Possible missing firmware" },
  { code: 320, step: "bootloader", message: "grub-install --target=i386-pc /dev/sda exited with 1: grub-install: error: cannot find EFI directory." },
  { code: 204, step: "preflight", message: "/boot has 31 MB free; the rebuilt images need about 64 MB: remove an old kernel's files" },
  { code: 200, step: "inspect", message: "no Linux root filesystem was found on the replica disks" },
];

export function synthWave(seed: MigrationInput, n: number): MigrationInput[] {
  const rnd = prng(4242);
  const base = seed.result;
  if (!base) throw new Error("the seed migration has no result");
  const t0 = Date.parse("2026-11-30T08:00:00Z");
  const out: MigrationInput[] = [];
  for (let i = 1; i <= n; i++) {
    const id = `wave-${String(i).padStart(3, "0")}`;
    const roll = rnd();
    const fail = roll < 0.08 ? FAILURES[Math.floor(rnd() * FAILURES.length)] : undefined;
    const timeout = !fail && roll < 0.1;
    const scale = 0.5 + rnd() * 2;
    const steps = base.steps.map((s) => ({ ...s, durationMs: Math.round(s.durationMs * scale * (1 + rnd())) }));
    if (fail) {
      const at = steps.findIndex((s) => s.name === fail.step);
      if (at >= 0) steps.splice(at, steps.length - at, { name: fail.step, status: "failed", durationMs: Math.round(4000 * scale), changes: [], warnings: [], error: { code: fail.code, message: fail.message } });
    }
    const durationMs = steps.reduce((a, s) => a + s.durationMs, 0);
    const result = { ...base, migrationId: id, steps, durationMs, status: fail ? ("failed" as const) : ("succeeded" as const), code: fail?.code ?? 0, message: fail ? fail.message : base.message, ...(fail ? { step: fail.step } : {}) };
    const start = t0 + i * 20_000;
    let at = start;
    const mgrSteps: ManagerView["steps"] = [];
    let error: ManagerView["error"];
    for (const name of STEP_NAMES) {
      const ms = name === "wait-end" ? durationMs + 40_000 + Math.round(rnd() * 30_000) : name === "wait-stage2" ? 60_000 + Math.round(rnd() * 90_000) : name.startsWith("wait") ? Math.round(20_000 + rnd() * 20_000) : Math.round(200 + rnd() * 3000);
      const failedHere = (fail && name === "check-result") || (timeout && name === "wait-stage2");
      mgrSteps.push({ name, status: failedHere ? "failed" : "done", attempts: 1, startedAt: new Date(at).toISOString(), finishedAt: new Date(at + ms).toISOString(), durationMs: ms });
      at += ms;
      if (failedHere) {
        error = fail ? { step: name, message: `step check-result failed: stage 1 failed (code ${fail.code}, step ${fail.step}): ${fail.message}`, code: fail.code } : { step: name, message: `step ${name} timed out after 3600 s` };
        break;
      }
    }
    const state: ManagerView = { status: error ? "failed" : "succeeded", startedAtMs: start, steps: mgrSteps, ...(error ? { error } : {}) };
    out.push({ id, result, state, notes: [] });
  }
  return out;
}
