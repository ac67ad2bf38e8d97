import { resolve } from "node:path";
import { runAgent } from "../../agent/agent.ts";
import { DEFAULT_FIXUP_DIR, FIXUP_FILES } from "../../protocol/files.ts";
import { type Command, UsageError, list, noPositionals, parse, str } from "../args.ts";
import { STEP_HELP, checkRoot } from "./common.ts";

const usage = `Usage: osam-fixup agent [--fixup-dir DIR] [--root DIR] [--timeout SECONDS] [--only STEPS] [--skip STEPS]

The stage-1 agent, as it runs on the fixup disk. It creates the fixup directory (default
${DEFAULT_FIXUP_DIR}) and waits for the manager to write the three maps and then ${FIXUP_FILES.begin}.
It then validates the maps, finds and mounts the guest (or uses --root), fixes it, and
writes ${FIXUP_FILES.progress} (one line per action, as it happens), ${FIXUP_FILES.log},
${FIXUP_FILES.result}, and ${FIXUP_FILES.end} last, also after a failure.

  --fixup-dir DIR    the exchange directory (default ${DEFAULT_FIXUP_DIR})
  --root DIR         an already-mounted guest root (skips discovery and mounting)
  --timeout SECONDS  give up waiting for ${FIXUP_FILES.begin} after this long (default: wait forever)
  --only STEPS       comma-separated steps to run (default: all)
  --skip STEPS       comma-separated steps to leave out
  -q, --quiet        do not echo the log to stderr

${STEP_HELP}

Exit status: 0 succeeded, 1 the fixup failed, 2 bad input (see result.json for the code).`;

export const agentCommand: Command = {
  name: "agent",
  summary: "the stage-1 agent: wait for BEGIN in /tmp/fixup, fix the guest, write END",
  usage,
  async run(argv) {
    const { values, positionals, help } = parse(argv, { "fixup-dir": { type: "string" }, root: { type: "string" }, timeout: { type: "string" }, only: { type: "string" }, skip: { type: "string" }, quiet: { type: "boolean", short: "q" } }, usage);
    if (help) {
      console.log(usage);
      return 0;
    }
    noPositionals(positionals, usage);
    const root = str(values.root);
    const t = str(values.timeout);
    const timeoutMs = t === undefined ? undefined : Number(t) * 1000;
    if (timeoutMs !== undefined && !(timeoutMs > 0)) throw new UsageError(`--timeout must be a positive number of seconds\n\n${usage}`);
    return runAgent({
      fixupDir: resolve(str(values["fixup-dir"]) ?? DEFAULT_FIXUP_DIR),
      root: root ? checkRoot(root) : undefined,
      waitTimeoutMs: timeoutMs,
      only: list(values.only),
      skip: list(values.skip),
      echo: values.quiet ? undefined : (l) => process.stderr.write(l + "\n"),
    });
  },
};
