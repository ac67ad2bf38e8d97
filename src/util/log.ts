// fixup.log: the full record of a run, written synchronously line by line so that a crash
// or a kill leaves everything logged up to that moment.
import { appendFileSync } from "node:fs";

export type Level = "debug" | "info" | "warn" | "error";

export class Logger {
  private readonly file: string | undefined;
  private readonly echo: ((line: string) => void) | undefined;
  readonly lines: string[] = [];
  private readonly keep: boolean;

  constructor(opts: { file?: string; echo?: (line: string) => void; keep?: boolean } = {}) {
    this.file = opts.file;
    this.echo = opts.echo;
    this.keep = opts.keep ?? !opts.file;
  }

  log(level: Level, msg: string): void {
    const line = `${new Date().toISOString()} ${level.toUpperCase().padEnd(5)} ${msg}`;
    if (this.file) appendFileSync(this.file, line + "\n");
    if (this.keep) this.lines.push(line);
    if (this.echo && level !== "debug") this.echo(line);
  }
  debug(msg: string): void { this.log("debug", msg); }
  info(msg: string): void { this.log("info", msg); }
  warn(msg: string): void { this.log("warn", msg); }
  error(msg: string): void { this.log("error", msg); }

  /** Lines another logger kept (already stamped), in the order they were logged. */
  take(lines: readonly string[]): void {
    if (!lines.length) return;
    if (this.file) appendFileSync(this.file, lines.join("\n") + "\n");
    if (this.keep) this.lines.push(...lines);
  }

  /** A command's output, indented under the line that ran it. */
  output(text: string): void {
    const t = text.replace(/\s+$/, "");
    if (!t) return;
    const block = t.split("\n").map((l) => `    | ${l}`).join("\n");
    if (this.file) appendFileSync(this.file, block + "\n");
    if (this.keep) this.lines.push(block);
  }
}

/** Quotes an argument vector for display only; commands are never run through a shell. */
export function showArgv(argv: readonly string[]): string {
  return argv.map((a) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(" ");
}
