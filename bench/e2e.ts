// npm run bench:e2e [-- VARIANT...]: migrates each variant end to end (test/e2e/lib) and
// prints where the time goes, as a table that is also written to bench/e2e-results.md:
//   fixup-disk boot   power on -> the agent's /tmp/fixup exists
//   stage 1           BEGIN written -> END seen (wall, as the manager sees it)
//   guest tools       time inside the guest's own initramfs and boot loader tools (chroot
//                     commands in fixup.log): the floor osam-fixup cannot go under
//   agent overhead    stage 1 minus guest tools
//   stage 2           replica power on -> the sentinel powers it off
//   total             first power on -> end of stage 2
// Then, per run, where stage 1's time went (result.json timings): the total of each phase
// with its longest entry, and every gap of more than a second that no phase covers.
// --result FILE...: print that breakdown for result.json files only.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cpus } from "node:os";
import { runE2eMigration, type E2eRun } from "../test/e2e/lib/migration.ts";
import { REPO } from "../test/e2e/lib/paths.ts";
import { CI_VARIANTS, selectedVariants } from "../test/e2e/variants.ts";
import { Result } from "../src/protocol/schemas.ts";
import { coveredMs, gapsOf, labelOf, totalsOf } from "../src/util/timings.ts";

// --from-runs DIR...: tabulate finished runs (their e2e-run.json) instead of migrating again
const args = process.argv.slice(2);
const fromRuns = args[0] === "--from-runs" ? args.slice(1) : undefined;
const resultFiles = args[0] === "--result" ? args.slice(1) : undefined;
const variants = fromRuns || resultFiles ? [] : args.length || process.env.OSAM_E2E_VARIANTS ? selectedVariants(args.length ? args.join(",") : process.env.OSAM_E2E_VARIANTS) : (["deb12-itools", ...CI_VARIANTS] as const);

function f(n: number | undefined): string {
  return n === undefined ? "-" : n.toFixed(1);
}

function row(r: E2eRun): string {
  const t = r.timings;
  const overhead = t.stage1 !== undefined && t.guestTools !== undefined ? t.stage1 - t.guestTools : undefined;
  const status = r.flowError ? `flow: ${r.flowError.split("\n")[0]}` : r.result ? `${r.result.status}${r.result.status === "failed" ? ` (${r.result.code} at ${r.result.step ?? "?"})` : ""}` : "no result";
  const marker = r.marker ? `root ${r.marker.root} via ${r.marker.rootDriver}, ${r.marker.links.map((l) => l.name).join("+")}` : "no marker";
  return `| ${r.variant} | ${f(t.fixupDiskBoot)} | ${f(t.stage1)} | ${f(t.guestTools)} | ${f(overhead)} | ${f(t.stage2)} | ${f(t.migration)} | ${status}; ${marker} |`;
}

const s = (ms: number) => (ms / 1000).toFixed(1);

/** Where stage 1's time went, from result.json's timings (markdown). */
function breakdown(title: string, r: Result | undefined): string {
  if (!r?.timings?.length) return `### ${title}\n\nno timings in result.json\n`;
  const t = r.timings;
  // covered, not summed: a step run alongside another has entries at the same time as the other's
  const timed = coveredMs(t);
  const beside = t.filter((e) => e.alongside).reduce((n, e) => n + e.durationMs, 0);
  const gaps = gapsOf(t, r.durationMs).filter((g) => g.durationMs > 1000);
  return [
    `### ${title}`,
    "",
    `stage 1 (agent) ${s(r.durationMs)} s: ${s(timed)} s covered by ${t.length} timed phases, ${s(r.durationMs - timed)} s between them${beside ? `; ${s(beside)} s of them ran alongside another step` : ""}`,
    "",
    "| phase | count | total (s) | longest |",
    "|---|---|---|---|",
    ...totalsOf(t).map((p) => `| ${p.phase} | ${p.count} | ${s(p.totalMs)} | ${labelOf(p.largest).replace(/\|/g, "\\|")}: ${s(p.largest.durationMs)} s |`),
    "",
    gaps.length ? `Gaps over 1 s: ${gaps.map((g) => `${s(g.durationMs)} s after ${g.after} (at ${s(g.afterMs)} s)`).join("; ")}` : "No gap over 1 s.",
    "",
  ].join("\n");
}

if (resultFiles) {
  for (const f of resultFiles) console.log(breakdown(f, Result.parse(JSON.parse(readFileSync(f, "utf8")))));
  process.exit(0);
}

const rows: string[] = [];
const breakdowns: string[] = [];
for (const dir of fromRuns ?? []) {
  const r = JSON.parse(readFileSync(join(dir, "e2e-run.json"), "utf8")) as E2eRun;
  rows.push(row(r));
  breakdowns.push(breakdown(r.variant, r.result));
}
for (const v of variants) {
  const r = await runE2eMigration(v);
  rows.push(row(r));
  breakdowns.push(breakdown(r.variant, r.result));
  process.stderr.write(`${rows[rows.length - 1]}\n${breakdowns[breakdowns.length - 1]}\n`);
}
const table = [
  "| variant | fixup-disk boot (s) | stage 1 (s) | guest tools (s) | agent overhead (s) | stage 2 (s) | total (s) | outcome |",
  "|---|---|---|---|---|---|---|---|",
  ...rows,
].join("\n");
const md = `# e2e migration timings

Last run ${new Date().toISOString()} on ${cpus().length} vCPUs (${cpus()[0]?.model ?? "?"}), QEMU TCG,
guests with 2 vCPUs and 1 GiB. \`npm run bench:e2e\` (\`node bench/e2e.ts [VARIANT...]\`) rewrites this file.

- fixup-disk boot: power on -> the agent's /tmp/fixup exists
- stage 1: BEGIN written -> END seen (wall time, as the manager sees it)
- guest tools: wall time during which the guest's own initramfs and boot-loader tools ran (result.json's exec timings, commands side by side counted once), the floor osam-fixup cannot go under
- agent overhead: stage 1 minus guest tools
- stage 2: replica power on -> the sentinel powers it off
- total: first power on -> end of stage 2

${table}

## Where stage 1's time goes (result.json timings)

${breakdowns.join("\n")}`;
writeFileSync(join(REPO, "bench/e2e-results.md"), md);
console.log(table + "\n\n" + breakdowns.join("\n"));
