// Runs commands inside the guest: always `chroot ROOT argv...` with an argument array and a
// clean environment, its output captured into fixup.log.
import { execa } from "execa";
import { PACKAGE_TOOLS_ENV } from "../distros/index.ts";
import type { Logger } from "../util/log.ts";
import { showArgv } from "../util/log.ts";

export interface ExecResult {
  exitCode: number;
  output: string;
  timedOut: boolean;
}

export type ExecRunner = (argv: string[], opts?: { timeoutMs?: number; env?: Record<string, string> }) => Promise<ExecResult>;

export const GUEST_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

export function chrootRunner(root: string, log: Logger): ExecRunner {
  return async (argv, opts = {}) => {
    log.info(`exec (chroot ${root}): ${showArgv(argv)}`);
    const t0 = Date.now();
    const r = await execa("chroot", [root, ...argv], {
      reject: false,
      all: true,
      stdin: "ignore",
      extendEnv: false,
      env: { PATH: GUEST_PATH, LANG: "C", LC_ALL: "C", HOME: "/root", TERM: "dumb", ...PACKAGE_TOOLS_ENV, ...opts.env },
      timeout: opts.timeoutMs ?? 30 * 60_000,
      killSignal: "SIGKILL",
    });
    const output = typeof r.all === "string" ? r.all : "";
    log.output(output);
    const exitCode = r.exitCode ?? (r.timedOut ? 124 : 128);
    log.info(`exec: exit ${exitCode}${r.timedOut ? " (timed out)" : ""} after ${Date.now() - t0} ms`);
    return { exitCode, output, timedOut: Boolean(r.timedOut) };
  };
}
