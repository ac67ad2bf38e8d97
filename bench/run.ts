// npm run bench: every benchmark, printed as tables. Each part is a module in bench/.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { benchBinary } from "./binary.ts";

const REPO = new URL("..", import.meta.url).pathname;

console.log(`## single binary (${process.env.BENCH_RUNS ?? 10} runs each)\n| what | figure |\n|---|---|`);
for (const l of benchBinary()) console.log(l);

// the other areas' benchmarks, when present: manager load test, e2e migration timings
for (const [title, file] of [["manager", "manager.ts"], ["e2e migrations", "e2e.ts"]] as const) {
  const p = join(REPO, "bench", file);
  if (!existsSync(p)) continue;
  console.log(`\n## ${title}`);
  const mod = (await import(p)) as { main?: () => Promise<void> };
  if (mod.main) await mod.main();
}
