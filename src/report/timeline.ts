// Timelines as inline SVG: one row per step or phase, its bar placed at its start and as long
// as it took. Each bar carries a <title> (the browser shows it on hover, no script) and the
// data-* attributes the tests read.
import { esc, fmtMs } from "./html.ts";

export interface Segment {
  startMs: number;
  durationMs: number;
  title: string;
}

export interface Bar {
  /** What the row stands for (a step or phase name): data-bar. */
  key: string;
  label: string;
  /** Colour class: a step status or a phase name. */
  kind: string;
  segments: Segment[];
  /** The row's total, shown at its right end: data-ms. */
  totalMs: number;
}

const W = 960;
const LABEL = 240;
const RIGHT = 90;
const ROW = 20;
const AXIS = 22;

function tickStep(maxMs: number): number {
  const raw = maxMs / 6;
  const pow = 10 ** Math.floor(Math.log10(Math.max(raw, 1)));
  for (const m of [1, 2, 5, 10]) if (raw <= m * pow) return m * pow;
  return 10 * pow;
}

function kindClass(kind: string): string {
  return `k-${kind.replace(/[^a-z0-9-]/gi, "_")}`;
}

export function timeline(bars: Bar[], caption: string, name: string): string {
  const end = Math.max(1, ...bars.flatMap((b) => b.segments.map((s) => s.startMs + s.durationMs)));
  const plot = W - LABEL - RIGHT;
  const x = (ms: number) => LABEL + (ms / end) * plot;
  const h = AXIS + bars.length * ROW + 4;
  const out: string[] = [];
  out.push(`<figure class="timeline" data-timeline="${esc(name)}"><figcaption>${esc(caption)}</figcaption>`);
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${h}" width="100%" role="img" aria-label="${esc(caption)}">`);
  const step = tickStep(end);
  for (let t = 0; t <= end + 1e-9; t += step) {
    const tx = x(t).toFixed(1);
    out.push(`<line class="tick" x1="${tx}" y1="${AXIS - 4}" x2="${tx}" y2="${h}"/><text class="axis" x="${tx}" y="${AXIS - 8}" text-anchor="middle">${esc(fmtMs(t))}</text>`);
  }
  bars.forEach((b, i) => {
    const y = AXIS + i * ROW;
    out.push(`<g class="bar ${kindClass(b.kind)}" data-bar="${esc(b.key)}" data-kind="${esc(b.kind)}" data-ms="${b.totalMs}">`);
    out.push(`<text class="label" x="${LABEL - 8}" y="${y + 14}" text-anchor="end">${esc(b.label)}</text>`);
    for (const s of b.segments) {
      const w = Math.max(1.5, (s.durationMs / end) * plot);
      out.push(`<rect x="${x(s.startMs).toFixed(1)}" y="${y + 3}" width="${w.toFixed(1)}" height="${ROW - 6}" rx="2"><title>${esc(s.title)}</title></rect>`);
    }
    out.push(`<text class="dur" x="${W - 4}" y="${y + 14}" text-anchor="end">${esc(fmtMs(b.totalMs))}</text></g>`);
  });
  out.push(`</svg></figure>`);
  return out.join("");
}
