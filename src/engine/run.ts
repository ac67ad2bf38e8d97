// Applies (or only plans) a sequence of fixup steps. Each step plans against the guest as
// the previous steps left it; in apply mode every change is journaled and backed up first.
import { availableParallelism, freemem } from "node:os";
import { posix } from "node:path";
import { FixupError } from "../protocol/codes.ts";
import type { StepResult } from "../protocol/schemas.ts";
import type { GuestRoot } from "../guest/guest-root.ts";
import { DiskView, OverlayView } from "../guest/view.ts";
import type { FixupContext, FixupStep } from "../fixups/types.ts";
import { showArgv } from "../util/log.ts";
import { type Change, contentBuffer, summarize } from "./changes.ts";
import { changeDiff, contentBefore } from "./diff.ts";
import type { ExecRunner } from "./exec.ts";
import { EXEC_TMPDIR, Journal, hasOtherNames } from "./journal.ts";
import type { DiskAccess } from "../bootloader/boot-area.ts";
import { type PhaseClock, timed } from "../util/timings.ts";

export interface PlannedChange {
  step: string;
  change: Change;
  /** For write/remove: the content before (undefined: the file does not exist). */
  before?: Buffer;
  /** For rename: the content that moves. */
  moved?: Buffer;
}

export interface RunOptions {
  mode: "plan" | "apply";
  version: string;
  exec?: ExecRunner;
  onProgress?: (line: string) => void;
  /** Raw disk access for boot code backups; golden tests give disks in memory. */
  disks?: DiskAccess;
  /**
   * The journal of an earlier run, already rolled back by the caller (who had to inspect the
   * guest as it was before); without it, apply mode rolls back here.
   */
  journal?: Journal;
  /** Test hook: called after each applied change (crash-injection tests kill the process here). */
  afterChange?: (n: number) => void;
  /** Records each step's plan and each change's backup, write and command (result.json timings). */
  clock?: PhaseClock;
  /** How many commands of a parallel group may run at once; default: parallelism(). */
  parallelism?: number;
}

/** Memory one initramfs build may take (its compressor and cpio; the tree it builds is on disk). */
const BUILD_MEMORY = 256 * 2 ** 20;

/** Commands of a parallel group at once: bounded by the CPUs and by the free memory. */
export function parallelism(cpus = availableParallelism(), free = freemem()): number {
  return Math.max(1, Math.min(cpus, Math.floor(free / BUILD_MEMORY)));
}

/** The changes from i that run as one parallel group: consecutive execs with i's parallel key. */
export function parallelGroup(changes: Change[], i: number): Change[] {
  const first = changes[i]!;
  if (first.action !== "exec" || first.parallel === undefined) return [first];
  let j = i + 1;
  while (j < changes.length) {
    const c = changes[j]!;
    if (c.action !== "exec" || c.parallel !== first.parallel) break;
    j++;
  }
  return changes.slice(i, j);
}

export interface RunOutcome {
  steps: StepResult[];
  planned: PlannedChange[];
  warnings: string[];
  failure?: FixupError;
  /** In plan mode: the guest as the planned changes would leave it. */
  view?: OverlayView;
}

type BaseContext = Omit<FixupContext, "view">;

function errorOf(step: FixupStep, e: unknown): FixupError {
  if (e instanceof FixupError) return e.step ? e : new FixupError(e.codeName, e.message, step.name);
  const msg = e instanceof Error ? e.message : String(e);
  // a full disk is the guest's state, not the step's fault: say so, and what to free
  if ((e as NodeJS.ErrnoException | undefined)?.code === "ENOSPC") return new FixupError("GUEST_NO_SPACE", `${step.title}: the guest ran out of disk space (${msg}); free space on / and /boot and run stage 1 again`, step.name);
  return new FixupError(step.fatal ? step.failCode : "APPLY_FAILED", `${step.title}: ${msg}`, step.name);
}

function describe(c: Change): string {
  switch (c.action) {
    case "exec":
      return `exec ${showArgv(c.argv)}`;
    case "rename":
      return `rename ${c.path} -> ${c.to}`;
    case "symlink":
      return `symlink ${c.path} -> ${c.target}`;
    default:
      return `${c.action} ${c.path}`;
  }
}

/**
 * A journal left by an earlier run (crashed, failed or finished) is rolled back first, so a
 * re-run always starts from the original guest and converges to the same result.
 */
export async function undoPreviousRun(guest: GuestRoot, log: FixupContext["log"], onProgress?: (line: string) => void, disks?: DiskAccess): Promise<Journal> {
  const journal = await Journal.read(guest, disks);
  if (!journal.isEmpty) {
    const say = (t: string) => {
      log.info(`progress: journal ${t}`);
      onProgress?.(`${new Date().toISOString()} journal ${t}`);
    };
    say(`previous run found (${journal.lastStatus}): restoring its originals before starting again`);
    say(`restored ${await journal.rollback(log)} originals`);
  }
  return journal;
}

export async function runSteps(guest: GuestRoot, steps: FixupStep[], base: BaseContext, opts: RunOptions): Promise<RunOutcome> {
  const out: RunOutcome = { steps: [], planned: [], warnings: [] };
  const log = base.log;
  const progress = (step: string, text: string) => {
    const line = `${new Date().toISOString()} ${step} ${text}`;
    log.info(`progress: ${step} ${text}`);
    opts.onProgress?.(line);
  };

  const overlay = new OverlayView(guest);
  if (opts.mode === "plan") out.view = overlay;
  let journal: Journal | undefined;
  if (opts.mode === "apply") journal = opts.journal ?? (await undoPreviousRun(guest, log, opts.onProgress, opts.disks));

  // every step checks the inputs against the guest before the first change of any step
  for (const step of steps) {
    if (!step.validate) continue;
    try {
      await timed(opts.clock, "validate", () => step.validate!({ ...base, view: new DiskView(guest) }), { step: step.name });
    } catch (e) {
      const err = errorOf(step, e);
      out.steps.push({ name: step.name, status: "failed", durationMs: 0, changes: [], warnings: [], error: { code: err.code, message: err.message } });
      out.failure = err;
      return out;
    }
  }

  if (journal) {
    try {
      await timed(opts.clock, "journal", () => journal.begin(opts.version), { what: "begin" });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "EROFS" || code === "EACCES" || code === "EPERM" || code === "ENOSPC" || code === "EDQUOT") {
        out.failure = new FixupError("GUEST_NO_SPACE", `the guest root is not writable (${code}: ${(e as Error).message}); mount it read-write with free space and run again`, "journal");
        return out;
      }
      throw e;
    }
  }
  let applied = 0;
  /** Files written without their own flush: a crash before the end is rolled back from their originals. */
  const written: string[] = [];

  /**
   * Plans one step and, in apply mode, applies it; throws what it fails with. `lane` runs it
   * alongside another step (see FixupStep.alongside): its file changes wait for the other's
   * plan and must touch none of its paths, its commands wait for the other's end.
   */
  const runOne = async (step: FixupStep, result: StepResult, lane?: Lane): Promise<void> => {
    const clock = lane?.beside ? opts.clock?.alongside(lane.beside) : opts.clock;
    const ctx: FixupContext = { ...base, view: opts.mode === "plan" ? overlay : new DiskView(guest) };
    await lane?.beforePlan();
    const plan = await timed(clock, "plan", () => step.plan(ctx), { step: step.name });
    lane?.planned(plan.changes);
    result.warnings.push(...plan.warnings);
    if (plan.notes?.length) result.notes = plan.notes;
    if (plan.skipped !== undefined) {
      result.status = "skipped";
      progress(step.name, `skipped: ${plan.skipped}`);
    }
    if (opts.mode === "plan") {
      for (const c of plan.changes) {
        const pc = await planOne(overlay, step.name, c);
        if (!pc) continue;
        out.planned.push(pc);
        result.changes.push(summarize(c, changeDiff(c, pc.before)));
      }
    } else {
      await lane?.beforeChanges(plan.changes);
      await timed(clock, "journal", async () => journal!.append({ t: "step", name: step.name }), { step: step.name, what: "step" });
      // the originals of the step's file changes in one batch: one flush and one journal entry
      // for them all, instead of three flushes for each (applyOne still saves any it misses)
      const files = plan.changes.filter((c) => c.action !== "exec").length;
      if (files > 1) await timed(clock, "backup", () => saveStepOriginals(guest, journal!, plan.changes), { step: step.name, what: `originals of ${files} change(s)` });
      const timer = (c: Change): Timer => (phase, fn, what) => {
        if (phase === "exec") lane?.running();
        return timed(clock, phase, fn, { step: step.name, what: what ?? describe(c) });
      };
      const done = async (c: Change, before: Buffer | undefined) => {
        result.changes.push(summarize(c, changeDiff(c, before)));
        // not flushed on its own: rollback does not need it (the originals are journaled before
        // each change), and the next entry's flush carries it
        await timed(clock, "journal", async () => journal!.appendEntries([{ t: "done", step: step.name, action: c.action, ...(c.action === "exec" ? {} : { path: c.path }) }], false), { step: step.name, what: "done" });
        progress(step.name, `${describe(c)}: ${c.reason}`);
        opts.afterChange?.(++applied);
      };
      for (let i = 0; i < plan.changes.length; ) {
        const group = parallelGroup(plan.changes, i);
        i += group.length;
        if (group[0]!.action === "exec") await lane?.beforeExec();
        if (group.length > 1) {
          const execs = group as ExecChange[];
          await applyExecGroup(guest, journal!, execs, base, opts.exec, timer, opts.parallelism ?? parallelism());
          for (const c of execs) await done(c, undefined);
          continue;
        }
        const c = group[0]!;
        const before = await contentBefore(guest, c);
        if (await applyOne(guest, journal!, c, base, opts.exec, timer(c), written)) await done(c, before);
      }
    }
    settle(result);
  };

  const recordFailure = (result: StepResult, err: FixupError) => {
    result.status = "failed";
    result.error = { code: err.code, message: err.message };
    log.error(`step ${result.name} failed: ${err.message}`);
  };

  /** Records a failed step; returns true when the run stops (a fatal step: all rolled back). */
  const failed = async (step: FixupStep, result: StepResult, e: unknown, mark: number, t0: number): Promise<boolean> => {
    const err = errorOf(step, e);
    recordFailure(result, err);
    if (e instanceof Error && !(e instanceof FixupError) && e.stack) log.debug(e.stack);
    if (journal) {
      if (step.fatal) {
        progress(step.name, `failed (${err.message}); restoring every original`);
        await timed(opts.clock, "rollback", () => journal.rollback(log), { step: step.name });
      } else {
        await timed(opts.clock, "rollback", () => journal.rollback(log, mark), { step: step.name });
        progress(step.name, `failed, not fatal (${err.message}); this step's changes were undone`);
      }
    }
    if (step.fatal) {
      result.durationMs = Date.now() - t0;
      out.failure = err;
      return true;
    }
    result.warnings.push(`${step.name}: ${err.message} (best effort; left as it was)`);
    return false;
  };

  const finish = (result: StepResult, t0: number, end = Date.now()) => {
    result.durationMs = end - t0;
    for (const w of result.warnings) {
      out.warnings.push(w.startsWith(result.name + ":") ? w : `${result.name}: ${w}`);
      log.warn(`${result.name}: ${w}`);
    }
  };

  const fresh = (step: FixupStep): StepResult => ({ name: step.name, status: "unchanged", durationMs: 0, changes: [], warnings: [] });

  for (let si = 0; si < steps.length; si++) {
    const step = steps[si]!;
    const next = steps[si + 1];
    if (journal && next?.alongside?.step === step.name && (await goesAlongside(step, next, { ...base, view: new DiskView(guest) }))) {
      // the next step's commands are the long pole: it starts first, and this step is planned
      // and applied while they run
      const t0 = Date.now();
      const results = [fresh(step), fresh(next)] as const;
      out.steps.push(...results);
      const lanes = Lane.pair(step.name, next.name);
      log.info(`${next.name} runs alongside ${step.name}: ${next.alongside.why}`);
      const ends = [t0, t0];
      const lane = (i: 0 | 1, s: FixupStep, l: Lane) =>
        runOne(s, results[i], l).then(
          () => l.end(false),
          (e: unknown) => {
            l.end(true);
            throw e;
          },
        ).finally(() => (ends[i] = Date.now()));
      const [second, first] = await Promise.allSettled([lane(1, next, lanes.long), lane(0, step, lanes.short)]);
      const outcomes = [first, second] as const;
      // the run fails with the first real failure in step order; the other step either failed
      // too or was stopped by it, and everything is rolled back once both have ended
      const i = outcomes.findIndex((o) => o.status === "rejected" && !(o.reason instanceof Stopped));
      if (i >= 0) {
        const pair = [step, next] as const;
        for (const j of [0, 1] as const) {
          const o = outcomes[j];
          if (j === i) continue;
          if (o.status === "rejected" && o.reason instanceof Stopped) {
            settle(results[j]);
            results[j].warnings.push(o.reason.message);
          } else if (o.status === "rejected") recordFailure(results[j], errorOf(pair[j], o.reason));
          // what the other step found stays reported, as it would have been had it run alone
          finish(results[j], t0, ends[j]);
        }
        await failed(pair[i]!, results[i]!, (outcomes[i] as PromiseRejectedResult).reason, 0, t0);
        return out;
      }
      results.forEach((r, j) => finish(r, t0, ends[j]));
      si++;
      continue;
    }
    const t0 = Date.now();
    const result = fresh(step);
    out.steps.push(result);
    const mark = journal?.mark() ?? 0;
    try {
      await runOne(step, result);
    } catch (e) {
      if (await failed(step, result, e, mark, t0)) return out;
    }
    finish(result, t0);
  }
  if (journal) {
    // the files written are made durable once, before the run says it succeeded
    await timed(opts.clock, "journal", () => guest.syncWritten(written), { what: `flush ${written.length} written file(s)` });
    journal.append({ t: "complete", status: "succeeded" });
  }
  return out;
}

/** A step's status once it has ended without failing: skipped as its plan said, or by its changes. */
function settle(result: StepResult): void {
  if (result.status !== "skipped") result.status = result.changes.length ? "changed" : "unchanged";
}

/** Thrown in a step running alongside another that failed: it stops before its next change. */
class Stopped extends Error {}

/** Whether `next`, which names `step` as the one it may run alongside, does so now (apply mode). */
async function goesAlongside(step: FixupStep, next: FixupStep, ctx: FixupContext): Promise<boolean> {
  // a failure of either rolls the whole run back: the other's half-made changes go with it
  if (!step.fatal || !next.fatal) throw new FixupError("INTERNAL", `${next.name} may only run alongside ${step.name} if both are fatal`);
  return next.alongside!.when(ctx);
}

/** The guest paths a change may write: its own, a command's outputs and the directories it rewrites. */
function pathsOf(changes: Change[]): string[] {
  return changes.flatMap((c) => (c.action === "exec" ? [...(c.produces ?? []), ...(c.rewritesDirs ?? [])] : c.action === "rename" ? [c.path, c.to] : [c.path]));
}

const within = (a: string, b: string) => a === b || a.startsWith(b + "/") || b.startsWith(a + "/");

/**
 * One of two steps running alongside each other. The long lane (the step whose commands take
 * longest) goes unhindered. The short lane starts planning only once the long lane's first
 * command runs (or the long lane has ended): the plans share one event loop, and the short
 * lane's (reading an initramfs image) would otherwise delay that command, measured 1.5 s more
 * to grub-install's start. It makes its file changes only once the long lane's plan is known
 * and shares no path with it, and runs its own commands only after the long lane has ended:
 * commands share the command TMPDIR, and the CPUs. Either lane stops before its next change
 * once the other has failed.
 */
class Lane {
  private paths: string[] = [];
  private failed = false;
  private other!: Lane;
  private readonly plannedOnce: Promise<void>;
  private readonly runningOnce: Promise<void>;
  private readonly endedOnce: Promise<void>;
  private markPlanned!: () => void;
  private markRunning!: () => void;
  private markEnded!: () => void;

  readonly name: string;
  private readonly waits: boolean;

  private constructor(name: string, waits: boolean) {
    this.name = name;
    this.waits = waits;
    this.plannedOnce = new Promise((r) => (this.markPlanned = r));
    this.runningOnce = new Promise((r) => (this.markRunning = r));
    this.endedOnce = new Promise((r) => (this.markEnded = r));
  }

  /** The step this lane runs alongside, for the short lane (its timings say so). */
  get beside(): string | undefined {
    return this.waits ? this.other.name : undefined;
  }

  static pair(short: string, long: string): { short: Lane; long: Lane } {
    const s = new Lane(short, true);
    const l = new Lane(long, false);
    s.other = l;
    l.other = s;
    return { short: s, long: l };
  }

  planned(changes: Change[]): void {
    this.paths = pathsOf(changes);
    this.markPlanned();
  }

  async beforeChanges(changes: Change[]): Promise<void> {
    if (this.waits) {
      await this.other.plannedOnce;
      const clash = pathsOf(changes).find((p) => this.other.paths.some((q) => within(p, q)));
      if (clash) throw new FixupError("INTERNAL", `${this.name} and ${this.other.name} both change ${clash}: they cannot run alongside each other`);
    }
    this.stopIfOtherFailed();
  }

  async beforePlan(): Promise<void> {
    if (this.waits) await this.other.runningOnce;
    this.stopIfOtherFailed("not run");
  }

  async beforeExec(): Promise<void> {
    if (this.waits) await this.other.endedOnce;
    this.stopIfOtherFailed();
  }

  /** A command of this lane starts now (its backup done). */
  running(): void {
    this.markRunning();
  }

  end(failed: boolean): void {
    this.failed = failed;
    this.markPlanned();
    this.markRunning();
    this.markEnded();
  }

  private stopIfOtherFailed(what = "stopped before its next change"): void {
    if (this.other.failed) throw new Stopped(`${what}: ${this.other.name}, which ran alongside it, failed`);
  }
}

async function planOne(view: OverlayView, step: string, c: Change): Promise<PlannedChange | undefined> {
  switch (c.action) {
    case "write": {
      const before = await view.readBytes(c.path);
      const after = contentBuffer(c.content);
      if (before && before.equals(after)) return undefined;
      view.setFile(c.path, after);
      return { step, change: c, before };
    }
    case "remove": {
      if (!(await view.kind(c.path))) return undefined;
      const before = (await view.kind(c.path)) === "file" ? await view.readBytes(c.path) : undefined;
      view.setRemoved(c.path);
      return { step, change: c, before };
    }
    case "rename": {
      if (!(await view.kind(c.path))) return undefined;
      const moved = await view.readBytes(c.path);
      await view.rename(c.path, c.to);
      return { step, change: c, moved };
    }
    case "symlink": {
      if ((await view.readlink(c.path)) === c.target) return undefined;
      view.setLink(c.path, c.target);
      return { step, change: c };
    }
    case "exec":
      return { step, change: c };
  }
}

/**
 * Saves, as one batch, the original of every path the step's file changes will touch, resolved
 * as applyOne resolves it. An original saved before an earlier change of the step is still the
 * true original; a path only a later change makes reachable (a write through a link the step
 * creates) is saved by applyOne when it gets there.
 */
async function saveStepOriginals(guest: GuestRoot, journal: Journal, changes: Change[]): Promise<void> {
  const paths: string[] = [];
  for (const c of changes) {
    if (c.action === "write") paths.push((await guest.resolve(c.path)).guest);
    else if (c.action === "remove" || c.action === "symlink") paths.push((await guest.resolve(c.path, false)).guest);
    else if (c.action === "rename") paths.push((await guest.resolve(c.path, false)).guest, (await guest.resolve(c.to, false)).guest);
  }
  await journal.saveOriginals(paths);
}

// parents first: undone in reverse, the file goes before its new directory is removed
async function ensureParent(guest: GuestRoot, journal: Journal, path: string): Promise<void> {
  journal.recordCreatedDirs(await guest.mkdirp(posix.dirname(path)));
}

/** The ancestors of dir (itself included) that do not exist yet, outermost first. */
async function missingDirs(guest: GuestRoot, dir: string): Promise<string[]> {
  const out: string[] = [];
  for (let d = dir; d !== "/" && !(await guest.kind(d)); d = posix.dirname(d)) out.unshift(d);
  return out;
}

/** Times one part of a change: its backup, its write or its command. */
type Timer = <T>(phase: "backup" | "write" | "exec", fn: () => Promise<T>, what?: string) => Promise<T>;

/** Applies one change; returns false when the guest already has it (nothing done). */
async function applyOne(guest: GuestRoot, journal: Journal, c: Change, base: BaseContext, exec: ExecRunner | undefined, time: Timer, written: string[]): Promise<boolean> {
  switch (c.action) {
    case "write": {
      const r = await guest.resolve(c.path);
      const data = contentBuffer(c.content);
      if (r.stat?.isFile() && (await guest.readFile(r.guest)).equals(data) && (c.mode === undefined || (r.stat.mode & 0o7777) === c.mode)) return false;
      await time("backup", async () => {
        await ensureParent(guest, journal, r.guest);
        await journal.saveOriginal(r.guest);
      });
      // a file with other names (hard links) is changed in its inode, after the backup, so they all see it
      if (hasOtherNames(r.stat)) await time("write", () => guest.writeInPlace(r.guest, data, c.mode));
      else {
        // flushed with the others at the end of the run (its original is durable already)
        await time("write", () => guest.writeFile(r.guest, data, c.mode, undefined, { durable: false }));
        written.push(r.guest);
      }
      return true;
    }
    case "remove": {
      const r = await guest.resolve(c.path, false);
      if (!r.stat) return false;
      await time("backup", () => journal.saveOriginal(r.guest));
      await time("write", () => guest.remove(r.guest));
      return true;
    }
    case "rename": {
      const a = await guest.resolve(c.path, false);
      if (!a.stat) return false;
      const b = await guest.resolve(c.to, false);
      await time("backup", async () => {
        await ensureParent(guest, journal, b.guest);
        await journal.saveOriginal(a.guest);
        await journal.saveOriginal(b.guest);
      });
      await time("write", () => guest.rename(a.guest, b.guest));
      return true;
    }
    case "symlink": {
      const r = await guest.resolve(c.path, false);
      if ((await guest.readlink(r.guest)) === c.target) return false;
      await time("backup", async () => {
        await ensureParent(guest, journal, r.guest);
        await journal.saveOriginal(r.guest);
      });
      await time("write", () => guest.symlink(r.guest, c.target));
      return true;
    }
    case "exec": {
      if (!exec) throw new FixupError("INTERNAL", `no command runner for ${showArgv(c.argv)}`);
      await backupExec(guest, journal, c, time);
      try {
        await runExec(c, exec, base, time);
      } finally {
        await journal.clearExecTmp();
      }
      return true;
    }
  }
}

type ExecChange = Extract<Change, { action: "exec" }>;

/**
 * Runs a parallel group: every command's backup first, in order, then the commands, at most
 * `limit` at once. They share the command TMPDIR, cleared when the last has ended. The first
 * failure (in the group's order) is thrown once all have ended, so no command is left running
 * while the step is rolled back.
 */
async function applyExecGroup(guest: GuestRoot, journal: Journal, group: ExecChange[], base: BaseContext, exec: ExecRunner | undefined, timer: (c: Change) => Timer, limit: number): Promise<void> {
  if (!exec) throw new FixupError("INTERNAL", `no command runner for ${showArgv(group[0]!.argv)}`);
  for (const c of group) await backupExec(guest, journal, c, timer(c));
  base.log.info(`running ${group.length} commands, ${Math.min(limit, group.length)} at a time: ${group.map((c) => showArgv(c.argv)).join("; ")}`);
  const errors: (Error | undefined)[] = new Array<Error | undefined>(group.length);
  let next = 0;
  const worker = async () => {
    for (let k = next++; k < group.length; k = next++) {
      await runExec(group[k]!, exec, base, timer(group[k]!)).catch((e: unknown) => {
        errors[k] = e instanceof Error ? e : new Error(String(e));
      });
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(limit, group.length) }, worker));
  } finally {
    await journal.clearExecTmp();
  }
  const failed = errors.find((e) => e !== undefined);
  if (failed !== undefined) throw failed;
}

/** Saves what a command may write (its outputs, the boot code) before it runs. */
async function backupExec(guest: GuestRoot, journal: Journal, c: ExecChange, time: Timer): Promise<void> {
  await time("backup", async () => {
    const moved: string[] = [];
    for (const d of c.rewritesDirs ?? []) {
      const r = await guest.resolve(d);
      if (r.stat?.isDirectory() && (await journal.moveDirAside(r.guest))) moved.push(r.guest);
    }
    const inMoved = (dir: string) => moved.some((m) => dir === m || dir.startsWith(m + "/"));
    const outputs: string[] = [];
    // the outputs share a few directories (grub-install's: three for 347 files): each is resolved once
    const dirs = new Map<string, string>();
    for (const p of c.produces ?? []) {
      const named = posix.dirname(p);
      let dir = dirs.get(named);
      if (dir === undefined) {
        dir = (await guest.resolve(named)).guest;
        dirs.set(named, dir);
        // directories the command may create for its outputs go again on rollback (if empty)
        if (!inMoved(dir)) journal.recordCreatedDirs(await missingDirs(guest, dir));
      }
      if (!inMoved(dir)) outputs.push(posix.join(dir, posix.basename(p)));
    }
    await journal.saveOriginals(outputs);
    if (c.bootArea) await journal.saveBootArea(c.bootArea);
    journal.recordCreatedDirs(await guest.mkdirp(EXEC_TMPDIR));
  }, `${c.produces?.length ?? 0} file(s)${c.rewritesDirs?.length ? ` (${c.rewritesDirs.join(", ")} moved whole where it can)` : ""}${c.bootArea ? ` and the boot code of ${c.bootArea}` : ""} for ${describe(c)}`);
}

/** Runs a command with the command TMPDIR (the caller clears it); throws when it fails. */
async function runExec(c: ExecChange, exec: ExecRunner, base: BaseContext, time: Timer): Promise<void> {
  const r = await time("exec", () => exec(c.argv, { timeoutMs: c.timeoutMs, env: { TMPDIR: EXEC_TMPDIR, ...c.env } }));
  if (r.exitCode !== 0) {
    const noSpace = r.output.split("\n").find((l) => /No space left on device/i.test(l));
    if (noSpace) throw new FixupError("GUEST_NO_SPACE", `${showArgv(c.argv)} ran out of disk space in the guest (${noSpace.trim()}); free space on /boot (remove an old kernel's files) or / and run stage 1 again`);
    const tail = r.output.trim().split("\n").slice(-5).join(" / ");
    throw new Error(`${showArgv(c.argv)} exited with ${r.timedOut ? "a timeout" : r.exitCode}${tail ? `: ${tail}` : ""}`);
  }
  base.log.debug(`ok: ${showArgv(c.argv)}`);
}

