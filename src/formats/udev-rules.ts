// udev rules files: one rule per logical line (a trailing '\' continues it), each a
// comma-separated list of KEY[{attr}] OP "value". Comments and blank lines are kept; a rule
// is dropped or replaced as a whole, with the physical lines it was written on.

export interface UdevToken {
  key: string;
  attr?: string;
  op: "==" | "!=" | "=" | "+=" | "-=" | ":=";
  value: string;
}

export interface UdevRule {
  /** Index of the first physical line. */
  first: number;
  /** Physical lines the rule spans. */
  count: number;
  text: string;
  tokens: UdevToken[];
}

const TOKEN = /\s*([A-Za-z_]+)(?:\{([^}]*)\})?\s*(==|!=|\+=|-=|:=|=)\s*"((?:[^"\\]|\\.)*)"\s*(?:,|$)/y;

export function parseRuleTokens(text: string): UdevToken[] | undefined {
  const out: UdevToken[] = [];
  TOKEN.lastIndex = 0;
  const t = text.trim();
  while (TOKEN.lastIndex < t.length) {
    const start = TOKEN.lastIndex;
    const m = TOKEN.exec(t);
    if (!m || TOKEN.lastIndex === start) return undefined;
    out.push({ key: m[1]!, ...(m[2] !== undefined ? { attr: m[2] } : {}), op: m[3] as UdevToken["op"], value: m[4]! });
  }
  return out;
}

export class UdevRulesFile {
  lines: string[];
  private readonly trailingNewline: boolean;

  constructor(text: string) {
    this.trailingNewline = text.endsWith("\n") || text === "";
    this.lines = text === "" ? [] : text.replace(/\n$/, "").split("\n");
  }

  rules(): UdevRule[] {
    const out: UdevRule[] = [];
    for (let i = 0; i < this.lines.length; i++) {
      const first = i;
      const t = this.lines[i]!.trim();
      if (t === "" || t.startsWith("#")) continue;
      let text = this.lines[i]!;
      while (/\\$/.test(text) && i + 1 < this.lines.length) text = text.replace(/\\$/, " ") + this.lines[++i];
      out.push({ first, count: i - first + 1, text, tokens: parseRuleTokens(text) ?? [] });
    }
    return out;
  }

  /** Removes the physical lines of the given rules (and of comment lines listed with them). */
  removeLines(indices: Set<number>): void {
    this.lines = this.lines.filter((_, i) => !indices.has(i));
  }

  toString(): string {
    const body = this.lines.join("\n");
    return this.trailingNewline && this.lines.length ? body + "\n" : body;
  }
}

/** The MAC a rule matches on (ATTR{address}==), lower case, and the NAME it assigns. */
export function ruleMacName(tokens: UdevToken[]): { mac?: string; name?: string } {
  const mac = tokens.find((t) => t.key === "ATTR" && t.attr === "address" && t.op === "==")?.value.toLowerCase();
  const name = tokens.find((t) => t.key === "NAME" && (t.op === "=" || t.op === ":="))?.value;
  return { ...(mac ? { mac } : {}), ...(name ? { name } : {}) };
}

export function formatRule(tokens: UdevToken[]): string {
  return tokens.map((t) => `${t.key}${t.attr !== undefined ? `{${t.attr}}` : ""}${t.op}"${t.value}"`).join(", ");
}
