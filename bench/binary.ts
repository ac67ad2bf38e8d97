// Figures for the single binary: size, start-up time and peak RSS for `--version` and for a
// `plan` of the sample guest. Prints them; asserts nothing (speed goals live here, not in tests).
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";

const REPO = new URL("..", import.meta.url).pathname;
const BIN = join(REPO, "dist/osam-fixup");
const RUNS = Number(process.env.BENCH_RUNS ?? 10);

function measure(args: string[]): { medianMs: number; minMs: number; peakRssMiB: number } {
  const times: number[] = [];
  let rss = 0;
  for (let i = 0; i < RUNS; i++) {
    // GNU time reports the child's maximum resident set size (KiB) and wall seconds
    const r = spawnSync("/usr/bin/time", ["-f", "%M %e", BIN, ...args], { encoding: "utf8", env: {} });
    const last = r.stderr.trim().split("\n").at(-1)!.split(" ");
    rss = Math.max(rss, Number(last[0]) / 1024);
    times.push(Number(last[1]) * 1000);
  }
  times.sort((a, b) => a - b);
  return { medianMs: times[Math.floor(times.length / 2)]!, minMs: times[0]!, peakRssMiB: Math.round(rss * 10) / 10 };
}

export function benchBinary(): string[] {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run npm run build`);
  if (!existsSync("/usr/bin/time")) throw new Error("/usr/bin/time is missing: bash scripts/install-deps.sh installs it");
  const size = statSync(BIN).size;
  const xz = Number(execFileSync("sh", ["-c", 'xz -T0 -6 -c "$0" | wc -c', BIN], { encoding: "utf8" }).trim());
  const sample = join(REPO, "examples/debian12-kvm");
  const v = measure(["--version"]);
  const p = measure(["plan", "--root", join(sample, "root"), "--inputs", join(sample, "inputs"), "--json"]);
  return [
    `| binary | ${(size / 1048576).toFixed(1)} MiB (${(xz / 1048576).toFixed(1)} MiB xz) |`,
    `| --version | median ${v.medianMs.toFixed(0)} ms, min ${v.minMs.toFixed(0)} ms, peak RSS ${v.peakRssMiB} MiB |`,
    `| plan (sample guest) | median ${p.medianMs.toFixed(0)} ms, min ${p.minMs.toFixed(0)} ms, peak RSS ${p.peakRssMiB} MiB |`,
  ];
}
