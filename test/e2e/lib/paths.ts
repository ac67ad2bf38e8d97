// Where the e2e runs keep their files: every run gets its own directory (kept afterwards, so a
// failure can be read later), with the serial logs of each boot, the maps that were sent and
// what came back from the agent.
import { mkdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
export const E2E_ROOT = process.env.OSAM_E2E_DIR ?? "/var/tmp/osam-e2e";

export function newRunDir(label: string): string {
  const stamp = new Date().toISOString().replace(/[:.]/g, "").replace("T", "-").slice(0, 17);
  const dir = join(E2E_ROOT, "runs", `${label}-${stamp}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}
