// Where the e2e runs keep their files: every run gets its own directory (kept afterwards, so a
// failure can be read later), with the serial logs of each boot, the maps that were sent and
// what came back from the agent. Only the newest few runs of each kind are kept: a run holds
// a disk overlay of 100-300 MB, and CI runs again and again on the same machine.
import { mkdirSync, readdirSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
export const E2E_ROOT = process.env.OSAM_E2E_DIR ?? "/var/tmp/osam-e2e";

/** Runs of each label kept, the new one included (OSAM_E2E_KEEP). */
const KEEP = Number(process.env.OSAM_E2E_KEEP ?? 4);

export function newRunDir(label: string): string {
  const stamp = new Date().toISOString().replace(/[:.]/g, "").replace("T", "-").slice(0, 17);
  const runs = join(E2E_ROOT, "runs");
  const dir = join(runs, `${label}-${stamp}`);
  mkdirSync(dir, { recursive: true });
  // the stamp sorts by time; a label's runs are "<label>-<stamp>" with nothing else before it
  const mine = readdirSync(runs).filter((n) => n.startsWith(`${label}-`) && /^\d{4}-\d{2}-\d{2}-\d{6}$/.test(n.slice(label.length + 1))).sort();
  for (const old of mine.slice(0, Math.max(0, mine.length - Math.max(1, KEEP)))) rmSync(join(runs, old), { recursive: true, force: true });
  return dir;
}
