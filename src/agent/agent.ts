// The stage-1 agent on the fixup disk: the /tmp/fixup protocol. It creates the directory,
// waits for BEGIN, runs stage 1, and always finishes with result.json and then END, whatever
// happened in between, so the manager never waits forever.
import { appendFileSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CODES, FixupError } from "../protocol/codes.ts";
import { FIXUP_FILES } from "../protocol/files.ts";
import { loadInputs, type Inputs } from "../protocol/inputs.ts";
import type { Result } from "../protocol/schemas.ts";
import { openGuest, type OpenedGuest } from "../guest/mount.ts";
import { lookAhead, type LookAhead } from "../guest/look-ahead.ts";
import { Logger } from "../util/log.ts";
import { waitForFile, writeAtomic } from "../util/fs.ts";
import { VERSION } from "../version.ts";
import { PhaseClock } from "../util/timings.ts";
import { failedResult, runStage1 } from "./stage1.ts";

export interface AgentOptions {
  fixupDir: string;
  /** An already-mounted guest root; without it the agent finds and mounts the guest. */
  root?: string;
  waitTimeoutMs?: number;
  /** Skip waiting for BEGIN (used by `apply --fixup-dir`). */
  noWait?: boolean;
  only?: string[];
  skip?: string[];
  echo?: (line: string) => void;
  afterChange?: (n: number) => void;
}

export function fixupPath(dir: string, f: keyof typeof FIXUP_FILES): string {
  return join(dir, FIXUP_FILES[f]);
}

/** Runs the protocol once; returns the process exit code (0 ok, 1 failed, 2 bad input). */
export async function runAgent(o: AgentOptions): Promise<number> {
  const dir = o.fixupDir;
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  // the disks are attached from power-on: looked at (read-only) while the maps are uploaded
  const aheadLog = new Logger({ keep: true });
  const ahead: Promise<LookAhead> | undefined = !o.noWait && !o.root ? lookAhead(aheadLog) : undefined;
  let aheadDone = false;
  void ahead?.then(() => (aheadDone = true));
  if (!o.noWait) {
    o.echo?.(`osam-fixup agent ${VERSION}: waiting for ${fixupPath(dir, "begin")}`);
    await waitForFile(fixupPath(dir, "begin"), { timeoutMs: o.waitTimeoutMs });
  }
  // a previous run's outputs must not be mistaken for this run's
  for (const f of ["end", "result"] as const) rmSync(fixupPath(dir, f), { force: true });
  writeFileSync(fixupPath(dir, "progress"), "");
  writeFileSync(fixupPath(dir, "log"), "");
  const log = new Logger({ file: fixupPath(dir, "log"), echo: o.echo });
  const progress = (line: string) => {
    appendFileSync(fixupPath(dir, "progress"), line + "\n");
  };
  const startedAt = new Date();
  const clock = new PhaseClock(startedAt.getTime(), log);
  let migrationId = "unknown";
  let result: Result;
  let opened: OpenedGuest | undefined;
  let finished = false;

  const finish = async (r: Result): Promise<number> => {
    if (finished) return exitCodeOf(r);
    finished = true;
    log.info(`writing ${FIXUP_FILES.result} (${r.status}, code ${r.code}) and ${FIXUP_FILES.end}`);
    await writeAtomic(fixupPath(dir, "result"), JSON.stringify(r, null, 2) + "\n");
    await writeAtomic(fixupPath(dir, "end"), `${r.status} ${r.code}\n`);
    return exitCodeOf(r);
  };
  const onSignal = (sig: NodeJS.Signals) => {
    log.error(`interrupted by ${sig}`);
    void finish(failedResult(migrationId, startedAt, new FixupError("INTERNAL", `stage 1 was interrupted by ${sig}; run it again to resume (it restores the originals first)`), { timings: clock.entries })).finally(() => process.exit(1));
  };
  process.once("SIGTERM", onSignal);
  process.once("SIGINT", onSignal);

  try {
    log.info(`osam-fixup ${VERSION} agent: BEGIN seen in ${dir}`);
    const inputs: Inputs = await clock.time("inputs", () => loadInputs(dir));
    migrationId = inputs.system.migrationId;
    progress(`${new Date().toISOString()} inputs validated for migration ${migrationId}`);
    let root = o.root;
    let devices;
    if (!root) {
      // its probe mounts must be gone before the guest is mounted: waited for (and timed) when BEGIN came first
      const seen = ahead && (aheadDone ? await ahead : await clock.time("discovery", () => ahead, { what: "the rest of the look at the disks begun before BEGIN" }));
      if (seen) {
        log.take(aheadLog.lines);
        log.info(`before BEGIN: looked at ${seen.devices} device(s) and ${seen.filesystems} filesystem(s) in ${seen.ms} ms`);
      }
      opened = await openGuest(inputs, log, { clock, ahead: seen });
      root = opened.root;
      devices = opened.devices;
      progress(`${new Date().toISOString()} mount guest root mounted at ${root}`);
    }
    const { result: r } = await runStage1({ root, inputs, mode: "apply", log, devices, onProgress: progress, only: o.only, skip: o.skip, afterChange: o.afterChange, clock, startedAt });
    result = r;
  } catch (e) {
    const err = e instanceof FixupError ? e : new FixupError("INTERNAL", `unexpected error: ${e instanceof Error ? e.message : String(e)}`);
    log.error(`stage 1 failed (code ${err.code}): ${err.message}`);
    if (!(e instanceof FixupError) && e instanceof Error && e.stack) log.error(e.stack);
    result = failedResult(migrationId, startedAt, err, { timings: clock.entries });
  } finally {
    if (opened) {
      try {
        await clock.time("unmount", () => opened!.close());
      } catch (e) {
        log.error(`unmounting the guest failed: ${(e as Error).message}`);
      }
    }
  }
  process.removeListener("SIGTERM", onSignal);
  process.removeListener("SIGINT", onSignal);
  // the unmount is part of stage 1 as the manager sees it
  const finishedAt = new Date();
  result = { ...result, finishedAt: finishedAt.toISOString(), durationMs: finishedAt.getTime() - startedAt.getTime(), timings: clock.entries };
  progress(`${new Date().toISOString()} done ${result.status}${result.status === "failed" ? ` (code ${result.code}: ${result.message})` : ""}`);
  return finish(result);
}

export function exitCodeOf(r: Result): number {
  if (r.status === "succeeded") return 0;
  const inputCodes: number[] = [CODES.INPUT_MISSING.code, CODES.INPUT_INVALID.code, CODES.INPUT_CONTRADICTORY.code];
  return inputCodes.includes(r.code) ? 2 : 1;
}
