// The built artifacts an e2e run needs besides the test image: the osam-fixup binary, the
// fixup disk (scripts/build-fixup-disk.sh) and the stage-2 tools ISO
// (scripts/build-tools-iso.sh). Each script caches its output; these only call them.
import { execa } from "execa";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { REPO } from "./paths.ts";
import { builtAfterSources } from "../../helpers/cli.ts";

export interface FixupDiskMeta {
  iso: string;
  vmdk: string | null;
  version: string;
  kernel: string;
  isoBytes: number;
  initrdBytes: number;
  rootBytes: number;
  buildSeconds: number;
}

export const BINARY = join(REPO, "dist/osam-fixup");

/**
 * The binary, refused when missing or older than a change under src/: an e2e run judges what
 * is on the fixup disk and in the source's preflight, and a stale binary there once made a run
 * prove the code of an earlier commit.
 */
export function freshBinary(): string {
  if (!existsSync(BINARY)) throw new Error(`${BINARY} is missing: run npm run build before the e2e tests`);
  if (!builtAfterSources(BINARY)) throw new Error(`${BINARY} is older than a change under src/ (or package-lock.json): run npm run build before the e2e tests`);
  return BINARY;
}

async function runScript(script: string, args: string[], what: string): Promise<string> {
  const r = await execa("bash", [join(REPO, script), ...args], { stdin: "ignore", stderr: "inherit", reject: false, timeout: 60 * 60_000 });
  const last = String(r.stdout).trim().split("\n").pop() ?? "";
  if (r.exitCode !== 0 || !existsSync(last)) throw new Error(`${what} failed to build (${script} exit ${r.exitCode ?? "?"}); see its progress above`);
  return last;
}

/** The fixup disk ISO for the current dist/osam-fixup (built on first use). */
export async function ensureFixupDisk(): Promise<{ iso: string; meta: FixupDiskMeta }> {
  freshBinary();
  const iso = await runScript("scripts/build-fixup-disk.sh", [], "the fixup disk");
  const meta = JSON.parse(readFileSync(join(iso, "..", "meta.json"), "utf8")) as FixupDiskMeta;
  return { iso, meta };
}

/** The stage-2 tools ISO for a Debian suite, or undefined when its build script is absent. */
export async function ensureToolsIso(suite: string): Promise<string | undefined> {
  if (!existsSync(join(REPO, "scripts/build-tools-iso.sh"))) return undefined;
  return runScript("scripts/build-tools-iso.sh", [suite], `the ${suite} tools ISO`);
}
