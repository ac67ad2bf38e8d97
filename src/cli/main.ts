// The one binary's entry point: osam-fixup <command> [options].
import { FixupError } from "../protocol/codes.ts";
import { VERSION } from "../version.ts";
import { type Command, UsageError } from "./args.ts";
import { COMMANDS } from "./commands/index.ts";

function mainUsage(): string {
  return `osam-fixup ${VERSION}: makes a Linux guest replicated from KVM, Hyper-V, AHV or a physical
host boot on VMware hardware (PVSCSI disks, vmxnet3 NICs).

Usage: osam-fixup <command> [options]     (osam-fixup <command> --help for its options)

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(10)} ${c.summary}`).join("\n")}

  --version  print the version
  --help     print this help

Exit status: 0 ok, 1 the fixup failed, 2 bad usage or bad input.`;
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === "--version" || cmd === "-V" || cmd === "version") {
    console.log(VERSION);
    return 0;
  }
  if (cmd === undefined || cmd === "--help" || cmd === "-h" || cmd === "help") {
    const sub = cmd === "help" ? COMMANDS.find((c) => c.name === rest[0]) : undefined;
    console.log(sub ? sub.usage : mainUsage());
    return cmd === undefined ? 2 : 0;
  }
  const c: Command | undefined = COMMANDS.find((x) => x.name === cmd);
  if (!c) {
    process.stderr.write(`osam-fixup: unknown command '${cmd}'\n\n${mainUsage()}\n`);
    return 2;
  }
  try {
    return await c.run(rest);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`osam-fixup ${cmd}: ${e.message}\n`);
      return 2;
    }
    if (e instanceof FixupError) {
      process.stderr.write(`osam-fixup ${cmd}: failed (code ${e.code}): ${e.message}\n`);
      return e.codeName.startsWith("INPUT_") ? 2 : 1;
    }
    process.stderr.write(`osam-fixup ${cmd}: unexpected error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    return 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`osam-fixup: ${String(e)}\n`);
    process.exitCode = 1;
  },
);
