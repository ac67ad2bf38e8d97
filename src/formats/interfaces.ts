// Debian's /etc/network/interfaces (ifupdown): stanzas (`iface`, `mapping`), `auto` and
// `allow-*` lines, `source`/`source-directory`, and option lines below a stanza. Every
// physical line is kept as written; an edit replaces words in the lines it touches only.
// Comments are lines that start with '#' (ifupdown has no trailing comments); a line that
// ends with '\' continues on the next one.

export type IfLineKind = "blank" | "comment" | "auto" | "allow" | "iface" | "mapping" | "source" | "source-directory" | "option" | "continued";

export interface IfLine {
  kind: IfLineKind;
  raw: string;
  /** The line's words (for a logical line continued below, only this physical line's). */
  words: string[];
  /** Index into stanzas() of the iface/mapping stanza this line belongs to. */
  stanza?: number;
}

export interface IfOption {
  key: string;
  value: string;
  line: number;
}

export interface IfStanza {
  kind: "iface" | "mapping";
  /** The logical interface name (iface ens3 inet static -> ens3). */
  name: string;
  family?: string;
  method?: string;
  line: number;
  options: IfOption[];
}

export class InterfacesFile {
  lines: IfLine[];
  private readonly trailingNewline: boolean;

  constructor(text: string) {
    this.trailingNewline = text.endsWith("\n") || text === "";
    const raw = text === "" ? [] : text.replace(/\n$/, "").split("\n");
    this.lines = [];
    let stanza: number | undefined;
    let stanzas = -1;
    let continued = false;
    for (const r of raw) {
      const t = r.trim();
      const words = t.split(/\s+/).filter(Boolean);
      let kind: IfLineKind;
      if (continued) kind = "continued";
      else if (t === "") kind = "blank";
      else if (t.startsWith("#")) kind = "comment";
      else {
        const w = words[0]!;
        if (w === "auto") kind = "auto";
        else if (w.startsWith("allow-")) kind = "allow";
        else if (w === "iface" || w === "mapping") {
          kind = w;
          stanza = ++stanzas;
        } else if (w === "source" || w === "source-directory") kind = w;
        else kind = "option";
        // a top-level keyword ends the current stanza's options
        if (kind === "auto" || kind === "allow" || kind === "source" || kind === "source-directory") stanza = undefined;
      }
      continued = kind !== "comment" && /\\$/.test(r);
      this.lines.push({ kind, raw: r, words, ...(stanza !== undefined && kind !== "blank" && kind !== "comment" ? { stanza } : {}) });
    }
  }

  stanzas(): IfStanza[] {
    const out: IfStanza[] = [];
    this.lines.forEach((l, i) => {
      if (l.kind === "iface" || l.kind === "mapping") {
        out.push({ kind: l.kind, name: l.words[1] ?? "", family: l.words[2], method: l.words[3], line: i, options: [] });
      } else if (l.kind === "option" && l.stanza !== undefined) {
        out[l.stanza]?.options.push({ key: l.words[0]!, value: l.words.slice(1).join(" "), line: i });
      }
    });
    return out;
  }

  /** Interfaces named on `auto` and `allow-*` lines, with the class ("auto", "allow-hotplug"). */
  marks(): { cls: string; name: string; line: number }[] {
    const out: { cls: string; name: string; line: number }[] = [];
    this.lines.forEach((l, i) => {
      if (l.kind === "auto" || l.kind === "allow") for (const n of l.words.slice(1)) out.push({ cls: l.words[0]!, name: n, line: i });
    });
    return out;
  }

  /** `source` and `source-directory` patterns, in order. */
  sources(): { kind: "source" | "source-directory"; pattern: string; line: number }[] {
    const out: { kind: "source" | "source-directory"; pattern: string; line: number }[] = [];
    this.lines.forEach((l, i) => {
      if ((l.kind === "source" || l.kind === "source-directory") && l.words[1]) out.push({ kind: l.kind, pattern: l.words.slice(1).join(" "), line: i });
    });
    return out;
  }

  /** Rewrites a line with f (not comments); returns whether anything changed. */
  editLines(f: (raw: string, line: IfLine) => string): boolean {
    let changed = false;
    this.lines = this.lines.map((l) => {
      if (l.kind === "comment" || l.kind === "blank") return l;
      const nr = f(l.raw, l);
      if (nr === l.raw) return l;
      changed = true;
      return { ...l, raw: nr, words: nr.trim().split(/\s+/).filter(Boolean) };
    });
    return changed;
  }

  toString(): string {
    const body = this.lines.map((l) => l.raw).join("\n");
    return this.trailingNewline && this.lines.length ? body + "\n" : body;
  }
}
