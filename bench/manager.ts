// The manager's load test: 50 concurrent migrations through the vSphere driver against vcsim
// (guest side simulated in another process). Prints throughput and the manager's peak memory.
//   node bench/manager.ts            (also part of npm run bench)
//   BENCH_MIGRATIONS=100 BENCH_CONCURRENCY=25 node bench/manager.ts
import { runLoad } from "../test/vsphere/load.ts";

export async function main(): Promise<void> {
  const n = Number(process.env.BENCH_MIGRATIONS ?? 50);
  const c = Number(process.env.BENCH_CONCURRENCY ?? 50);
  const s = await runLoad(n, c);
  console.log(`| what | figure |\n|---|---|`);
  console.log(`| migrations (concurrency) | ${s.migrations} (${s.concurrency}) |`);
  console.log(`| succeeded | ${s.succeeded} |`);
  console.log(`| wall time | ${s.wallS} s |`);
  console.log(`| throughput | ${s.perMinute} migrations/min |`);
  console.log(`| per migration (median / max) | ${s.medianS} s / ${s.maxS} s |`);
  console.log(`| manager RSS (baseline / peak) | ${s.baselineRssMiB} MiB / ${s.peakRssMiB} MiB |`);
  console.log(`| simulated stage 1 / stage 2 runs | ${s.stage1} / ${s.stage2} |`);
  if (s.failures.length) console.log(`\nfailures:\n${s.failures.slice(0, 10).join("\n")}`);
}

if (import.meta.main) await main();
