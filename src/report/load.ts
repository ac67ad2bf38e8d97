// What a report is made from: a migration's collected log files (<id>_result.json,
// <id>_fixup.log, <id>_stage2.json, <id>_preflight.json) and, when the manager's state is at
// hand, its steps. Nothing here trusts the files: a missing or broken file is a note on the
// page, never a failure of the report.
import { readdirSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { Result } from "../protocol/schemas.ts";

/** The manager's view of a migration, as far as a report needs it (MigrationState fits). */
export interface ManagerView {
  status: string;
  /** Where the manager puts this migration's logs. */
  logDir?: string;
  startedAtMs?: number;
  updatedAt?: string;
  steps: { name: string; status: string; attempts?: number; startedAt?: string; finishedAt?: string; durationMs?: number; error?: string }[];
  error?: { step: string; message: string; code?: number };
  warnings?: string[];
}

export interface MigrationInput {
  id: string;
  result?: Result;
  /** result.json's finer phase timings, when stage 1 recorded them. */
  timings?: Timing[];
  /** Why result.json could not be used (missing, not JSON, not the schema). */
  resultError?: string;
  log?: string;
  stage2?: unknown;
  /** The first-boot verification (verification.json as collected). */
  verify?: unknown;
  preflight?: unknown;
  state?: ManagerView;
  /** Notes for the reader about files that could not be read. */
  notes: string[];
}

/** The collected files of one migration, by kind, as the manager names them. */
export const LOG_SUFFIXES = { result: "_result.json", log: "_fixup.log", stage2: "_stage2.json", verify: "_verify.json", preflight: "_preflight.json" } as const;
export type LogKind = keyof typeof LOG_SUFFIXES;

/** A report page's file name, next to the logs it is made from. */
export function reportFileName(id: string): string {
  return `${id}_report.html`;
}

export function idOfLogFile(file: string): { id: string; kind: LogKind } | undefined {
  const name = basename(file);
  for (const [kind, suffix] of Object.entries(LOG_SUFFIXES) as [LogKind, string][]) {
    if (name.endsWith(suffix) && name.length > suffix.length) return { id: name.slice(0, -suffix.length), kind };
  }
  return undefined;
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
}

function readJson(path: string, notes: string[]): unknown {
  const text = readText(path);
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    notes.push(`${basename(path)} is not valid JSON: ${(e as Error).message}`);
    return undefined;
  }
}

/** The files of one migration in a log directory, as the manager names them. */
export function filesIn(dir: string, id: string): Partial<Record<LogKind, string>> {
  const out: Partial<Record<LogKind, string>> = {};
  for (const [kind, suffix] of Object.entries(LOG_SUFFIXES) as [LogKind, string][]) out[kind] = join(dir, id + suffix);
  return out;
}

/** What kind of log a file is, by its name: <id>_result.json as collected, or result.json as in a fixup directory. */
export function kindOfFile(file: string): LogKind | undefined {
  const name = basename(file);
  const m = idOfLogFile(name);
  if (m) return m.kind;
  if (name === "result.json") return "result";
  if (name === "fixup.log") return "log";
  if (name === "stage2-result.json") return "stage2";
  if (name === "verification.json") return "verify";
  if (name === "preflight.json") return "preflight";
  return undefined;
}

/** Loads one migration from its files; a file that does not exist is simply not there. */
export function loadMigration(id: string, files: Partial<Record<LogKind, string>>, state?: ManagerView): MigrationInput {
  const notes: string[] = [];
  const input: MigrationInput = { id, notes, ...(state ? { state } : {}) };
  const raw = files.result ? readJson(files.result, notes) : undefined;
  if (raw === undefined) input.resultError = "no readable result.json";
  else {
    const r = Result.safeParse(raw);
    if (r.success) input.result = r.data;
    else input.resultError = `result.json does not match the result schema: ${(r.error?.issues ?? []).slice(0, 5).map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`;
    const t = timingsOf(raw);
    if (t.length) input.timings = t;
  }
  const log = files.log ? readText(files.log) : undefined;
  if (log !== undefined) input.log = log;
  const stage2 = files.stage2 ? readJson(files.stage2, notes) : undefined;
  if (stage2 !== undefined) input.stage2 = stage2;
  const verify = files.verify ? readJson(files.verify, notes) : undefined;
  if (verify !== undefined) input.verify = verify;
  const preflight = files.preflight ? readJson(files.preflight, notes) : undefined;
  if (preflight !== undefined) input.preflight = preflight;
  return input;
}

/** The manager's state file of a migration (<state-dir>/<id>.json), if it has one. */
export function loadState(stateDir: string, id: string): ManagerView | undefined {
  const raw = readJson(join(stateDir, `${id}.json`), []) as Partial<ManagerView> | undefined;
  if (!raw || typeof raw.status !== "string" || !Array.isArray(raw.steps)) return undefined;
  return raw as ManagerView;
}

/** One phase of stage 1 as result.json's "timings" records it; startMs counts from startedAt. */
export interface Timing {
  phase: string;
  step?: string;
  what?: string;
  startMs: number;
  durationMs: number;
}

// read from the raw JSON: the report shows the phases of any stage-1 version that wrote them
function timingsOf(raw: unknown): Timing[] {
  const t = (raw as { timings?: unknown } | null)?.timings;
  if (!Array.isArray(t)) return [];
  const str = (v: unknown) => (typeof v === "string" ? v : undefined);
  const out: Timing[] = [];
  for (const e of t as Record<string, unknown>[]) {
    if (typeof e !== "object" || e === null) continue;
    const { phase, startMs, durationMs } = e;
    if (typeof phase !== "string" || typeof startMs !== "number" || typeof durationMs !== "number" || !(startMs >= 0) || !(durationMs >= 0)) continue;
    const step = str(e.step);
    const what = str(e.what);
    out.push({ phase, startMs, durationMs, ...(step ? { step } : {}), ...(what ? { what } : {}) });
  }
  return out;
}

/** Every migration with a collected file in a log directory, sorted. */
export function migrationIds(dir: string): string[] {
  const ids = new Set<string>();
  for (const f of readdirSync(dir)) {
    const m = idOfLogFile(f);
    if (m) ids.add(m.id);
  }
  return [...ids].sort();
}

export interface CommandRun {
  /** When it started (the log line's time). */
  time: string;
  /** As the log shows it (quoted for display). */
  command: string;
  output: string;
  exitCode?: number;
  timedOut: boolean;
  durationMs?: number;
}

const EXEC_START = /^(\S+) \S+\s+exec \(chroot [^)]*\): (.*)$/;
const EXEC_END = /^\S+ \S+\s+exec: exit (\d+)( \(timed out\))? after (\d+) ms/;

/** The commands run in the guest, from fixup.log (engine/exec.ts writes them this way). */
export function commandsOf(log: string): CommandRun[] {
  const out: CommandRun[] = [];
  let cur: CommandRun | undefined;
  const output: string[] = [];
  for (const line of log.split("\n")) {
    const s = EXEC_START.exec(line);
    if (s) {
      if (cur) cur.output = output.join("\n");
      output.length = 0;
      cur = { time: s[1] ?? "", command: s[2] ?? "", output: "", timedOut: false };
      out.push(cur);
      continue;
    }
    if (!cur) continue;
    if (line.startsWith("    | ")) {
      output.push(line.slice(6));
      continue;
    }
    const e = EXEC_END.exec(line);
    if (e) {
      cur.exitCode = Number(e[1]);
      cur.timedOut = Boolean(e[2]);
      cur.durationMs = Number(e[3]);
      cur.output = output.join("\n");
      output.length = 0;
      cur = undefined;
    }
  }
  if (cur) cur.output = output.join("\n");
  return out;
}
