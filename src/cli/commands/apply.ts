import { resolve } from "node:path";
import { copyFileSync, mkdirSync, readFileSync } from "node:fs";
import { exitCodeOf, fixupPath, runAgent } from "../../agent/agent.ts";
import { runStage1 } from "../../agent/stage1.ts";
import { FIXUP_FILES } from "../../protocol/files.ts";
import { Logger } from "../../util/log.ts";
import { type Command, list, need, noPositionals, parse, str } from "../args.ts";
import { STEP_HELP, checkRoot, inputsFrom } from "./common.ts";

const usage = `Usage: osam-fixup apply --root DIR --inputs DIR [--fixup-dir DIR] [--only STEPS] [--skip STEPS] [--json]

Runs stage 1 against an already-mounted guest: every change is backed up under
/opt/vmware/hcx/osam/data/backup/ in the guest and journaled, so 'osam-fixup rollback'
restores the originals. Running it again first restores the originals of the previous run,
then applies afresh, so a re-run after a crash converges to the same result.

  --root DIR       the guest's root filesystem, mounted (with /boot, /boot/efi, and /dev,
                   /proc, /sys, /run bound inside it for the commands run in the guest)
  --inputs DIR     directory with the three input maps
  --fixup-dir DIR  also write progress.txt, fixup.log, result.json and END there, as the
                   agent does (the maps are copied there first)
  --only STEPS     comma-separated steps to run (default: all)
  --skip STEPS     comma-separated steps to leave out
  --json           print result.json to stdout
  -q, --quiet      no progress lines on stderr

Exit status: 0 succeeded, 1 a fixup failed (the guest is as it was), 2 bad usage or input.

${STEP_HELP}`;

export const applyCommand: Command = {
  name: "apply",
  summary: "run stage 1 against a mounted guest (backed up, journaled)",
  usage,
  async run(argv) {
    const { values, positionals, help } = parse(argv, { root: { type: "string" }, inputs: { type: "string" }, "fixup-dir": { type: "string" }, only: { type: "string" }, skip: { type: "string" }, json: { type: "boolean" }, quiet: { type: "boolean", short: "q" } }, usage);
    if (help) {
      console.log(usage);
      return 0;
    }
    noPositionals(positionals, usage);
    const root = checkRoot(need(values.root, "--root", usage));
    const inputsDir = resolve(need(values.inputs, "--inputs", usage));
    const inputs = await inputsFrom(inputsDir);
    const echo = values.quiet ? undefined : (l: string) => process.stderr.write(l + "\n");
    const fixupDir = str(values["fixup-dir"]);
    const afterChange = crashHook();
    if (fixupDir) {
      const dir = resolve(fixupDir);
      mkdirSync(dir, { recursive: true });
      if (dir !== inputsDir) for (const f of ["systemConfiguration", "replicaDiskMap", "networkInterfaceMap"] as const) copyFileSync(resolve(inputsDir, FIXUP_FILES[f]), fixupPath(dir, f));
      const code = await runAgent({ fixupDir: dir, root, noWait: true, only: list(values.only), skip: list(values.skip), echo, afterChange });
      if (values.json) process.stdout.write(readFileSync(fixupPath(dir, "result"), "utf8"));
      return code;
    }
    const log = new Logger({ echo });
    const { result } = await runStage1({ root, inputs, mode: "apply", log, only: list(values.only), skip: list(values.skip), afterChange });
    if (values.json) console.log(JSON.stringify(result, null, 2));
    else process.stderr.write(`apply: ${result.status} (code ${result.code}): ${result.message}\n`);
    return exitCodeOf(result);
  },
};

/**
 * Crash injection for the reliability tests: OSAM_TEST_KILL_AFTER_CHANGE=N makes the process
 * SIGKILL itself right after the Nth applied change, as a power cut would stop it.
 */
function crashHook(): ((n: number) => void) | undefined {
  const n = Number(process.env.OSAM_TEST_KILL_AFTER_CHANGE);
  if (!Number.isInteger(n) || n <= 0) return undefined;
  return (i) => {
    if (i === n) process.kill(process.pid, "SIGKILL");
  };
}
