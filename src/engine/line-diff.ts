// A unified diff whose cost grows with the file, not with its square. jsdiff's Myers diff
// costs O(N·D): on a large fstab where every tenth line changes, that is hours. Here the
// common prefix and suffix are cut off first; a small middle still goes to jsdiff (so the
// plan of an ordinary file reads exactly as `diff -u` would show it), a large one is diffed
// greedily: equal lines are skipped, and at a difference the nearest point where both sides
// agree again is searched for within a fixed window. That is linear, and every result is a
// correct patch, if not always the shortest one. Hunks are cut as jsdiff cuts them.
import { diffArrays, formatPatch, FILE_HEADERS_ONLY, type StructuredPatchHunk } from "diff";

/** Middles up to this many lines (both sides) go to jsdiff: at most a few million steps. */
const MYERS_MAX_LINES = 4000;
/** How far the greedy diff looks ahead on each side for the two files to agree again. */
const WINDOW = 32;

type Op = "=" | "-" | "+";
/** A run of lines: equal lines at a[a..] and b[b..], lines removed from a, or added from b. */
interface Run {
  op: Op;
  a: number;
  b: number;
  n: number;
}

/**
 * The lines of a text without their newlines (no copy of each line); a last line that has no
 * newline is marked with a NUL, so that it differs from the same line with one, as in jsdiff.
 * Text only: binary content (with NUL bytes) is never diffed.
 */
export function splitLines(text: string): string[] {
  if (text === "") return [];
  const lines = text.split("\n");
  const last = lines.pop()!;
  if (last !== "") lines.push(last + NO_NEWLINE);
  return lines;
}
const NO_NEWLINE = "\0";

class Runs {
  readonly list: Run[] = [];
  push(op: Op, a: number, b: number, n: number): void {
    if (n <= 0) return;
    const last = this.list[this.list.length - 1];
    if (last?.op === op && last.a + (op === "+" ? 0 : last.n) === a && last.b + (op === "-" ? 0 : last.n) === b) last.n += n;
    else this.list.push({ op, a, b, n });
  }
}

function myers(a: string[], b: string[], a0: number, a1: number, b0: number, b1: number, out: Runs): void {
  let i = a0, j = b0;
  for (const c of diffArrays(a.slice(a0, a1), b.slice(b0, b1))) {
    const n = c.count ?? c.value.length;
    if (c.added) {
      out.push("+", i, j, n);
      j += n;
    } else if (c.removed) {
      out.push("-", i, j, n);
      i += n;
    } else {
      out.push("=", i, j, n);
      i += n;
      j += n;
    }
  }
}

/** Offsets (x, y) with x + y = k, nearest the diagonal first: a changed line before a moved one. */
const ORDERS: [number, number][][] = Array.from({ length: 2 * WINDOW + 1 }, (_, k) => {
  const o: [number, number][] = [];
  for (let x = Math.max(0, k - WINDOW); x <= Math.min(k, WINDOW); x++) o.push([x, k - x]);
  return o.sort((p, q) => Math.abs(p[0] - p[1]) - Math.abs(q[0] - q[1]) || q[0] - p[0]);
});

function greedy(a: string[], b: string[], a0: number, a1: number, b0: number, b1: number, out: Runs): void {
  let i = a0, j = b0;
  // two equal lines in a row (or the common end) count as agreement: one blank line does not
  const agree = (x: number, y: number): boolean => (x === a1 && y === b1) || (x < a1 && y < b1 && a[x] === b[y] && (x + 1 === a1 || y + 1 === b1 || a[x + 1] === b[y + 1]));
  while (i < a1 || j < b1) {
    let n = 0;
    while (i + n < a1 && j + n < b1 && a[i + n] === b[j + n]) n++;
    if (n) {
      out.push("=", i, j, n);
      i += n;
      j += n;
      continue;
    }
    let dx = Math.min(WINDOW, a1 - i), dy = Math.min(WINDOW, b1 - j);
    search: for (let k = 1; k <= 2 * WINDOW; k++) {
      for (const [x, y] of ORDERS[k]!) {
        if (i + x > a1 || j + y > b1) continue;
        if (agree(i + x, j + y)) {
          dx = x;
          dy = y;
          break search;
        }
      }
    }
    out.push("-", i, j, dx);
    out.push("+", i + dx, j, dy);
    i += dx;
    j += dy;
  }
}

/** The edit script from a to b, as runs of equal, removed and added lines. */
export function lineRuns(a: string[], b: string[]): Run[] {
  let p = 0;
  while (p < a.length && p < b.length && a[p] === b[p]) p++;
  const out = new Runs();
  out.push("=", 0, 0, p);
  // jsdiff itself starts with the common prefix; the suffix is left to it where it is small,
  // so that an ambiguous change (a line added among equal ones) is placed as jsdiff places it
  if (a.length - p + (b.length - p) <= MYERS_MAX_LINES) {
    myers(a, b, p, a.length, p, b.length, out);
    return out.list;
  }
  let s = 0;
  while (s < a.length - p && s < b.length - p && a[a.length - 1 - s] === b[b.length - 1 - s]) s++;
  const a1 = a.length - s, b1 = b.length - s;
  if (a1 - p + (b1 - p) <= MYERS_MAX_LINES) myers(a, b, p, a1, p, b1, out);
  else greedy(a, b, p, a1, p, b1, out);
  out.push("=", a1, b1, s);
  return out.list;
}

/** Hunks with `context` lines around each change, merged and cut exactly as jsdiff does. */
function hunksOf(a: string[], b: string[], runs: Run[], context: number): StructuredPatchHunk[] {
  const all = [...runs, { op: "=" as const, a: a.length, b: b.length, n: 0 }];
  const hunks: StructuredPatchHunk[] = [];
  let oldStart = 0, newStart = 0, oldLine = 1, newLine = 1;
  let cur: string[] = [];
  const ctx = (r: Run, from: number, to: number) => {
    for (let k = from; k < to; k++) cur.push(" " + a[r.a + k]!);
  };
  for (let i = 0; i < all.length; i++) {
    const r = all[i]!;
    if (r.op !== "=") {
      if (!oldStart) {
        const prev = all[i - 1];
        oldStart = oldLine;
        newStart = newLine;
        cur = [];
        if (prev) {
          const c = Math.min(context, prev.n);
          ctx(prev, prev.n - c, prev.n);
          oldStart -= c;
          newStart -= c;
        }
      }
      const src = r.op === "+" ? b : a;
      const at = r.op === "+" ? r.b : r.a;
      for (let k = 0; k < r.n; k++) cur.push(r.op + src[at + k]!);
      if (r.op === "+") newLine += r.n;
      else oldLine += r.n;
      continue;
    }
    if (oldStart) {
      if (r.n <= context * 2 && i < all.length - 2) ctx(r, 0, r.n);
      else {
        const c = Math.min(r.n, context);
        ctx(r, 0, c);
        hunks.push({ oldStart, oldLines: oldLine - oldStart + c, newStart, newLines: newLine - newStart + c, lines: cur });
        oldStart = 0;
        newStart = 0;
        cur = [];
      }
    }
    oldLine += r.n;
    newLine += r.n;
  }
  // only a file's last line lacks a newline: once or twice (old and new side), in the last hunk
  const h = hunks[hunks.length - 1];
  for (let k = (h?.lines.length ?? 0) - 1; k >= 0; k--) {
    const l = h!.lines[k]!;
    if (l.endsWith(NO_NEWLINE)) h!.lines.splice(k, 1, l.slice(0, -1), "\\ No newline at end of file");
  }
  return hunks;
}

/** A unified diff of two texts, `--- oldName` / `+++ newName` first, as `diff -u` prints it. */
export function diffTexts(oldName: string, newName: string, before: string, after: string, context = 3): string {
  const a = splitLines(before), b = splitLines(after);
  const hunks = hunksOf(a, b, lineRuns(a, b), context);
  return formatPatch({ oldFileName: oldName, newFileName: newName, oldHeader: undefined, newHeader: undefined, hunks }, FILE_HEADERS_ONLY);
}
