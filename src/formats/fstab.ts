// /etc/fstab (and /etc/crypttab, which has the same column layout): parsed per line so an
// edit rewrites only the fields it changes and keeps comments, blank lines and the original
// spacing of untouched lines.

export interface FstabEntry {
  kind: "entry";
  spec: string;
  file: string;
  vfstype: string;
  options: string;
  freq: string;
  passno: string;
  raw: string;
  /** Set when a field changed: the line is re-printed. */
  dirty?: boolean;
}
export interface FstabOther {
  kind: "other";
  raw: string;
}
export type FstabLine = FstabEntry | FstabOther;

/** fstab escapes spaces and the like in fields as octal (\040). */
export function decodeField(f: string): string {
  return f.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}
export function encodeField(f: string): string {
  return f.replace(/[\s\\#]/g, (c) => "\\" + c.charCodeAt(0).toString(8).padStart(3, "0"));
}

export class Fstab {
  lines: FstabLine[];
  private readonly trailingNewline: boolean;

  constructor(text: string) {
    this.trailingNewline = text.endsWith("\n") || text === "";
    const raw = text === "" ? [] : text.replace(/\n$/, "").split("\n");
    this.lines = raw.map((r): FstabLine => {
      const t = r.trim();
      if (t === "" || t.startsWith("#")) return { kind: "other", raw: r };
      const f = t.split(/\s+/);
      if (f.length < 2) return { kind: "other", raw: r };
      return {
        kind: "entry",
        spec: decodeField(f[0]!),
        file: decodeField(f[1]!),
        vfstype: f[2] ?? "auto",
        options: f[3] ?? "defaults",
        freq: f[4] ?? "0",
        passno: f[5] ?? "0",
        raw: r,
      };
    });
  }

  entries(): FstabEntry[] {
    return this.lines.filter((l): l is FstabEntry => l.kind === "entry");
  }

  /** Adds an option (nofail, ...) unless present. Returns true when it changed something. */
  static addOption(e: FstabEntry, opt: string): boolean {
    const opts = e.options.split(",");
    if (opts.includes(opt)) return false;
    e.options = e.options === "defaults" ? `defaults,${opt}` : [...opts, opt].join(",");
    e.dirty = true;
    return true;
  }

  toString(): string {
    const body = this.lines
      .map((l) => {
        if (l.kind === "other" || !l.dirty) return l.raw;
        // keep the original column alignment where the fields still fit
        const fields = [encodeField(l.spec), encodeField(l.file), l.vfstype, l.options, l.freq, l.passno];
        const m = /^(\s*)/.exec(l.raw)!;
        const widths = [...l.raw.trim().matchAll(/\S+\s*/g)].map((x) => x[0].length);
        return m[1] + fields.map((f, i) => (i < fields.length - 1 ? f.padEnd(Math.max((widths[i] ?? 0) - 1, f.length) + 1) : f)).join("");
      })
      .join("\n");
    return this.trailingNewline && this.lines.length ? body + "\n" : body;
  }
}
