// Argument parsing shared by the sub-commands: strict (an unknown flag is an error, exit 2),
// with --help on every command.
import { parseArgs, type ParseArgsConfig } from "node:util";

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

export interface Command {
  name: string;
  summary: string;
  usage: string;
  run(argv: string[]): Promise<number>;
}

type Options = NonNullable<ParseArgsConfig["options"]>;

export function parse<O extends Options>(argv: string[], options: O, usage: string): { values: Record<string, string | boolean | string[] | undefined>; positionals: string[]; help: boolean } {
  try {
    const r = parseArgs({ args: argv, options: { ...options, help: { type: "boolean", short: "h" } }, allowPositionals: true, strict: true });
    const values = r.values as Record<string, string | boolean | string[] | undefined>;
    return { values, positionals: r.positionals, help: Boolean(values.help) };
  } catch (e) {
    throw new UsageError(`${(e as Error).message}\n\n${usage}`);
  }
}

export function str(v: unknown): string | undefined {
  return typeof v === "string" ? v : undefined;
}

export function need(v: unknown, flag: string, usage: string): string {
  if (typeof v !== "string" || v === "") throw new UsageError(`${flag} is required\n\n${usage}`);
  return v;
}

export function list(v: unknown): string[] | undefined {
  return typeof v === "string" ? v.split(",").map((s) => s.trim()).filter(Boolean) : undefined;
}

export function noPositionals(p: string[], usage: string): void {
  if (p.length) throw new UsageError(`unexpected argument: ${p[0]}\n\n${usage}`);
}
