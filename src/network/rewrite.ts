// What carrying each mapped interface's configuration over to its new name and MAC is made of,
// whatever the system: the renames, the file edits each system plans (systems/), and the
// changes those edits become. Nothing here writes.
import type { Change } from "../engine/changes.ts";
import type { GuestView } from "../guest/view.ts";
import { macLike, normMac } from "./names.ts";
import type { NicPlan } from "./mapping.ts";

export interface Renames {
  /** old interface name -> new name (only names that change). */
  names: Map<string, string>;
  /** source MAC -> target MAC (only MACs that change). */
  macs: Map<string, string>;
  nics: NicPlan[];
}

/** One configuration file's new content and, when the interface name is in its file name, its new path. */
export interface FileEdit {
  from: string;
  to: string;
  before: string;
  after: string;
  why: string;
}

export function renamesOf(nics: NicPlan[]): Renames {
  const names = new Map<string, string>();
  const macs = new Map<string, string>();
  for (const n of nics) {
    if (n.sourceName !== undefined && n.sourceName !== n.newName) names.set(n.sourceName, n.newName);
    if (n.sourceMac !== n.targetMac) macs.set(n.sourceMac, n.targetMac);
  }
  return { names, macs, nics };
}

export function nicByMac(r: Renames, mac: string | undefined): NicPlan | undefined {
  const m = normMac(mac);
  return m ? r.nics.find((n) => n.sourceMac === m) : undefined;
}

export function newMac(r: Renames, mac: string): string {
  const n = r.macs.get(normMac(mac) ?? "");
  return n === undefined ? mac : macLike(n, mac.replace(/^["']|["']$/g, ""));
}

/**
 * Turns file edits into changes. A file whose new path is free is renamed (keeping its
 * owner, mode and SELinux label) and then rewritten; when names swap (ifcfg-eth0 <->
 * ifcfg-eth1) the new contents are written over each other and leftovers removed, since
 * every new content was computed from the originals.
 */
export async function editsToChanges(view: GuestView, all: FileEdit[]): Promise<{ changes: Change[]; warnings: string[] }> {
  // an edit that changes nothing must not count as a rename source or target below
  const edits = all.filter((e) => e.from !== e.to || e.after !== e.before);
  const changes: Change[] = [];
  const warnings: string[] = [];
  const froms = new Set(edits.map((e) => e.from));
  const tos = new Set(edits.map((e) => e.to));
  const removes: Change[] = [];
  for (const e of edits) {
    if (e.from === e.to) {
      if (e.after !== e.before) changes.push({ action: "write", path: e.to, content: e.after, reason: e.why });
      continue;
    }
    if (!froms.has(e.to) && !tos.has(e.from)) {
      if (await view.exists(e.to)) warnings.push(`${e.to} already exists and is replaced by ${e.from} (the original is kept in the backup)`);
      changes.push({ action: "rename", path: e.from, to: e.to, reason: e.why });
      if (e.after !== e.before) changes.push({ action: "write", path: e.to, content: e.after, reason: e.why });
      continue;
    }
    const st = (await view.root.resolve(e.from)).stat;
    changes.push({ action: "write", path: e.to, content: e.after, ...(st ? { mode: st.mode & 0o7777 } : {}), reason: `${e.why} (from ${e.from}; names swap)` });
    if (!tos.has(e.from)) removes.push({ action: "remove", path: e.from, reason: `${e.why} (moved to ${e.to})` });
  }
  return { changes: [...changes, ...removes], warnings };
}
