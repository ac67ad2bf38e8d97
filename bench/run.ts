// npm run bench: every benchmark, printed as tables. Each part is a module in bench/.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { benchBinary } from "./binary.ts";
import { benchLargeFstab } from "./large-fstab.ts";
import { benchExecBackup } from "./exec-backup.ts";

const REPO = new URL("..", import.meta.url).pathname;

console.log(`## single binary (${process.env.BENCH_RUNS ?? 10} runs each)\n| what | figure |\n|---|---|`);
for (const l of benchBinary()) console.log(l);

// issue 12, kind 8: the text plan of a 1,000,000-line fstab, from source (about a minute)
console.log("\n## plan of a very large fstab (from source)\n| what | figure |\n|---|---|");
console.log(await benchLargeFstab());

console.log("\n## backups before grub-install (issue 13)\n| what | figure |\n|---|---|");
console.log(await benchExecBackup());

// the manager's load test against vcsim (about a minute)
const manager = join(REPO, "bench", "manager.ts");
if (existsSync(manager)) {
  console.log("\n## manager (50 concurrent migrations against vcsim)");
  const mod = (await import(manager)) as { main: () => Promise<void> };
  await mod.main();
}

// waves on the PostgreSQL store against vcsim, 1 and 3 workers (a few minutes)
const waves = join(REPO, "bench", "waves.ts");
if (existsSync(waves)) {
  console.log(`\n## waves on PostgreSQL (${process.env.BENCH_WAVE_MIGRATIONS ?? 60} migrations against vcsim, 20 at once per worker)`);
  const mod = (await import(waves)) as { main: () => Promise<void> };
  await mod.main();
}

// e2e migrations take 10 minutes each under emulation: shown from the last recorded run
// (npm run bench:e2e migrates again and rewrites the file)
const e2e = join(REPO, "bench", "e2e-results.md");
console.log("\n## e2e migrations (last recorded: bench/e2e-results.md; npm run bench:e2e refreshes it)");
console.log(existsSync(e2e) ? readFileSync(e2e, "utf8") : "(no recorded run yet: npm run bench:e2e)");

// the fixup disk's boot, a minute per boot under emulation: shown from the last recorded run
const fixupDisk = join(REPO, "bench", "fixup-disk-results.md");
console.log("\n## fixup disk boot (last recorded: bench/fixup-disk-results.md; npm run bench:fixup-disk refreshes it)");
console.log(existsSync(fixupDisk) ? readFileSync(fixupDisk, "utf8") : "(no recorded run yet: npm run bench:fixup-disk)");
