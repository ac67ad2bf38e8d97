// npm run bench:e2e [-- VARIANT...]: migrates each variant end to end (test/e2e/lib) and
// prints where the time goes, as a table that is also written to bench/e2e-results.md:
//   fixup-disk boot   power on -> the agent's /tmp/fixup exists
//   stage 1           BEGIN written -> END seen (wall, as the manager sees it)
//   guest tools       time inside the guest's own initramfs and boot loader tools (chroot
//                     commands in fixup.log): the floor osam-fixup cannot go under
//   agent overhead    stage 1 minus guest tools
//   stage 2           replica power on -> the sentinel powers it off
//   total             first power on -> end of stage 2
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cpus } from "node:os";
import { runE2eMigration, type E2eRun } from "../test/e2e/lib/migration.ts";
import { REPO } from "../test/e2e/lib/paths.ts";
import { CI_VARIANTS, selectedVariants } from "../test/e2e/variants.ts";

// --from-runs DIR...: tabulate finished runs (their e2e-run.json) instead of migrating again
const args = process.argv.slice(2);
const fromRuns = args[0] === "--from-runs" ? args.slice(1) : undefined;
const variants = fromRuns ? [] : args.length || process.env.OSAM_E2E_VARIANTS ? selectedVariants(args.length ? args.join(",") : process.env.OSAM_E2E_VARIANTS) : (["deb12-itools", ...CI_VARIANTS] as const);

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

const rows: string[] = [];
for (const dir of fromRuns ?? []) rows.push(row(JSON.parse(readFileSync(join(dir, "e2e-run.json"), "utf8")) as E2eRun));
for (const v of variants) {
  const r = await runE2eMigration(v);
  rows.push(row(r));
  process.stderr.write(`${rows[rows.length - 1]}\n`);
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
- guest tools: time inside the guest's own initramfs and boot-loader tools (chroot commands in fixup.log), the floor osam-fixup cannot go under
- agent overhead: stage 1 minus guest tools
- stage 2: replica power on -> the sentinel powers it off
- total: first power on -> end of stage 2

${table}
`;
writeFileSync(join(REPO, "bench/e2e-results.md"), md);
console.log(table);
