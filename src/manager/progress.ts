// What `migrate` shows while it runs: on a terminal, one line per migration (step, n/N,
// elapsed time) redrawn every second; otherwise one line per step change; with --json, one
// JSON event per line on stdout (the ManagerEvent objects as they are).
import type { ManagerEvent } from "./manager.ts";

function clock(ms: number): string {
  const s = Math.floor(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${String(m).padStart(2, "0")}:${ss}`;
}

interface Row {
  id: string;
  step: string;
  index: number;
  total: number;
  startMs: number;
  stepStartMs: number;
  done?: { status: string; message: string; elapsedMs: number };
}

export class Progress {
  private readonly out: NodeJS.WritableStream & { isTTY?: boolean };
  private readonly mode: "tty" | "lines" | "json";
  private readonly rows = new Map<string, Row>();
  private timer: NodeJS.Timeout | undefined;
  private drawn = 0;

  constructor(out: NodeJS.WritableStream & { isTTY?: boolean }, json: boolean) {
    this.out = out;
    this.mode = json ? "json" : out.isTTY ? "tty" : "lines";
    if (this.mode === "tty") {
      this.timer = setInterval(() => this.draw(), 1000);
      this.timer.unref();
    }
  }

  onEvent(e: ManagerEvent): void {
    if (this.mode === "json") {
      this.out.write(JSON.stringify(e) + "\n");
      return;
    }
    const now = Date.now();
    let row = this.rows.get(e.id);
    if (!row) {
      row = { id: e.id, step: "", index: 0, total: 0, startMs: now - ("elapsedMs" in e ? e.elapsedMs : 0), stepStartMs: now };
      this.rows.set(e.id, row);
    }
    if (e.type === "step-start") {
      Object.assign(row, { step: e.step, index: e.index, total: e.total, stepStartMs: now, startMs: now - e.elapsedMs });
      if (this.mode === "lines") this.out.write(`[${clock(e.elapsedMs)}] ${e.id}: step ${e.index}/${e.total} ${e.step}\n`);
    } else if (e.type === "migration-start" && this.mode === "lines") {
      this.out.write(`${e.id}: ${e.resumed ? "resuming at" : "starting with"} step ${e.index}/${e.total} ${e.step}\n`);
    } else if (e.type === "step-failed" && this.mode === "lines") {
      this.out.write(`[${clock(e.elapsedMs)}] ${e.id}: ${e.message}\n`);
    } else if (e.type === "migration-done") {
      row.done = { status: e.status, message: e.message, elapsedMs: e.elapsedMs };
      if (this.mode === "lines") this.out.write(`[${clock(e.elapsedMs)}] ${e.id}: ${e.status.toUpperCase()}: ${e.message}\n`);
    }
    if (this.mode === "tty") this.draw();
  }

  private draw(): void {
    const now = Date.now();
    const lines = [...this.rows.values()].map((r) => {
      if (r.done) return `${r.id.padEnd(24)} ${r.done.status.toUpperCase().padEnd(30)} ${clock(r.done.elapsedMs)}  ${r.done.message}`;
      const step = `${r.index}/${r.total} ${r.step}`;
      return `${r.id.padEnd(24)} ${step.padEnd(30)} ${clock(now - r.startMs)}  (step ${clock(now - r.stepStartMs)})`;
    });
    const cols = (this.out as { columns?: number }).columns ?? 120;
    let s = this.drawn ? `\x1b[${this.drawn}A` : "";
    for (const l of lines) s += `\x1b[2K${l.slice(0, cols - 1)}\n`;
    this.out.write(s);
    this.drawn = lines.length;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.mode === "tty") this.draw();
  }
}
