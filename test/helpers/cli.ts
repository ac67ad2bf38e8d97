// How tests start the CLI as a process. Node strips the types of every module of src/ at each
// start (about 2 s here); the esbuild bundle of the same sources starts in about 0.7 s. Tests
// that start the CLI dozens of times use the bundle when it was built after the last change
// under src/ (npm test builds it first), and the sources otherwise, so a stale bundle is
// never what a test judges.
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { REPO } from "./tree.ts";

export const CLI_SOURCE = join(REPO, "src/cli/main.ts");
const BUNDLE = join(REPO, "dist/bundle.cjs");

function newestUnder(dir: string): number {
  let newest = statSync(dir).mtimeMs;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    newest = Math.max(newest, e.isDirectory() ? newestUnder(p) : statSync(p).mtimeMs);
  }
  return newest;
}

/** Whether the built file `artifact` exists and is newer than every source it is built from. */
export function builtAfterSources(artifact: string): boolean {
  let built: number;
  try {
    built = statSync(artifact).mtimeMs;
  } catch {
    return false;
  }
  return built > Math.max(newestUnder(join(REPO, "src")), statSync(join(REPO, "package-lock.json")).mtimeMs);
}

function bundleIfFresh(): string | undefined {
  return builtAfterSources(BUNDLE) ? BUNDLE : undefined;
}

/** The script to give node for `osam-fixup ...`: the fresh bundle, or src/cli/main.ts. */
export const CLI_SCRIPT: string = process.env.OSAM_TEST_CLI_SOURCE === "1" ? CLI_SOURCE : (bundleIfFresh() ?? CLI_SOURCE);
