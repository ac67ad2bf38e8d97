// What every network configuration system provides, and the shared driver its file rewrites
// run through. A system says which files it owns, what interfaces they configure, and how each
// file changes under the renames; listing it in systems/index.ts is all the wiring it needs.
import { posix } from "node:path";
import type { Change } from "../../engine/changes.ts";
import type { GuestView } from "../../guest/view.ts";
import type { FileEdit, Renames } from "../rewrite.ts";

export type NetKind = "ethernet" | "bond" | "bridge" | "vlan" | "team" | "other";

/** What one configuration file says about an interface. */
export interface IfaceFacts {
  mac?: string;
  kind?: NetKind;
  master?: string;
  parent?: string;
}

/** Records that `file` configures interface `name` (the collector merges what systems say). */
export type AddIface = (name: string | undefined, file: string, facts?: IfaceFacts) => void;

export interface RewriteInput {
  renames: Renames;
  /** options.renameNics: NICs get their new names (otherwise only their MACs change). */
  renameNics: boolean;
}

/**
 * A system's part of the network plan: file edits (moves and rewrites, turned into changes
 * together so that names can swap across files and systems), and changes and warnings that
 * are not edits of one file.
 */
export interface SystemRewrite {
  edits?: FileEdit[];
  changes?: Change[];
  warnings?: string[];
}

export interface NetworkSystem<N extends string = string> {
  /** The name inspection reports files under (NetConfigRef.system). */
  name: N;
  /** The files it owns, as absolute globs (`*` within one path component). */
  files: readonly string[];
  inspect: (view: GuestView, add: AddIface) => Promise<void>;
  rewrite: (view: GuestView, input: RewriteInput) => Promise<SystemRewrite>;
  /** Files of the system that cannot be parsed (left as they are), with the reason. */
  unreadable?: (view: GuestView) => Promise<{ file: string; reason: string }[]>;
}

/** Keeps the system's name a literal type, so that NetSystem is the union of the registry's names. */
export function netSystem<const N extends string>(s: NetworkSystem<N>): NetworkSystem<N> {
  return s;
}

/** Editor and package-manager leftovers, which no system reads. */
export const BACKUP = /\.(bak|orig|old|save|rpmsave|rpmnew|dpkg-old|dpkg-dist|dpkg-new)$|~$/;
/** The shorter list the route files have always been filtered with. */
export const ROUTE_BACKUP = /\.(bak|orig|rpmsave|rpmnew)$|~$/;

/** One file's new content and, when the interface name is in the file name, its new path. */
export interface Rewritten {
  to?: string;
  after: string;
  why: string;
}

/** One kind of file a system owns: how to find them, and how one of them changes. */
export interface FileRule {
  list: (view: GuestView) => Promise<string[]>;
  /** undefined: the file stays as it is. */
  edit: (before: string, file: string, r: Renames) => Rewritten | undefined;
}

/**
 * The rewrite loop every file-based system shares: for each file of each rule, read it, let
 * the rule apply the renames, and keep the edit when the file moves or changes.
 */
export function rewriteFiles(...rules: FileRule[]): NetworkSystem["rewrite"] {
  return async (view, { renames }) => {
    const edits: FileEdit[] = [];
    for (const rule of rules) {
      for (const file of await rule.list(view)) {
        const before = (await view.readText(file))!;
        const e = rule.edit(before, file, renames);
        if (e === undefined) continue;
        const to = e.to ?? file;
        if (to !== file || e.after !== before) edits.push({ from: file, to, before, after: e.after, why: e.why });
      }
    }
    return { edits };
  };
}

/** Regular files of `dir` whose names pass `keep`. */
export async function filesIn(view: GuestView, dir: string, keep: (name: string) => boolean): Promise<string[]> {
  const out: string[] = [];
  for (const n of await view.readdir(dir)) {
    if (!keep(n)) continue;
    const p = posix.join(dir, n);
    if ((await view.kind(p)) === "file") out.push(p);
  }
  return out;
}

export function words(v: string | undefined): string[] {
  return (v ?? "").split(/[\s,]+/).filter(Boolean);
}

/** The interface a VLAN named parent.id is built on. */
export function vlanParent(name: string): string | undefined {
  return /^(.+)\.\d+$/.exec(name)?.[1];
}

/** Applies `f` to each line that is neither blank nor a comment. */
export function editNonComment(text: string, f: (line: string) => string): string {
  return text
    .split("\n")
    .map((l) => (/^\s*(#|$)/.test(l) ? l : f(l)))
    .join("\n");
}

export function whyIface(dev: string, newDev: string, hasMac: boolean): string {
  if (dev !== newDev) return `interface ${dev} becomes ${newDev}`;
  return hasMac ? `interface ${dev} follows its NIC to the target MAC` : `${dev} refers to renamed interfaces`;
}
