import { realpathSync, statSync, type Stats } from "node:fs";
import { basename, dirname, join, relative, resolve } from "node:path";
import { runStage1 } from "../../agent/stage1.ts";
import { exitCodeOf } from "../../agent/agent.ts";
import { planJson, renderPlan, writePlanTree } from "../../engine/render.ts";
import { Logger } from "../../util/log.ts";
import { type Command, UsageError, list, need, noPositionals, parse, str } from "../args.ts";
import { STEP_HELP, checkRoot, inputsFrom } from "./common.ts";

const usage = `Usage: osam-fixup plan --root DIR --inputs DIR [--json] [--out DIR] [--only STEPS] [--skip STEPS]

Computes every change stage 1 would make to a mounted guest and prints it as a unified diff,
with every command it would run inside the guest. Changes nothing in the guest.

  --root DIR     the guest's root filesystem, mounted
  --inputs DIR   directory with system-configuration.json, replica-disk-map.json and
                 network-interface-map.json
  --json         print the plan as JSON, with the full new content of every file
  --out DIR      also write the would-be new content of every file written or renamed
                 under DIR, at its path in the guest, for review
  --only STEPS   comma-separated steps to plan (default: all)
  --skip STEPS   comma-separated steps to leave out
  -v, --verbose  log to stderr as it works

Exit status: 0 plan computed, 1 the plan cannot be made (e.g. no OS found), 2 bad usage or input.

${STEP_HELP}`;

const inside = (child: string, parent: string): boolean => {
  const r = relative(parent, child);
  return r === "" || (!r.startsWith("..") && !r.startsWith("/"));
};
const sameDir = (a: Stats, b: Stats): boolean => a.dev === b.dev && a.ino === b.ino;

/** The real path of p, following links, where only its first components need to exist. */
function realPathOf(p: string): { real: string; exists: boolean } {
  const rest: string[] = [];
  for (let d = p; ; d = dirname(d)) {
    try {
      return { real: join(realpathSync(d), ...rest), exists: rest.length === 0 };
    } catch {
      if (d === dirname(d)) return { real: p, exists: false };
      rest.unshift(basename(d));
    }
  }
}

function ancestors(p: string): string[] {
  const out = [p];
  while (p !== dirname(p)) out.push((p = dirname(p)));
  return out;
}

/**
 * --out must not reach the guest: files written there would change the guest with no backup
 * or journal, while the plan says nothing was changed. Compared by real path (links followed)
 * and by directory identity (a bind mount of the root elsewhere), before anything is written.
 */
export function refuseOutInRoot(out: string, root: string): void {
  const o = realPathOf(resolve(out));
  const r = realpathSync(root);
  const rootSt = statSync(r);
  const why = (where: string) => new UsageError(`--out ${out}: ${where} the guest root ${root}; plan writes nothing into the guest, so give a directory outside it`);
  if (inside(o.real, r)) throw why(o.real === r ? "is" : "is inside");
  if (inside(r, o.real)) throw why("contains");
  const existing = ancestors(o.real).find((d) => {
    try {
      return statSync(d).isDirectory();
    } catch {
      return false;
    }
  });
  if (existing && ancestors(existing).some((d) => sameDir(statSync(d), rootSt))) throw why("is inside (by another mount of)");
  if (o.exists) {
    const outSt = statSync(o.real);
    if (ancestors(r).some((d) => sameDir(statSync(d), outSt))) throw why("contains (by another mount of)");
  }
}

export const planCommand: Command = {
  name: "plan",
  summary: "print every change stage 1 would make, as a diff; change nothing",
  usage,
  async run(argv) {
    const { values, positionals, help } = parse(argv, { root: { type: "string" }, inputs: { type: "string" }, json: { type: "boolean" }, out: { type: "string" }, only: { type: "string" }, skip: { type: "string" }, verbose: { type: "boolean", short: "v" } }, usage);
    if (help) {
      console.log(usage);
      return 0;
    }
    noPositionals(positionals, usage);
    const root = checkRoot(need(values.root, "--root", usage));
    const out = str(values.out);
    if (out) refuseOutInRoot(out, root);
    const inputs = await inputsFrom(need(values.inputs, "--inputs", usage));
    const log = new Logger({ echo: values.verbose ? (l) => process.stderr.write(l + "\n") : undefined });
    const { result, outcome } = await runStage1({ root, inputs, mode: "plan", log, only: list(values.only), skip: list(values.skip) });
    const written = out ? await writePlanTree(outcome.planned, resolve(out)) : [];
    if (values.json) {
      console.log(JSON.stringify({ status: result.status, code: result.code, message: result.message, guest: result.guest, steps: result.steps, warnings: result.warnings, changes: planJson(outcome.planned), ...(out ? { out: resolve(out), written } : {}) }, null, 2));
    } else {
      const text = renderPlan(outcome.planned);
      process.stdout.write(text ? text + "\n" : "");
      for (const s of result.steps) process.stderr.write(`plan: ${s.name}: ${s.status}${s.changes.length ? `, ${s.changes.length} change(s)` : ""}${s.error ? ` (${s.error.message})` : ""}\n`);
      for (const w of result.warnings) process.stderr.write(`warning: ${w}\n`);
      for (const s of result.steps) for (const n of s.notes ?? []) process.stderr.write(`note: ${s.name}: ${n}\n`);
      if (out) process.stderr.write(`plan: wrote ${written.length} file(s) under ${resolve(out)}\n`);
      process.stderr.write(result.status === "succeeded" ? `plan: ${outcome.planned.length} change(s); nothing was changed\n` : `plan: failed (code ${result.code}): ${result.message}\n`);
    }
    return exitCodeOf(result);
  },
};
