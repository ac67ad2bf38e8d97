import { existsSync, readdirSync, statSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { filesIn, idOfLogFile, kindOfFile, loadMigration, loadState, migrationIds, reportFileName, type LogKind, type ManagerView } from "../../report/load.ts";
import { writeMigrationPage, writeWavePages, WAVE_PAGE } from "../../report/write.ts";
import { type Command, UsageError, parse, str } from "../args.ts";

const usage = `Usage: osam-fixup report [options] LOG-DIR
       osam-fixup report [options] FILE...

Writes one self-contained HTML page (inline CSS and SVG, no script, nothing fetched) to read
or attach to a ticket.
  LOG-DIR   a wave: the migrate --log-dir. Writes LOG-DIR/${WAVE_PAGE} (every migration with
            its state, duration and code; counts per state; the slowest steps; failures by
            code) and each migration's <id>_report.html beside its logs.
  FILE...   one migration: its <id>_result.json, <id>_fixup.log and, when there,
            <id>_stage2.json and <id>_preflight.json (the others are found beside the first
            one). A fixup directory's result.json and fixup.log work too. Writes
            <id>_report.html next to them: the verdict, a timeline of every step and phase,
            every change as a diff with its reason, every command with its output, warnings
            and findings with their codes, and the stage-2 verification.

  --out FILE         write the page here instead
  --state-dir DIR    the manager's state directory: adds its steps and errors (and, for a
                     wave, the migrations that stopped before their logs were collected)
  --preflight FILE   a preflight report (preflight --json) of the migration's source

Exit status: 0 written, 2 bad usage or nothing to report on.`;

/** The manager's view of the wave's migrations: those with logs in dir, and those whose state says their logs go there (a migration that stopped before they were collected). */
function statesOf(stateDir: string | undefined, dir: string, ids: string[]): Map<string, ManagerView> {
  const out = new Map<string, ManagerView>();
  if (!stateDir) return out;
  const all = new Set([...ids, ...readdirSync(stateDir).filter((f) => f.endsWith(".json")).map((f) => f.slice(0, -5))]);
  for (const id of all) {
    const st = loadState(stateDir, id);
    if (st && (ids.includes(id) || (st.logDir !== undefined && resolve(st.logDir) === dir))) out.set(id, st);
  }
  return out;
}

export const reportCommand: Command = {
  name: "report",
  summary: "write an HTML report of one migration or of a wave (a log directory)",
  usage,
  async run(argv) {
    const { values, positionals, help } = parse(argv, { out: { type: "string" }, "state-dir": { type: "string" }, preflight: { type: "string" } }, usage);
    if (help) {
      console.log(usage);
      return 0;
    }
    if (!positionals.length) throw new UsageError(`give a log directory or a migration's files\n\n${usage}`);
    const stateDir = str(values["state-dir"]);
    const out = str(values.out);
    const first = resolve(positionals[0] ?? "");
    if (!existsSync(first)) throw new UsageError(`${positionals[0]}: no such file or directory`);
    if (statSync(first).isDirectory()) {
      if (positionals.length > 1) throw new UsageError(`give one log directory\n\n${usage}`);
      const ids = migrationIds(first);
      const states = statesOf(stateDir, first, ids);
      if (!ids.length && !states.size) throw new UsageError(`${first}: no <id>_result.json or <id>_fixup.log in it`);
      const r = await writeWavePages(first, { states, ...(out ? { out: resolve(out) } : {}) });
      console.log(`${r.page} (${r.migrations} migration(s))`);
      return 0;
    }
    const files: Partial<Record<LogKind, string>> = {};
    for (const p of positionals) {
      const kind = kindOfFile(p);
      if (!kind) throw new UsageError(`${p}: not a result.json, fixup.log, stage2 or preflight file (by its name)`);
      files[kind] = resolve(p);
    }
    const named = idOfLogFile(first);
    // the other collected files of the same migration, beside the first one
    const id = named?.id ?? "migration";
    const beside = named ? filesIn(dirname(first), id) : { result: join(dirname(first), "result.json"), log: join(dirname(first), "fixup.log") };
    for (const [k, f] of Object.entries(beside) as [LogKind, string][]) if (!files[k] && existsSync(f)) files[k] = f;
    const pf = str(values.preflight);
    if (pf) files.preflight = resolve(pf);
    const m = loadMigration(id, files, stateDir ? loadState(stateDir, id) : undefined);
    if (!named && m.result) m.id = m.result.migrationId;
    const page = out ? resolve(out) : join(dirname(first), named ? reportFileName(id) : `${basename(dirname(first))}_report.html`);
    await writeMigrationPage(m, page);
    console.log(page);
    return 0;
  },
};
