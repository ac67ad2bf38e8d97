// Applies a unified diff (one file) to a text: a plain applier that trusts the hunk headers
// and checks every context and removed line, to test diffs independently of how they were made.
export function applyUnifiedDiff(before: string, patch: string): string {
  const split = (t: string) => (t === "" ? [] : t.endsWith("\n") ? t.slice(0, -1).split("\n").map((l) => l + "\n") : t.split("\n").map((l, i, all) => (i < all.length - 1 ? l + "\n" : l)));
  const src = split(before);
  const out: string[] = [];
  let at = 0; // next source line to copy (0-based)
  const lines = patch.split("\n");
  let i = lines.findIndex((l) => l.startsWith("@@"));
  if (i < 0) return before;
  while (i < lines.length && lines[i]!.startsWith("@@")) {
    const m = /^@@ -(\d+),(\d+) \+(\d+),(\d+) @@$/.exec(lines[i]!);
    if (!m) throw new Error(`bad hunk header: ${lines[i]}`);
    const oldStart = Number(m[2]) === 0 ? Number(m[1]) : Number(m[1]) - 1;
    if (oldStart < at) throw new Error(`hunk at ${m[1]} overlaps the one before`);
    while (at < oldStart) out.push(src[at++]!);
    i++;
    let last: "old" | "new" | "both" | undefined;
    let lastOut = -1;
    for (; i < lines.length && !lines[i]!.startsWith("@@"); i++) {
      const l = lines[i]!;
      if (l === "" && i === lines.length - 1) break;
      const body = l.slice(1) + "\n";
      if (l.startsWith("\\")) {
        // the line before has no newline: on the old side, the new side or both
        if (last !== "new") src[at - 1] = src[at - 1]!.replace(/\n$/, "");
        if (last !== "old") out[lastOut] = out[lastOut]!.replace(/\n$/, "");
        continue;
      }
      if (l[0] === " " || l[0] === "-") {
        const have = src[at] ?? "";
        if (have.replace(/\n$/, "") !== body.slice(0, -1)) throw new Error(`line ${at + 1}: expected ${JSON.stringify(body)}, found ${JSON.stringify(have)}`);
        at++;
      }
      if (l[0] === " " || l[0] === "+") {
        out.push(body);
        lastOut = out.length - 1;
      }
      last = l[0] === " " ? "both" : l[0] === "-" ? "old" : "new";
    }
  }
  while (at < src.length) out.push(src[at++]!);
  return out.join("");
}
