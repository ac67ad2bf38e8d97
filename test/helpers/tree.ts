// Test helpers: temporary copies of guest trees and a whole-tree fingerprint to prove that
// something stayed byte-identical.
import { createHash } from "node:crypto";
import { cp, lstat, mkdtemp, readdir, readFile, readlink, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const REPO = new URL("../..", import.meta.url).pathname.replace(/\/$/, "");
export const SAMPLE = join(REPO, "examples/debian12-kvm");
/**
 * The sample tree has no shell or libraries for a chroot, so the steps that run the guest's
 * own tools (initramfs, boot loader) are left out where a test applies it; the integration
 * tests run those steps in real Debian trees.
 */
export const SKIP_CHROOT = ["--skip", "initrd,bootloader"];

export async function tempDir(prefix = "osam-test-"): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

/** A private copy of a tree (links copied as links, not followed). */
export async function copyTree(src: string, prefix = "osam-tree-"): Promise<string> {
  const d = await tempDir(prefix);
  await cp(src, d, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
  return d;
}

export async function removeTree(d: string): Promise<void> {
  await rm(d, { recursive: true, force: true });
}

/** path -> "file <mode> <sha256>" | "link <target>" | "dir <mode>" for every entry under root. */
export async function fingerprint(root: string, ignore: (rel: string) => boolean = () => false): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  async function walk(rel: string): Promise<void> {
    for (const n of (await readdir(join(root, rel))).sort()) {
      const r = rel ? `${rel}/${n}` : n;
      if (ignore(r)) continue;
      const p = join(root, r);
      const st = await lstat(p);
      if (st.isSymbolicLink()) out.set(r, `link ${await readlink(p)}`);
      else if (st.isDirectory()) {
        out.set(r, `dir ${(st.mode & 0o7777).toString(8)}`);
        await walk(r);
      } else if (st.isFile()) out.set(r, `file ${(st.mode & 0o7777).toString(8)} ${createHash("sha256").update(await readFile(p)).digest("hex")}`);
      else out.set(r, `other ${st.mode.toString(8)}`);
    }
  }
  await walk("");
  return out;
}

/** Lines describing how two fingerprints differ (empty when identical). */
export function diffPrints(a: Map<string, string>, b: Map<string, string>): string[] {
  const d: string[] = [];
  for (const [k, v] of a) if (b.get(k) !== v) d.push(`${k}: ${v} -> ${b.get(k) ?? "(gone)"}`);
  for (const [k, v] of b) if (!a.has(k)) d.push(`${k}: (new) ${v}`);
  return d;
}
