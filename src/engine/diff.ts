// Unified diffs of one file's content before and after a change: `plan` prints them and
// result.json carries them (a change's "diff"), so a report can show what changed inside the
// guest without the guest.
import type { GuestRoot } from "../guest/guest-root.ts";
import { type Change, contentBuffer } from "./changes.ts";
import { diffTexts } from "./line-diff.ts";

/** A diff longer than this is cut in result.json (the sentinel script is about 20 KiB). */
export const MAX_RESULT_DIFF = 64 * 1024;

export function isText(b: Buffer): boolean {
  if (b.includes(0)) return false;
  try {
    new TextDecoder("utf-8", { fatal: true }).decode(b);
    return true;
  } catch {
    return false;
  }
}

/** `diff -u` of one file (undefined content: the file does not exist on that side). */
export function unifiedDiff(path: string, before: Buffer | undefined, after: Buffer | undefined): string {
  if ((before && !isText(before)) || (after && !isText(after))) return `Binary file ${path} differs (${before?.length ?? 0} -> ${after?.length ?? 0} bytes)\n`;
  const a = before ? `a${path}` : "/dev/null";
  const b = after ? `b${path}` : "/dev/null";
  return diffTexts(a, b, before?.toString("utf8") ?? "", after?.toString("utf8") ?? "");
}

/** The diff result.json keeps for a write or a remove, cut at MAX_RESULT_DIFF; undefined when there is no content change. */
export function changeDiff(c: Change, before: Buffer | undefined): string | undefined {
  if (c.action !== "write" && c.action !== "remove") return undefined;
  const after = c.action === "write" ? contentBuffer(c.content) : undefined;
  if (before === undefined && after === undefined) return undefined;
  if (before && after && before.equals(after)) return undefined;
  const d = unifiedDiff(c.path, before, after);
  if (d.length <= MAX_RESULT_DIFF) return d;
  const cut = d.slice(0, d.lastIndexOf("\n", MAX_RESULT_DIFF) + 1);
  return `${cut}\\ diff cut at ${MAX_RESULT_DIFF} bytes of ${d.length}\n`;
}

/** The regular file a write or remove replaces, as the guest has it now (read before the change). */
export async function contentBefore(guest: GuestRoot, c: Change): Promise<Buffer | undefined> {
  if (c.action !== "write" && c.action !== "remove") return undefined;
  const r = await guest.resolve(c.path, c.action === "write");
  return r.stat?.isFile() ? guest.readFile(r.guest) : undefined;
}
