// Runs migrations: each one a persisted state machine over STEPS, many at once under a
// concurrency limit. A failing migration records its error and leaves the others alone. A
// step is marked running before it starts and done after it succeeds, both persisted, so a
// restarted manager (--resume) reruns at most the step it was killed in; steps are written
// to be safe to rerun.
import { EventEmitter } from "node:events";
import { Logger } from "../util/log.ts";
import { DriverError, type Driver, type Vm } from "./drivers/types.ts";
import type { MigrationSpec } from "./spec.ts";
import { StateError, StateStore, type MigrationState } from "./state.ts";
import { MigrationFailure, STEPS, verifiesFirstBoot, type StepDef } from "./steps.ts";
import { writeMigrationReport, writeWavePages } from "../report/write.ts";
import { initialState } from "./store/initial.ts";
import type { MigrationStore } from "./store/types.ts";

export type ManagerEvent =
  | { type: "migration-start"; id: string; time: string; resumed: boolean; step: string; index: number; total: number }
  | { type: "step-start"; id: string; time: string; step: string; index: number; total: number; elapsedMs: number }
  | { type: "step-done"; id: string; time: string; step: string; index: number; total: number; elapsedMs: number; stepMs: number }
  | { type: "step-failed"; id: string; time: string; step: string; index: number; total: number; elapsedMs: number; stepMs: number; message: string; code?: number }
  | { type: "migration-done"; id: string; time: string; status: "succeeded" | "failed"; elapsedMs: number; message: string; step?: string; code?: number; logs?: { log: string; result: string; stage2?: string }; warnings?: string[] };

export interface ManagerOptions {
  driver: Driver;
  stateDir: string;
  logDir: string;
  concurrency?: number;
  pollMs?: number;
  /** Scale every step timeout (tests). */
  timeoutScale?: number;
  /** Called after a step's start, and after its completion, is persisted (the crash test kills the process there). */
  beforeStep?: (id: string, step: string) => void | Promise<void>;
  afterStep?: (id: string, step: string) => void | Promise<void>;
  /** Echo of each migration's log lines (besides <stateDir>/<id>.log). */
  echo?: (id: string, line: string) => void;
  /** Where the state lives (default: the embedded store, files in stateDir). */
  store?: MigrationStore;
}

export interface MigrationOutcome {
  id: string;
  status: "succeeded" | "failed";
  message: string;
  step?: string;
  code?: number;
  elapsedMs: number;
  /** A migration that succeeded with warnings (stage 2 without VMware Tools) lists them here. */
  warnings?: string[];
}

export class StepTimeoutError extends Error {
  constructor(step: string, seconds: number) {
    super(`step ${step} timed out after ${seconds} s`);
    this.name = "StepTimeoutError";
  }
}

export type Job = { spec: MigrationSpec; specPath?: string } | { resumeId: string };

export class Manager extends EventEmitter {
  readonly store: MigrationStore;
  private readonly o: ManagerOptions;

  constructor(o: ManagerOptions) {
    super();
    this.o = o;
    this.store = o.store ?? new StateStore(o.stateDir);
  }

  private emitEvent(ev: ManagerEvent): void {
    this.emit("event", ev);
  }

  /** Migrations recorded in the state directory that have not finished. */
  async unfinished(): Promise<string[]> {
    const out: string[] = [];
    for (const id of await this.store.ids()) {
      const st = await this.store.load(id).catch(() => undefined);
      if (st && st.status === "running") out.push(id);
    }
    return out;
  }

  /** Runs the jobs with at most `concurrency` at once; never rejects for one job's failure. */
  async runAll(jobs: Job[]): Promise<MigrationOutcome[]> {
    const limit = Math.max(1, this.o.concurrency ?? 4);
    const results: MigrationOutcome[] = new Array<MigrationOutcome>(jobs.length);
    let next = 0;
    const worker = async () => {
      for (;;) {
        const i = next++;
        if (i >= jobs.length) return;
        const job = jobs[i] as Job;
        results[i] = await this.runOne(job).catch((e: unknown) => ({
          id: "resumeId" in job ? job.resumeId : job.spec.migrationId,
          status: "failed" as const,
          message: (e as Error).message,
          elapsedMs: 0,
        }));
        await this.writeReport(results[i].id);
      }
    };
    await Promise.all(Array.from({ length: Math.min(limit, jobs.length) }, worker));
    await this.writeWaveReport(results.map((r) => r.id));
    return results;
  }

  /** The migration's report page beside its logs; one that cannot be written is logged, never fails the migration. */
  private async writeReport(id: string): Promise<void> {
    const st = await this.store.load(id).catch(() => undefined);
    await writeMigrationReport(st?.logDir ?? this.o.logDir, id, st).catch((e: unknown) => new Logger({ file: this.store.logFile(id) }).warn(`report page not written: ${(e as Error).message}`));
  }

  /** When the last migration has ended: the wave's page (index.html in the log directory), and each page again with its link to it. */
  private async writeWaveReport(ids: string[]): Promise<void> {
    const states = new Map<string, MigrationState>();
    for (const id of ids) {
      const st = await this.store.load(id).catch(() => undefined);
      if (st) states.set(id, st);
    }
    await writeWavePages(this.o.logDir, { states }).catch((e: unknown) => process.stderr.write(`osam-fixup: wave report not written in ${this.o.logDir}: ${(e as Error).message}\n`));
  }

  private async prepare(job: Job): Promise<{ st: MigrationState; resumed: boolean }> {
    if ("resumeId" in job) {
      const st = await this.store.load(job.resumeId);
      if (!st) throw new StateError(`no migration ${job.resumeId} in ${this.store.dir}`);
      return { st, resumed: true };
    }
    const id = job.spec.migrationId;
    const prev = await this.store.load(id);
    if (prev) {
      if (prev.status === "running") return { st: prev, resumed: true };
      throw new StateError(`migration ${id} already ${prev.status} (${this.store.file(id)}); remove that file to run it again`);
    }
    const st = initialState({ spec: job.spec, ...(job.specPath ? { specPath: job.specPath } : {}), driver: this.o.driver.name, logDir: this.o.logDir });
    await this.store.save(st);
    return { st, resumed: false };
  }

  async runOne(job: Job): Promise<MigrationOutcome> {
    const { st, resumed } = await this.prepare(job);
    if (st.driver !== this.o.driver.name) throw new StateError(`migration ${st.id} was started with the ${st.driver} driver, not ${this.o.driver.name}`);
    if (st.status !== "running") {
      return { id: st.id, status: st.status, message: st.error?.message ?? "already finished", elapsedMs: 0, ...(st.error ? { step: st.error.step } : {}) };
    }
    const unlock = await this.store.lock(st.id);
    const echo = this.o.echo;
    const log = new Logger({ file: this.store.logFile(st.id), ...(echo ? { echo: (l: string) => echo(st.id, l) } : {}) });
    let vm: Vm | undefined;
    const getVm = async (): Promise<Vm> => {
      if (vm) return vm;
      if (!st.vm) throw new DriverError("openVm", `migration ${st.id} has no VM yet`);
      vm = await this.o.driver.openVm(st.vm);
      return vm;
    };
    const t0 = st.startedAtMs;
    const total = STEPS.length;
    try {
      const firstPending = st.steps.findIndex((s) => s.status !== "done");
      this.emitEvent({ type: "migration-start", id: st.id, time: new Date().toISOString(), resumed, step: STEPS[firstPending]?.name ?? "done", index: firstPending + 1, total });
      log.info(`${resumed ? "resuming" : "starting"} migration ${st.id} with the ${this.o.driver.name} driver${resumed ? ` at step ${STEPS[firstPending]?.name}` : ""}`);
      for (let i = 0; i < STEPS.length; i++) {
        const def = STEPS[i] as StepDef;
        // a state saved by an older binary lacks the steps added since: they run as new ones
        if (!st.steps[i] && i === st.steps.length) st.steps.push({ name: def.name, status: "pending", attempts: 0 });
        const rec = st.steps[i];
        if (!rec) throw new StateError(`migration ${st.id}: state has no record for step ${def.name}`);
        if (rec.status === "done") continue;
        const timeoutS = (st.spec.timeouts?.[def.name] ?? def.timeoutS) * (this.o.timeoutScale ?? 1);
        rec.status = "running";
        rec.attempts++;
        rec.startedAt = new Date().toISOString();
        delete rec.error;
        await this.store.save(st);
        const s0 = Date.now();
        this.emitEvent({ type: "step-start", id: st.id, time: rec.startedAt, step: def.name, index: i + 1, total, elapsedMs: s0 - t0 });
        log.info(`step ${i + 1}/${total} ${def.name}: ${def.title}${rec.attempts > 1 ? ` (attempt ${rec.attempts})` : ""}`);
        await this.o.beforeStep?.(st.id, def.name);
        try {
          await this.runStep(def, st, getVm, log, timeoutS);
        } catch (e) {
          const msg = e instanceof StepTimeoutError ? e.message : `step ${def.name} failed: ${(e as Error).message}`;
          const code = e instanceof MigrationFailure ? e.code : undefined;
          rec.status = "failed";
          rec.error = (e as Error).message;
          rec.finishedAt = new Date().toISOString();
          rec.durationMs = Date.now() - s0;
          st.status = "failed";
          st.error = { step: def.name, message: msg, ...(code !== undefined ? { code } : {}) };
          await this.store.save(st);
          log.error(`migration ${st.id}: ${msg}`);
          this.emitEvent({ type: "step-failed", id: st.id, time: rec.finishedAt, step: def.name, index: i + 1, total, elapsedMs: Date.now() - t0, stepMs: rec.durationMs, message: msg, ...(code !== undefined ? { code } : {}) });
          this.emitEvent({ type: "migration-done", id: st.id, time: rec.finishedAt, status: "failed", elapsedMs: Date.now() - t0, message: msg, step: def.name, ...(code !== undefined ? { code } : {}), ...(st.collected ? { logs: st.collected } : {}) });
          return { id: st.id, status: "failed", message: msg, step: def.name, ...(code !== undefined ? { code } : {}), elapsedMs: Date.now() - t0 };
        }
        rec.status = "done";
        rec.finishedAt = new Date().toISOString();
        rec.durationMs = Date.now() - s0;
        await this.store.save(st);
        this.emitEvent({ type: "step-done", id: st.id, time: rec.finishedAt, step: def.name, index: i + 1, total, elapsedMs: Date.now() - t0, stepMs: rec.durationMs });
        await this.o.afterStep?.(st.id, def.name);
      }
      st.status = "succeeded";
      await this.store.save(st);
      const s2 = st.stage2;
      const warnings = s2?.status === "succeeded-with-warnings" ? [`stage 2 (${s2.code}): ${s2.reason}`] : [];
      const stage2 = s2 ? `stage 2 ${s2.status} (${s2.code})` : "stage 2 finished";
      const v = st.verification;
      const firstBoot = v ? `first boot verified on ${v.hypervisor}` : verifiesFirstBoot(st.spec) ? "first boot not verified (no console channel)" : "first boot not verified (turned off)";
      const msg = `${warnings.length ? "migrated with warnings" : "migrated"}: stage 1 ${st.stage1?.status ?? "?"} (code ${st.stage1?.code ?? "?"}), ${stage2}, NICs connected, ${firstBoot}${warnings.length ? `; ${warnings.join("; ")}` : ""}`;
      log.info(`migration ${st.id}: ${msg}`);
      this.emitEvent({ type: "migration-done", id: st.id, time: new Date().toISOString(), status: "succeeded", elapsedMs: Date.now() - t0, message: msg, ...(st.collected ? { logs: st.collected } : {}), ...(warnings.length ? { warnings } : {}) });
      return { id: st.id, status: "succeeded", message: msg, elapsedMs: Date.now() - t0, ...(warnings.length ? { warnings } : {}) };
    } finally {
      await vm?.close().catch(() => undefined);
      await unlock();
    }
  }

  private async runStep(def: StepDef, st: MigrationState, getVm: () => Promise<Vm>, log: Logger, timeoutS: number): Promise<void> {
    const ac = new AbortController();
    const timeoutMs = Math.round(timeoutS * 1000);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const e = new StepTimeoutError(def.name, timeoutS);
        ac.abort(e);
        reject(e);
      }, timeoutMs);
    });
    try {
      await Promise.race([
        def.run({ state: st, driver: this.o.driver, vm: getVm, log, signal: ac.signal, pollMs: this.o.pollMs ?? 2000, deadline: Date.now() + timeoutMs, save: () => this.store.save(st) }),
        timedOut,
      ]);
    } catch (e) {
      if (ac.signal.aborted && ac.signal.reason instanceof StepTimeoutError) throw ac.signal.reason;
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }
}
