// osam-fixup collect: the source inventory (the "source" part of system-configuration.json),
// gathered by the same POSIX sh script the sentinel ships, so a user can try what a manager
// would collect. The script can also be printed, for sources that cannot run this binary
// (it needs glibc 2.28; the script runs on RHEL 6 era shells and busybox).
import { execa } from "execa";
import { formatZodError } from "../../protocol/inputs.ts";
import { SystemConfiguration } from "../../protocol/schemas.ts";
import { collectScript } from "../../sentinel/render.ts";
import { type Command, noPositionals, parse, str, UsageError } from "../args.ts";
import { checkRoot } from "./common.ts";

export const SourceInventory = SystemConfiguration.shape.source;
export type SourceInventory = ReturnType<typeof SourceInventory.parse>;

const usage = `Usage: osam-fixup collect [--shell SH] [--chroot DIR] [--print-script]

Prints this machine's inventory as JSON: the "source" part of system-configuration.json
(firmware, hostname, hypervisor, os-release, default target or runlevel, SELinux mode, root
device, block devices with UUIDs, filesystems and mount points, interfaces with MACs and
addresses). Run it on the source system before migration, as root (blkid needs it). The
output is checked against the schema. Changes nothing.

  --shell SH        the shell that runs the collect script (default /bin/sh; words are
                    split: --shell '/bin/busybox sh')
  --chroot DIR      run it inside DIR with chroot (an image or a mounted system)
  --print-script    print the POSIX sh script instead, to run it where this binary cannot
                    run (sh collect.sh > source.json)

Exit status: 0 ok, 1 the script failed or its output does not match the schema, 2 bad usage.`;

export class CollectError extends Error {
  readonly output: string;
  constructor(message: string, output: string) {
    super(message);
    this.name = "CollectError";
    this.output = output;
  }
}

/** Parses and validates the collect script's output. */
export function parseCollectOutput(stdout: string): SourceInventory {
  let json: unknown;
  try {
    json = JSON.parse(stdout);
  } catch (e) {
    throw new CollectError(`the collect script printed no valid JSON (${(e as Error).message})`, stdout);
  }
  const r = SourceInventory.safeParse(json);
  if (!r.success) throw new CollectError(formatZodError("source", r.error), stdout);
  return r.data;
}

/** Runs the collect script (on this machine or in a chroot) and validates what it prints. */
export async function runCollect(opts: { shell?: string[]; chroot?: string; timeoutMs?: number } = {}): Promise<{ source: SourceInventory; stdout: string; stderr: string }> {
  const shell = opts.shell ?? ["/bin/sh"];
  const argv = [...shell, "-s"];
  const [file, args] = opts.chroot ? ["chroot", [opts.chroot, ...argv]] : [argv[0]!, argv.slice(1)];
  const r = await execa(file, args, { input: collectScript(), reject: false, timeout: opts.timeoutMs ?? 120_000, killSignal: "SIGKILL", env: { LC_ALL: "C" } });
  const stdout = typeof r.stdout === "string" ? r.stdout : "";
  const stderr = typeof r.stderr === "string" ? r.stderr : "";
  if (r.exitCode !== 0) throw new CollectError(`the collect script exited with ${r.timedOut ? "a timeout" : String(r.exitCode)}: ${stderr.trim().split("\n").slice(-3).join(" / ")}`, stdout);
  return { source: parseCollectOutput(stdout), stdout, stderr };
}

export const collectCommand: Command = {
  name: "collect",
  summary: "print this source machine's inventory (system-configuration.json's source part)",
  usage,
  async run(argv) {
    const { values, positionals, help } = parse(argv, { shell: { type: "string" }, chroot: { type: "string" }, "print-script": { type: "boolean" } }, usage);
    if (help) {
      console.log(usage);
      return 0;
    }
    noPositionals(positionals, usage);
    if (values["print-script"]) {
      process.stdout.write(collectScript());
      return 0;
    }
    // "/bin/busybox sh" is a shell too: words, the first an absolute path
    const shell = str(values.shell)?.trim().split(/\s+/);
    if (shell !== undefined && !shell[0]?.startsWith("/")) throw new UsageError(`--shell ${String(values.shell)}: give an absolute path`);
    const chroot = values.chroot === undefined ? undefined : checkRoot(String(values.chroot));
    try {
      const { source, stderr } = await runCollect({ shell, chroot });
      if (stderr.trim()) process.stderr.write(stderr);
      console.log(JSON.stringify(source, null, 2));
      return 0;
    } catch (e) {
      if (!(e instanceof CollectError)) throw e;
      if (e.output) process.stderr.write(`collect: the script printed:\n${e.output}\n`);
      process.stderr.write(`collect: ${e.message}\n`);
      return 1;
    }
  },
};
