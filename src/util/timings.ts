// Where stage 1's time goes: one entry per leaf phase (a mount, a step's plan, one change's
// backup, its write, one command), never nested, so the entries never overlap and whatever
// they do not cover is time nobody has explained yet. The one exception is a step that runs
// alongside another (FixupStep.alongside): its entries say so, and may overlap the other's. result.json carries the list and
// fixup.log gets one `time:` line per entry as it ends.
import type { Timing } from "../protocol/schemas.ts";
import type { Logger } from "./log.ts";

export type Phase = Timing["phase"];

export class PhaseClock {
  readonly origin: number;
  readonly entries: Timing[];
  private readonly log: Logger | undefined;
  private readonly beside: string | undefined;

  constructor(origin: number = Date.now(), log?: Logger, entries: Timing[] = [], beside?: string) {
    this.origin = origin;
    this.log = log;
    this.entries = entries;
    this.beside = beside;
  }

  /** This clock for a step that runs alongside `step`: the same entries, each marked so. */
  alongside(step: string): PhaseClock {
    return new PhaseClock(this.origin, this.log, this.entries, step);
  }

  /** Runs fn and records how long it took, also when it throws. */
  async time<T>(phase: Phase, fn: () => Promise<T>, at: { step?: string; what?: string } = {}): Promise<T> {
    const t0 = Date.now();
    try {
      return await fn();
    } finally {
      this.add(phase, t0, Date.now(), at);
    }
  }

  add(phase: Phase, t0: number, t1: number, at: { step?: string; what?: string } = {}): void {
    const e: Timing = { phase, ...(at.step ? { step: at.step } : {}), ...(at.what ? { what: at.what } : {}), ...(this.beside ? { alongside: this.beside } : {}), startMs: Math.max(0, t0 - this.origin), durationMs: Math.max(0, t1 - t0) };
    this.entries.push(e);
    this.log?.info(`time: ${labelOf(e)}: ${e.durationMs} ms`);
  }
}

/** fn timed on clock, or just run when the caller was given no clock. */
export function timed<T>(clock: PhaseClock | undefined, phase: Phase, fn: () => Promise<T>, at?: { step?: string; what?: string }): Promise<T> {
  return clock ? clock.time(phase, fn, at) : fn();
}

export interface Gap {
  afterMs: number;
  durationMs: number;
  /** The entry the gap follows ("start" for the very beginning). */
  after: string;
}

/** How an entry reads in fixup.log and in the bench's breakdown. */
export function labelOf(e: Timing): string {
  return `${e.phase}${e.step ? ` [${e.step}${e.alongside ? `, alongside ${e.alongside}` : ""}]` : ""}${e.what ? ` ${e.what}` : ""}`;
}

/** Time between the entries (and after the last one up to totalMs) that no entry covers. */
export function gapsOf(entries: readonly Timing[], totalMs: number): Gap[] {
  const out: Gap[] = [];
  let end = 0;
  let after = "start";
  for (const e of [...entries].sort((x, y) => x.startMs - y.startMs)) {
    if (e.startMs > end) out.push({ afterMs: end, durationMs: e.startMs - end, after });
    if (e.startMs + e.durationMs >= end) {
      end = e.startMs + e.durationMs;
      after = labelOf(e);
    }
  }
  if (totalMs > end) out.push({ afterMs: end, durationMs: totalMs - end, after });
  return out;
}

export interface PhaseTotal {
  phase: Phase;
  count: number;
  totalMs: number;
  /** The longest entry of this phase. */
  largest: Timing;
}

/** Entries added up per phase, largest total first. */
export function totalsOf(entries: readonly Timing[]): PhaseTotal[] {
  const by = new Map<Phase, PhaseTotal>();
  for (const e of entries) {
    const t = by.get(e.phase);
    if (!t) by.set(e.phase, { phase: e.phase, count: 1, totalMs: e.durationMs, largest: e });
    else {
      t.count++;
      t.totalMs += e.durationMs;
      if (e.durationMs > t.largest.durationMs) t.largest = e;
    }
  }
  return [...by.values()].sort((a, b) => b.totalMs - a.totalMs);
}

/**
 * The wall time the entries cover, each instant once: the guest's tools of two kernels built
 * side by side, or of two steps run alongside each other, count as long as they ran, not twice.
 */
export function coveredMs(entries: readonly Timing[]): number {
  const end = Math.max(0, ...entries.map((e) => e.startMs + e.durationMs));
  return end - gapsOf(entries, end).reduce((n, g) => n + g.durationMs, 0);
}
