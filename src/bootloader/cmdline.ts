// Kernel command-line edits, in every place a guest keeps its command line: GRUB2's
// /etc/default/grub, BLS entries (and grubenv's kernelopts they may point at), GRUB legacy
// kernel lines, and /etc/kernel/cmdline. Storage (root=, resume=) and network
// (net.ifnames=0) both edit through here, so the two never disagree on a file.
import { posix } from "node:path";
import { ShellVars } from "../formats/shell-vars.ts";
import { KNOWN_EFI_VENDORS } from "../distros/index.ts";
import type { Change } from "../engine/changes.ts";
import type { GuestView } from "../guest/view.ts";

/** key -> value to set (null: a bare flag such as `quiet`); remove: keys to drop. */
export interface CmdlineEdit {
  set?: Record<string, string | null>;
  remove?: string[];
  /** Rewrites the value of a key that is present; undefined keeps it. Not added if absent. `words`: the whole line (resume= reads resume_offset=). */
  map?: (key: string, value: string | null, words: readonly string[]) => string | null | undefined;
}

/** Splits a command line into words, keeping double-quoted values (foo="a b") whole. */
export function splitCmdline(line: string): string[] {
  const out: string[] = [];
  let cur = "";
  let q = false;
  let has = false;
  for (const c of line) {
    if (c === '"') q = !q;
    if (!q && /\s/.test(c)) {
      if (has) out.push(cur);
      cur = "";
      has = false;
    } else {
      cur += c;
      has = true;
    }
  }
  if (has) out.push(cur);
  return out;
}

function keyOf(word: string): string {
  const i = word.indexOf("=");
  return i < 0 ? word : word.slice(0, i);
}
function valueOf(word: string): string | null {
  const i = word.indexOf("=");
  return i < 0 ? null : word.slice(i + 1);
}
function word(key: string, value: string | null): string {
  return value === null ? key : `${key}=${value}`;
}

/**
 * Applies an edit to one command line. Set keys replace the first occurrence in place (later
 * duplicates are dropped); keys not present are appended unless `appendMissing` is false.
 */
export function editCmdline(line: string, edit: CmdlineEdit, appendMissing = true): string {
  const words = splitCmdline(line);
  const out: string[] = [];
  const seen = new Set<string>();
  for (const w of words) {
    const k = keyOf(w);
    if (edit.remove?.includes(k)) continue;
    if (edit.set && k in edit.set) {
      if (seen.has(k)) continue;
      seen.add(k);
      out.push(word(k, edit.set[k]!));
      continue;
    }
    const mapped = edit.map?.(k, valueOf(w), words);
    out.push(mapped === undefined ? w : word(k, mapped));
  }
  const adding = appendMissing ? Object.entries(edit.set ?? {}).filter(([k]) => !seen.has(k)) : [];
  // an unterminated quote would swallow every word appended after it: close it first
  const tail = out.length - 1;
  if (adding.length && tail >= 0 && (out[tail]!.split('"').length - 1) % 2 === 1) out[tail] += '"';
  for (const [k, v] of adding) out.push(word(k, v));
  // nothing changed: keep the line as written (its spacing) so no file is rewritten for nothing
  if (out.length === words.length && out.every((w, i) => w === words[i])) return line;
  return out.join(" ");
}

/** Lines of a GRUB legacy menu.lst/grub.conf that carry a kernel command line. */
function editLegacy(text: string, edit: CmdlineEdit): string {
  return text
    .split("\n")
    .map((l) => {
      const m = /^(\s*kernel\s+)(\S+)(.*)$/.exec(l);
      if (!m) return l;
      const args = editCmdline(m[3]!.trim(), edit);
      return `${m[1]}${m[2]}${args ? " " + args : ""}`;
    })
    .join("\n");
}

/** grubenv is a 1024-byte block padded with '#'; its size must not change. */
export function editGrubenv(text: string, key: string, f: (v: string) => string): string | undefined {
  const lines = text.replace(/#+$/, "").split("\n");
  let changed = false;
  const out = lines.map((l) => {
    if (!l.startsWith(key + "=")) return l;
    const nv = f(l.slice(key.length + 1));
    if (nv === l.slice(key.length + 1)) return l;
    changed = true;
    return `${key}=${nv}`;
  });
  if (!changed) return undefined;
  let body = out.join("\n");
  if (!body.endsWith("\n")) body += "\n";
  if (body.length > 1024) return undefined;
  return body + "#".repeat(1024 - body.length);
}

/** grubenv files: in /boot, or next to the grub.cfg stub on the ESP of any family. */
export const GRUBENV = ["/boot/grub2/grubenv", "/boot/grub/grubenv", ...KNOWN_EFI_VENDORS.map((v) => `/boot/efi/EFI/${v}/grubenv`)];

/**
 * The changes that apply `edit` to every command line the guest keeps. In /etc/default/grub
 * missing keys are appended to GRUB_CMDLINE_LINUX (used by normal and recovery entries);
 * GRUB_CMDLINE_LINUX_DEFAULT only has present keys replaced or removed.
 */
export async function planKernelArgs(view: GuestView, edit: CmdlineEdit, reason: string): Promise<Change[]> {
  const changes: Change[] = [];
  const def = await view.readText("/etc/default/grub");
  if (def !== undefined) {
    const v = new ShellVars(def);
    const lin = v.get("GRUB_CMDLINE_LINUX");
    const dflt = v.get("GRUB_CMDLINE_LINUX_DEFAULT");
    const inDefault = new Set(dflt !== undefined ? splitCmdline(dflt).map(keyOf) : []);
    // a key already in _DEFAULT is edited there and not added to _LINUX a second time
    const setHere = Object.fromEntries(Object.entries(edit.set ?? {}).filter(([k]) => !inDefault.has(k) || splitCmdline(lin ?? "").some((w) => keyOf(w) === k)));
    const nl = editCmdline(lin ?? "", { ...edit, set: setHere });
    // an edit that only maps present keys must not add an empty GRUB_CMDLINE_LINUX=""
    if (lin !== undefined || nl !== "") v.set("GRUB_CMDLINE_LINUX", nl);
    if (dflt !== undefined) v.set("GRUB_CMDLINE_LINUX_DEFAULT", editCmdline(dflt, edit, false));
    const t = v.toString();
    if (t !== def) changes.push({ action: "write", path: "/etc/default/grub", content: t, reason });
  }
  // drop-ins sourced after /etc/default/grub (Ubuntu cloud images set the command line there):
  // present keys are edited in place, nothing is added, so a key lives in one file only
  for (const n of (await view.readdir("/etc/default/grub.d")).filter((x) => x.endsWith(".cfg"))) {
    const p = posix.join("/etc/default/grub.d", n);
    const t = await view.readText(p);
    if (t === undefined) continue;
    const v = new ShellVars(t);
    for (const key of ["GRUB_CMDLINE_LINUX", "GRUB_CMDLINE_LINUX_DEFAULT"]) {
      const cur = v.get(key);
      if (cur !== undefined) v.set(key, editCmdline(cur, edit, false));
    }
    const nt = v.toString();
    if (nt !== t) changes.push({ action: "write", path: p, content: nt, reason: `${reason} (${p})` });
  }
  let usesKernelopts = false;
  for (const n of await view.readdir("/boot/loader/entries")) {
    if (!n.endsWith(".conf")) continue;
    const p = posix.join("/boot/loader/entries", n);
    const t = await view.readText(p);
    if (t === undefined) continue;
    const nt = t
      .split("\n")
      .map((l) => {
        const m = /^(options\s+)(.*)$/.exec(l);
        if (!m) return l;
        if (m[2]!.includes("$kernelopts")) {
          usesKernelopts = true;
          return l;
        }
        return m[1] + editCmdline(m[2]!, edit);
      })
      .join("\n");
    if (nt !== t) changes.push({ action: "write", path: p, content: nt, reason: `${reason} (BLS entry)` });
  }
  if (usesKernelopts) {
    for (const p of GRUBENV) {
      const t = await view.readText(p);
      if (t === undefined) continue;
      const nt = editGrubenv(t, "kernelopts", (v) => editCmdline(v, edit));
      if (nt !== undefined) changes.push({ action: "write", path: p, content: nt, reason: `${reason} (grubenv kernelopts)` });
    }
  }
  for (const p of ["/boot/grub/menu.lst", "/boot/grub/grub.conf"]) {
    if ((await view.kind(p)) !== "file") continue; // /etc/grub.conf is usually a link to these
    const t = (await view.readText(p))!;
    const nt = editLegacy(t, edit);
    if (nt !== t) changes.push({ action: "write", path: p, content: nt, reason: `${reason} (GRUB legacy)` });
  }
  const kc = await view.readText("/etc/kernel/cmdline");
  if (kc !== undefined) {
    const nt = editCmdline(kc.trim(), edit) + "\n";
    if (nt !== kc) changes.push({ action: "write", path: "/etc/kernel/cmdline", content: nt, reason: `${reason} (kernel-install)` });
  }
  return changes;
}
