// NetworkManager keyfiles (*.nmconnection; GLib key-file syntax): [section] headers,
// key=value lines, comments starting with '#' or ';'. Kept as lines so an edit changes only
// the value it touches; the `ini` package would drop comments and reorder keys.

export type KeyfileLine =
  | { kind: "section"; name: string; raw: string }
  | { kind: "kv"; section: string; key: string; value: string; raw: string }
  | { kind: "other"; raw: string };

const SECTION = /^\s*\[([^\]]+)\]\s*$/;
const KV = /^(\s*)([^=#;[\s][^=]*?)(\s*=\s*)(.*)$/;

export class Keyfile {
  lines: KeyfileLine[];
  private readonly trailingNewline: boolean;

  constructor(text: string) {
    this.trailingNewline = text.endsWith("\n") || text === "";
    const raw = text === "" ? [] : text.replace(/\n$/, "").split("\n");
    let section = "";
    this.lines = raw.map((r): KeyfileLine => {
      const t = r.trimStart();
      if (t.startsWith("#") || t.startsWith(";") || t === "") return { kind: "other", raw: r };
      const s = SECTION.exec(r);
      if (s) {
        section = s[1]!;
        return { kind: "section", name: section, raw: r };
      }
      const kv = KV.exec(r);
      if (kv) return { kind: "kv", section, key: kv[2]!, value: kv[4]!, raw: r };
      return { kind: "other", raw: r };
    });
  }

  sections(): string[] {
    return [...new Set(this.lines.filter((l) => l.kind === "section").map((l) => (l as { name: string }).name))];
  }

  get(section: string, key: string): string | undefined {
    let v: string | undefined;
    for (const l of this.lines) if (l.kind === "kv" && l.section === section && l.key === key) v = l.value;
    return v;
  }

  /** Every key=value of a section, in file order. */
  entries(section: string): { key: string; value: string }[] {
    return this.lines.filter((l): l is Extract<KeyfileLine, { kind: "kv" }> => l.kind === "kv" && l.section === section).map((l) => ({ key: l.key, value: l.value }));
  }

  /** Changes a present key in place (keeping its spacing around '='); returns whether it did. */
  set(section: string, key: string, value: string): boolean {
    let done = false;
    this.lines = this.lines.map((l) => {
      if (l.kind !== "kv" || l.section !== section || l.key !== key || l.value === value) return l;
      const m = KV.exec(l.raw)!;
      done = true;
      return { ...l, value, raw: `${m[1]}${m[2]}${m[3]}${value}` };
    });
    return done;
  }

  toString(): string {
    const body = this.lines.map((l) => l.raw).join("\n");
    return this.trailingNewline && this.lines.length ? body + "\n" : body;
  }
}
