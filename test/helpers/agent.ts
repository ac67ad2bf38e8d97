// Drives the /tmp/fixup protocol from the manager's side for tests: start the agent, wait
// for the directory, deliver the maps and BEGIN, and watch the order outputs appear in.
import { spawn, type ChildProcess } from "node:child_process";
import { copyFile, stat, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { FIXUP_FILES } from "../../src/protocol/files.ts";

export interface AgentRun {
  child: ChildProcess;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
}

export function startAgent(cmd: string[], env: NodeJS.ProcessEnv = process.env): AgentRun {
  const child = spawn(cmd[0]!, cmd.slice(1), { env, stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  child.stdout.resume();
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((res) => child.on("exit", (code, signal) => res({ code, signal, stderr })));
  return { child, exit };
}

export async function waitFor(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Copies the three maps into the fixup dir, then writes BEGIN (last, as the manager does). */
export async function deliver(fixupDir: string, inputsDir: string): Promise<void> {
  for (const f of [FIXUP_FILES.systemConfiguration, FIXUP_FILES.replicaDiskMap, FIXUP_FILES.networkInterfaceMap]) {
    if (existsSync(join(inputsDir, f))) await copyFile(join(inputsDir, f), join(fixupDir, f));
  }
  await writeFile(join(fixupDir, FIXUP_FILES.begin), "");
}

/** Modification times of the output files, to check the order they were finished in. */
export async function outputTimes(fixupDir: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const f of [FIXUP_FILES.progress, FIXUP_FILES.log, FIXUP_FILES.result, FIXUP_FILES.end]) out[f] = (await stat(join(fixupDir, f))).mtimeMs;
  return out;
}
