// Interface names and MACs as they appear inside configuration text. One place decides what
// counts as "this interface named here": the old name as a whole word, or with a VLAN
// (.100) or alias (:1) suffix, or as a path component (/sys/class/net/ens3/...).

export function normMac(m: string | undefined): string | undefined {
  if (!m) return undefined;
  const s = m.trim().replace(/^["']|["']$/g, "").replace(/;$/, "").toLowerCase().replace(/-/g, ":");
  return /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(s) ? s : undefined;
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/**
 * Replaces every whole-word occurrence of an old interface name with its new name, all at once
 * (so ens3->eth1 and ens4->eth0, or eth0<->eth1, never chain). A name followed by '.' or ':'
 * (VLAN, alias) or preceded by '/' counts; one that is part of a longer name does not.
 */
export function renameWords(text: string, names: ReadonlyMap<string, string>): string {
  const keys = [...names].filter(([a, b]) => a !== b).map(([a]) => a);
  if (!keys.length) return text;
  const alts = keys.sort((a, b) => b.length - a.length).map(escapeRe).join("|");
  const re = new RegExp(`(?<![A-Za-z0-9_.:@-])(${alts})(?![A-Za-z0-9_-])`, "g");
  return text.replace(re, (m) => names.get(m) ?? m);
}

/**
 * For labels that embed an interface name (NAME="System ens3", id=bond-slave-ens3, a
 * keyfile's file name): the name counts after any non-alphanumeric character.
 */
export function renameInLabel(text: string, names: ReadonlyMap<string, string>): string {
  const keys = [...names].filter(([a, b]) => a !== b).map(([a]) => a);
  if (!keys.length) return text;
  const alts = keys.sort((a, b) => b.length - a.length).map(escapeRe).join("|");
  return text.replace(new RegExp(`(?<![A-Za-z0-9])(${alts})(?![A-Za-z0-9])`, "g"), (m) => names.get(m) ?? m);
}

/** The new name for an interface name, with a VLAN/alias suffix carried over (ens3.100 -> eth0.100). */
export function renameOne(name: string, names: ReadonlyMap<string, string>): string {
  const direct = names.get(name);
  if (direct !== undefined) return direct;
  const m = /^(.+?)([.:][0-9]+)$/.exec(name);
  if (m) {
    const base = names.get(m[1]!);
    if (base !== undefined) return base + m[2];
  }
  return name;
}

/** Replaces MAC addresses (any case, ':' separated) keeping the case the file used. */
export function replaceMacs(text: string, macs: ReadonlyMap<string, string>): string {
  if (![...macs].some(([a, b]) => a !== b)) return text;
  return text.replace(/(?<![0-9A-Fa-f:])[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5}(?![0-9A-Fa-f:])/g, (m) => {
    const n = macs.get(m.toLowerCase());
    if (n === undefined) return m;
    return m === m.toUpperCase() && /[A-F]/.test(m) ? n.toUpperCase() : n;
  });
}

/** Same case style as `like` (RHEL installers write HWADDR in upper case). */
export function macLike(mac: string, like: string): string {
  return /[A-F]/.test(like) && !/[a-f]/.test(like) ? mac.toUpperCase() : mac.toLowerCase();
}

/** A shell pattern (ens*, en[0-9], eth?) from a guest's configuration, as a test on a name. */
export function globMatches(pattern: string, name: string): boolean {
  let re = "";
  for (let k = 0; k < pattern.length; k++) {
    const c = pattern[k]!;
    if (c === "*") re += ".*";
    else if (c === "?") re += ".";
    else if (c === "[") {
      const end = pattern.indexOf("]", k + 2);
      if (end < 0) re += "\\[";
      else {
        const body = pattern.slice(k + 1, end).replace(/^!/, "^").replace(/\\/g, "\\\\");
        re += `[${body}]`;
        k = end;
      }
    } else re += c.replace(/[.+^${}()|\\]/g, "\\$&");
  }
  try {
    return new RegExp(`^${re}$`).test(name);
  } catch {
    return false;
  }
}

/** Whether an interface name in configuration is a pattern rather than a name. */
export function isPattern(name: string): boolean {
  return /[*?[]/.test(name);
}

/**
 * The new names to add beside a list of names and patterns so that it keeps matching every
 * renamed interface a pattern in it matched (en* matched ens3, which becomes eth0: add eth0).
 * The patterns themselves stay, so whatever else they matched still matches.
 */
export function namesToAdd(list: readonly string[], names: ReadonlyMap<string, string>): string[] {
  // NetworkManager: "!x" excludes what x matches, "~x" is one of several optional matches
  const pats = list.filter((p) => isPattern(p) && !p.startsWith("!")).map((p) => p.replace(/^~/, ""));
  const excluded = (n: string) => list.some((p) => p.startsWith("!") && globMatches(p.slice(1), n));
  const out: string[] = [];
  for (const [from, to] of names) {
    if (from === to || !pats.some((p) => globMatches(p, from)) || excluded(from) || excluded(to)) continue;
    if (list.some((p) => p === to || globMatches(p, to)) || out.includes(to)) continue;
    out.push(to);
  }
  return out;
}
