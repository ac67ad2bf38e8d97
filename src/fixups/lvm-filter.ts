// An LVM device filter (devices/filter, devices/global_filter in lvm.conf) that names the
// source's disks would hide the physical volumes on the target: the initramfs and the guest
// would find no volume group. Each pattern that names a source disk is rewritten to the name
// the disk gets on the target (by the replica map), a pattern for a family of source names
// (/dev/vd.*) to the target's family (/dev/sd.*), and a pattern for a disk that is not
// replicated is dropped. A filter left with nothing to accept before its reject-all accepts
// every device instead. Only the changed strings are replaced: the rest of the file stays
// byte for byte. (devices/system.devices is removed by stale-caches.)
import { partitionName, splitPartition } from "../guest/discover-names.ts";
import type { FixupContext } from "./types.ts";
import type { Change } from "../engine/changes.ts";

/** A source disk or partition written literally, in a pattern. */
const LITERAL = /\/dev\/(?:vd[a-z]+|xvd[a-z]+|hd[a-z]+|nvme\d+n\d+)(?:p?\d+)?(?![a-z0-9])/g;
/** A source name family followed by a regex, as in /dev/vd[a-z] or /dev/xvd.*. */
const FAMILY = /\/dev\/(?:x?vd|hd)(?=[[.(*+?])/g;
const NAMES_SOURCE = /\/dev\/(?:x?vd|hd|nvme)/;

interface Element {
  start: number;
  end: number;
  /** The string's content without its quotes. */
  value: string;
}

/** The quoted strings of the array that starts at `open` ('['), and the index after its ']'. */
function arrayElements(text: string, open: number): { elements: Element[]; close: number } | undefined {
  const elements: Element[] = [];
  let i = open + 1;
  while (i < text.length) {
    const c = text[i]!;
    if (c === "]") return { elements, close: i + 1 };
    if (c === "#") {
      const nl = text.indexOf("\n", i);
      i = nl < 0 ? text.length : nl;
      continue;
    }
    if (c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
      if (j >= text.length) return undefined;
      elements.push({ start: i, end: j + 1, value: text.slice(i + 1, j) });
      i = j + 1;
      continue;
    }
    i++;
  }
  return undefined;
}

type Rewrite = { kind: "keep" } | { kind: "drop"; why: string } | { kind: "set"; value: string };

/** One pattern ("a|^/dev/vda2$|") for the target, by the source -> target disk names. */
export function rewritePattern(pattern: string, newDisk: (source: string) => string | undefined): Rewrite {
  const m = /^([ar])(.)(.*)\2$/s.exec(pattern);
  if (!m || !NAMES_SOURCE.test(m[3]!)) return { kind: "keep" };
  let missing: string | undefined;
  let re = m[3]!.replace(LITERAL, (name) => {
    const { disk, part } = splitPartition(name);
    const nd = newDisk(disk);
    if (!nd) {
      missing ??= name;
      return name;
    }
    return part === undefined ? nd : partitionName(nd, part);
  });
  if (missing) return { kind: "drop", why: `${missing} is not on any replica disk` };
  re = re.replace(FAMILY, "/dev/sd");
  if (NAMES_SOURCE.test(re)) return { kind: "drop", why: `${m[3]} names the source's devices in a way that cannot be carried over` };
  return { kind: "set", value: `${m[1]}${m[2]}${re}${m[2]}` };
}

const isRejectAll = (v: string) => /^r(.)\^?\.\*\$?\1$/.test(v);

/** lvm.conf text with its filters carried over to the target; `notes` says what was done. */
export function rewriteLvmFilters(text: string, newDisk: (source: string) => string | undefined, notes: string[]): string {
  const edits: { start: number; end: number; value: string }[] = [];
  const assign = /^[ \t]*((?:global_)?filter)[ \t]*=[ \t]*\[/gm;
  for (let m = assign.exec(text); m; m = assign.exec(text)) {
    const arr = arrayElements(text, m.index + m[0].length - 1);
    if (!arr) continue;
    const results = arr.elements.map((e) => ({ e, r: rewritePattern(e.value, newDisk) }));
    if (results.every((x) => x.r.kind === "keep")) continue;
    const kept = results.filter((x) => x.r.kind !== "drop").map((x) => (x.r.kind === "set" ? x.r.value : x.e.value));
    const line = text.slice(0, m.index).split("\n").length;
    // nothing is accepted any more before a reject-all: the filter only narrowed LVM to the source's disks
    const accepts = kept.filter((v) => v.startsWith("a"));
    if (!accepts.length && kept.some(isRejectAll)) {
      edits.push({ start: arr.elements[0]!.start, end: arr.close - 1, value: `"a|.*|" ` });
      notes.push(`${m[1]} (line ${line}) only accepted the source's disks: it now accepts every device`);
      continue;
    }
    for (const { e, r } of results) {
      if (r.kind === "set" && r.value !== e.value) edits.push({ start: e.start, end: e.end, value: `"${r.value}"` });
      if (r.kind === "drop") {
        // the element and the comma and spaces after it
        const after = /^\s*,?\s*/.exec(text.slice(e.end))![0];
        edits.push({ start: e.start, end: e.end + after.length, value: "" });
        notes.push(`${m[1]} (line ${line}): "${e.value}" dropped: ${r.why}`);
      }
    }
    if (results.some((x) => x.r.kind === "set")) notes.push(`${m[1]} (line ${line}): the source's disk names replaced by the target's`);
  }
  let out = text;
  for (const e of edits.sort((a, b) => b.start - a.start)) out = out.slice(0, e.start) + e.value + out.slice(e.end);
  return out;
}

/** lvm.conf and its lvm.conf.d drop-ins with their filters carried over to the target. */
export async function planLvmFilters(ctx: FixupContext, newDisk: (source: string) => string | undefined): Promise<{ changes: Change[]; warnings: string[] }> {
  const changes: Change[] = [];
  const warnings: string[] = [];
  const files = ["/etc/lvm/lvm.conf", ...(await ctx.view.readdir("/etc/lvm/lvm.conf.d")).sort().map((n) => `/etc/lvm/lvm.conf.d/${n}`)];
  for (const p of files) {
    const t = await ctx.view.readText(p);
    if (t === undefined || !/filter/.test(t)) continue;
    const notes: string[] = [];
    const nt = rewriteLvmFilters(t, newDisk, notes);
    if (nt === t) continue;
    changes.push({ action: "write", path: p, content: nt, reason: "LVM device filter by the target's disk names, so that the volume groups are found on the target" });
    for (const n of notes) warnings.push(`${p}: ${n}`);
  }
  return { changes, warnings };
}
