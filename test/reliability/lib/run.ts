// Runs the CLI from source against a test disk, as its own process group, so that a test can
// kill it the way a power cut would: at a change boundary (the CLI's crash hook) or in the
// middle of an initramfs rebuild (SIGKILL to the whole group, the guest's tools included).
import { spawn } from "node:child_process";
import { readFileSync, readdirSync, writeFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { REPO } from "../../helpers/tree.ts";
import { FIXUP_FILES } from "../../../src/protocol/files.ts";

const CLI = join(REPO, "src/cli/main.ts");
const RUN_TIMEOUT_MS = 20 * 60_000;

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  ms: number;
  stderr: string;
  /** For a mid-rebuild kill: the guest processes seen when the group was killed. */
  killedDuring?: string[];
}

export interface MidRebuildKill {
  /**
   * tool: as soon as update-initramfs/dracut runs; writing: once the archive is being
   * compressed; grub-install: while grub-install runs (it writes the boot sector last).
   */
  phase: "tool" | "writing" | "grub-install";
  /** Wait this long after the phase is seen before killing. */
  delayMs: number;
}

export interface RunOptions {
  /**
   * Run in a mount namespace of its own (unshare -m, private propagation): the agent mounts
   * the guest under /run, and the other tests' chroots, which bind the host's /run as slaves,
   * would otherwise receive those mounts and keep its disk busy.
   */
  privateMounts?: boolean;
  killAfterChange?: number;
  killDuringRebuild?: MidRebuildKill;
  /** Kill the group as soon as this returns true (polled every 50 ms). */
  killWhen?: () => boolean;
}

interface ProcInfo {
  pid: number;
  comm: string;
  pgrp: number;
}

function processes(): ProcInfo[] {
  const out: ProcInfo[] = [];
  for (const n of readdirSync("/proc")) {
    if (!/^\d+$/.test(n)) continue;
    try {
      const s = readFileSync(`/proc/${n}/stat`, "utf8");
      const close = s.lastIndexOf(")");
      const comm = s.slice(s.indexOf("(") + 1, close);
      const f = s.slice(close + 2).split(" ");
      out.push({ pid: Number(n), comm, pgrp: Number(f[2]) });
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

export function groupMembers(pgrp: number): ProcInfo[] {
  return processes().filter((p) => p.pgrp === pgrp);
}

const TOOL = /^(update-initramf|mkinitramfs|dracut)/;
const WRITING = /^(cpio|zstd|gzip|pigz|xz|lz4|lzop|bzip2)$/;
const PHASES: Record<MidRebuildKill["phase"], RegExp> = { tool: TOOL, writing: WRITING, "grub-install": /^grub-install$/ };

/** Whether a killed run's process group still had a process of this phase when the kill landed. */
export function killedIn(r: RunResult, phase: MidRebuildKill["phase"]): boolean {
  return r.killedDuring?.some((c) => PHASES[phase].test(c)) ?? false;
}

async function waitGroupGone(pgrp: number, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (groupMembers(pgrp).length) {
    if (Date.now() > end) throw new Error(`processes of group ${pgrp} still alive: ${groupMembers(pgrp).map((p) => `${p.pid} ${p.comm}`).join(", ")}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Runs `node src/cli/main.ts args` as a process-group leader; resolves when the group is gone. */
export function runCli(args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.OSAM_TEST_KILL_AFTER_CHANGE;
  if (opts.killAfterChange) env.OSAM_TEST_KILL_AFTER_CHANGE = String(opts.killAfterChange);
  const t0 = Date.now();
  // unshare execs node in place (no --fork): the pid and process group stay node's
  const argv = opts.privateMounts ? ["unshare", "--mount", "--propagation", "private", process.execPath, CLI, ...args] : [process.execPath, CLI, ...args];
  const child = spawn(argv[0]!, argv.slice(1), { detached: true, env, stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (b: Buffer) => {
    stderr += b.toString();
    if (stderr.length > 200_000) stderr = stderr.slice(-100_000);
  });
  const pgrp = child.pid!;
  let killedDuring: string[] | undefined;
  let poll: NodeJS.Timeout | undefined;
  const timer = setTimeout(() => {
    stderr += `\n[test] run timed out after ${RUN_TIMEOUT_MS} ms; killing the group\n`;
    try {
      process.kill(-pgrp, "SIGKILL");
    } catch {
      // already gone
    }
  }, RUN_TIMEOUT_MS);
  const mid = opts.killDuringRebuild;
  const when = opts.killWhen;
  if (mid || when) {
    let seenAt: number | undefined;
    poll = setInterval(() => {
      const members = groupMembers(pgrp);
      if (mid && seenAt === undefined && members.some((p) => PHASES[mid.phase].test(p.comm))) seenAt = Date.now();
      if ((mid && seenAt !== undefined && Date.now() - seenAt >= mid.delayMs) || when?.()) {
        clearInterval(poll);
        killedDuring = members.map((p) => p.comm);
        try {
          process.kill(-pgrp, "SIGKILL");
        } catch {
          // already gone
        }
      }
    }, 50);
  }
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      if (poll) clearInterval(poll);
      // the guest's tools may outlive the CLI by a moment: the next run must not race them
      waitGroupGone(pgrp)
        .then(() => resolve({ code, signal, ms: Date.now() - t0, stderr, ...(killedDuring ? { killedDuring } : {}) }))
        .catch(reject);
    });
  });
}

export function apply(root: string, inputsDir: string, opts: RunOptions & { fixupDir?: string; extra?: string[] } = {}): Promise<RunResult> {
  return runCli(["apply", "--root", root, "--inputs", inputsDir, "-q", ...(opts.fixupDir ? ["--fixup-dir", opts.fixupDir] : []), ...(opts.extra ?? [])], opts);
}

export function rollback(root: string): Promise<RunResult> {
  return runCli(["rollback", "--root", root, "-q"]);
}

/** The three input maps written as files into dir. */
export function writeInputs(dir: string, maps: { system: unknown; disks: unknown; network: unknown }): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, FIXUP_FILES.systemConfiguration), JSON.stringify(maps.system, null, 2));
  writeFileSync(join(dir, FIXUP_FILES.replicaDiskMap), JSON.stringify(maps.disks, null, 2));
  writeFileSync(join(dir, FIXUP_FILES.networkInterfaceMap), JSON.stringify(maps.network, null, 2));
  return dir;
}

/** CPU seconds used by this process's reaped descendants so far (the guest tools included). */
export function childCpuSeconds(): number {
  const s = readFileSync("/proc/self/stat", "utf8");
  const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
  // fields 16 and 17 (cutime, cstime), counted from 1 with pid and comm as 1 and 2
  return (Number(f[13]) + Number(f[14])) / 100;
}
