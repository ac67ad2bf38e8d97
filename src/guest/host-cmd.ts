// Commands run on the fixup VM itself (not in the guest's chroot) while its disks are found
// and mounted: logged with their output, killed when they hang.
import { execa } from "execa";
import type { Logger } from "../util/log.ts";
import { showArgv } from "../util/log.ts";

const CMD_TIMEOUT_MS = 120_000;

export async function host(log: Logger, cmd: string, args: string[], opts: { reject?: boolean; timeoutMs?: number } = {}): Promise<{ exitCode: number; output: string }> {
  log.info(`host: ${showArgv([cmd, ...args])}`);
  const r = await execa(cmd, args, { reject: false, all: true, stdin: "ignore", timeout: opts.timeoutMs ?? CMD_TIMEOUT_MS, killSignal: "SIGKILL", env: { LVM_SUPPRESS_FD_WARNINGS: "1" } });
  const all = typeof r.all === "string" ? r.all : "";
  log.output(all);
  if (opts.reject !== false && r.exitCode !== 0) throw new Error(`${showArgv([cmd, ...args])} exited with ${r.timedOut ? "a timeout" : r.exitCode}: ${all.trim().split("\n").slice(-3).join(" / ")}`);
  return { exitCode: r.exitCode ?? 128, output: all };
}

/** Unmounts, lazily when the mount is busy. */
export async function unmount(log: Logger, p: string): Promise<void> {
  const r = await host(log, "umount", [p], { reject: false });
  if (r.exitCode !== 0) {
    await host(log, "umount", ["-l", p], { reject: false });
    log.warn(`unmounted ${p} lazily`);
  }
}
