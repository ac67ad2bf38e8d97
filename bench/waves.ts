// Waves on the PostgreSQL store against vcsim (test/vsphere/wave.ts): migrations per minute
// with 1 and 3 workers, each worker's peak memory, and the database's size per 1,000
// migrations. Bounded: BENCH_WAVE_MIGRATIONS (default 60) per run, 20 at once per worker.
//   node bench/waves.ts            (also part of npm run bench)
import { runWave } from "../test/vsphere/wave.ts";

export async function main(): Promise<void> {
  const n = Number(process.env.BENCH_WAVE_MIGRATIONS ?? 60);
  const rows: string[] = [];
  for (const workers of [1, 3]) {
    const s = await runWave({ migrations: n, workers, concurrency: 20 });
    const peaks = s.perWorker.map((w) => `${w.peakRssMiB}`).join(" / ");
    rows.push(`| ${workers} | ${s.migrations} | ${s.status.states.succeeded} | ${s.wallS} s | ${s.perMinute} | ${peaks} MiB | ${(s.dbBytesPer1000 / 1048576).toFixed(1)} MiB | ${s.problems.length ? s.problems.slice(0, 3).join("; ") : "none"} |`);
  }
  console.log(`| workers | migrations | succeeded | wall | migrations/min | peak RSS per worker | DB per 1,000 migrations | problems |\n|---|---|---|---|---|---|---|---|`);
  for (const r of rows) console.log(r);
}

if (import.meta.main) await main();
