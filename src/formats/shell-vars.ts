// KEY=value files read by shells: os-release, /etc/default/grub, ifcfg-*, sysconfig files.
// Parsed into lines so that an edit changes only the assignment it touches and keeps every
// comment, blank line and unknown line as it was.

export interface VarLine {
  kind: "var";
  key: string;
  value: string;
  raw: string;
  /** How the value was written, reused when it is changed. */
  quote: '"' | "'" | "";
  exported: boolean;
}
export interface OtherLine {
  kind: "other";
  raw: string;
}
export type ShellLine = VarLine | OtherLine;

// [\s\S]: a stray \r (a file edited on Windows) must not hide the assignment
const ASSIGN = /^(\s*)(export\s+)?([A-Za-z_][A-Za-z0-9_]*)=([\s\S]*)$/;

/**
 * A shell word unquoted, with where each character of the value starts in the word (and, last,
 * where the value ends), so that an edit can replace exactly the characters that change.
 */
function scan(v: string): { value: string; quote: '"' | "'" | ""; src: number[] } {
  const lead = v.length - v.trimStart().length;
  const s = v.replace(/\s+#.*$/, (m) => (/^\s+#/.test(m) && !/["']/.test(m) ? "" : m)).trim();
  const src: number[] = [];
  let out = "";
  if (s.startsWith('"')) {
    let i = 1;
    for (; i < s.length; i++) {
      const c = s[i]!;
      if (c === "\\" && i + 1 < s.length && '"\\$`'.includes(s[i + 1]!)) {
        src.push(lead + i);
        out += s[++i];
      } else if (c === '"') break;
      else {
        src.push(lead + i);
        out += c;
      }
    }
    src.push(lead + i);
    return { value: out, quote: '"', src };
  }
  if (s.startsWith("'")) {
    const end = s.indexOf("'", 1) < 0 ? s.length : s.indexOf("'", 1);
    for (let i = 1; i < end; i++) src.push(lead + i);
    src.push(lead + end);
    return { value: s.slice(1, end), quote: "'", src };
  }
  for (let i = 0; i < s.length; i++) {
    src.push(lead + i);
    if (s[i] === "\\" && i + 1 < s.length) i++;
    out += s[i];
  }
  src.push(lead + s.length);
  return { value: out, quote: "", src };
}

/** Unquotes a shell word as these files use it: "..." (with \" \\ \$ \`), '...', or bare. */
export function unquote(v: string): { value: string; quote: '"' | "'" | "" } {
  const { value, quote } = scan(v);
  return { value, quote };
}

/** Text that reads as `text` inside the given quoting, whatever it holds. */
function escapeIn(text: string, q: '"' | "'" | ""): string {
  if (q === "'") return text.replace(/'/g, "'\\''");
  if (q === "") return text.replace(/[^A-Za-z0-9_@%+=:,./-]/g, "\\$&");
  return text.replace(/(["\\`])/g, "\\$1").replace(/\$(?![A-Za-z_{(])/g, "\\$");
}

/**
 * The word `raw` (value `from`) changed to read `to`: only the characters that differ are
 * replaced, so an escaped \$(...), a quoted literal or a live `...` elsewhere in the word
 * keeps its shell meaning.
 */
function spliceWord(raw: string, from: string, to: string): string {
  const { src, quote: q } = scan(raw);
  let p = 0;
  while (p < from.length && p < to.length && from[p] === to[p]) p++;
  let e = 0;
  while (e < from.length - p && e < to.length - p && from[from.length - 1 - e] === to[to.length - 1 - e]) e++;
  return raw.slice(0, src[p]) + escapeIn(to.slice(p, to.length - e), q) + raw.slice(src[from.length - e]);
}

export function quote(value: string, prefer: '"' | "'" | "" = '"'): string {
  if (prefer === "" && /^[A-Za-z0-9_@%+=:,./-]*$/.test(value) && value !== "") return value;
  if (prefer === "'" && !value.includes("'")) return `'${value}'`;
  // a $VAR or $(...) in the value is a reference the file's author wrote (Ubuntu's grub.d
  // drop-ins extend "$GRUB_CMDLINE_LINUX_DEFAULT"): keep it live, escape only a lone $
  return `"${value.replace(/(["\\`])/g, "\\$1").replace(/\$(?![A-Za-z_{(])/g, "\\$")}"`;
}

export class ShellVars {
  lines: ShellLine[];
  private readonly trailingNewline: boolean;

  constructor(text: string) {
    this.trailingNewline = text.endsWith("\n") || text === "";
    const raw = text === "" ? [] : text.replace(/\n$/, "").split("\n");
    this.lines = raw.map((r): ShellLine => {
      const m = ASSIGN.exec(r);
      if (!m || r.trimStart().startsWith("#")) return { kind: "other", raw: r };
      const u = unquote(m[4]!);
      return { kind: "var", key: m[3]!, value: u.value, raw: r, quote: u.quote, exported: Boolean(m[2]) };
    });
  }

  /** The last assignment wins, as in the shell. */
  get(key: string): string | undefined {
    let v: string | undefined;
    for (const l of this.lines) if (l.kind === "var" && l.key === key) v = l.value;
    return v;
  }

  keys(): string[] {
    return [...new Set(this.lines.filter((l): l is VarLine => l.kind === "var").map((l) => l.key))];
  }

  toObject(): Record<string, string> {
    const o: Record<string, string> = {};
    for (const l of this.lines) if (l.kind === "var") o[l.key] = l.value;
    return o;
  }

  /** Changes the last assignment of key in place (keeping its quoting), or appends one. */
  set(key: string, value: string, defaultQuote: '"' | "'" | "" = '"'): void {
    for (let i = this.lines.length - 1; i >= 0; i--) {
      const l = this.lines[i]!;
      if (l.kind === "var" && l.key === key) {
        if (l.value === value) return;
        const m = ASSIGN.exec(l.raw)!;
        const head = `${m[1]}${m[2] ?? ""}${key}=`;
        // a quoted or escaped word is edited where it changes: its other characters keep
        // their meaning (an escaped \$(...) stays literal, a backtick stays live)
        if (l.quote !== "" || m[4]!.includes("\\")) {
          this.lines[i] = { ...l, value, raw: head + spliceWord(m[4]!, l.value, value) };
          return;
        }
        const q = !/^[A-Za-z0-9_@%+=:,./-]+$/.test(value) ? '"' : l.quote;
        this.lines[i] = { ...l, value, quote: q, raw: head + quote(value, q) };
        return;
      }
    }
    this.lines.push({ kind: "var", key, value, quote: defaultQuote, exported: false, raw: `${key}=${quote(value, defaultQuote)}` });
  }

  delete(key: string): void {
    this.lines = this.lines.filter((l) => !(l.kind === "var" && l.key === key));
  }

  toString(): string {
    const body = this.lines.map((l) => l.raw).join("\n");
    return this.trailingNewline && this.lines.length ? body + "\n" : body;
  }
}
