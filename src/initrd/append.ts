// What an initramfs-tools image lacks, added as one more archive at its end instead of a
// rebuild (issue 13). The kernel unpacks an initramfs as a sequence of archives, compressed or
// not, a later file replacing an earlier one (Documentation/driver-api/early-userspace/
// buffer-format.rst), so the image can stay as it is and be followed by: the missing target
// drivers with their dependencies and softdeps, taken from the guest's kernel; module indexes
// that depmod regenerates for the union (as mkinitramfs itself runs depmod on its tree); the
// tool's module list (conf/modules, which init loads first); and the guest's current copies
// of the configuration a rebuild would copy (the NIC pins stage 1 wrote). Under emulation the
// guest's own update-initramfs spends 90-100 s even on a host-only image; this takes seconds.
// Whatever this does not understand is left to the rebuild: an image it cannot read, a stale
// root, resume or crypt reference, a copy whose source the guest removed, no depmod here.
// The result is read back and judged as a kept image would be before it is offered.
import { execa } from "execa";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, posix } from "node:path";
import { gzipSync } from "node:zlib";
import type { FixupContext } from "../fixups/types.ts";
import { cpioPath, writeNewc, type NewcFile } from "./cpio.ts";
import { normModule } from "./drivers.ts";
import { MODULE_FILE, moduleNameOf } from "./modules.ts";
import { currentReferences, imageReferences, judgeImage, modulesDirOf, parseModulesDep, readInitramfs, resolveInImage, staleReference, UnreadableImage, type ImageContents } from "./image.ts";
import { itoolsCopies } from "./itools-copies.ts";
import { MAX_MODULE, readImage } from "./image-reads.ts";

const DEPMOD_TIMEOUT_MS = 120_000;
/** Inputs of depmod that it does not write: copied in, and left out of the added archive. */
const DEPMOD_INPUTS = ["modules.order", "modules.builtin", "modules.builtin.modinfo"];

export type AppendVerdict = { append: true; content: Buffer; note: string } | { append: false; why: string };

export interface AppendRequest {
  version: string;
  image: string;
  /** The target drivers this kernel has. */
  modules: string[];
  /** The tool's module list as a rebuild would read it: "module [args]" lines. */
  listed: string[];
}

/** softdep lines of a modules.softdep: module -> the modules it wants loaded before or after it. */
export function parseSoftdeps(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of text.split("\n")) {
    const t = line.trim().split(/\s+/);
    if (t[0] !== "softdep" || !t[1]) continue;
    const m = normModule(t[1]);
    out.set(m, [...(out.get(m) ?? []), ...t.slice(2).filter((x) => x !== "pre:" && x !== "post:").map(normModule)]);
  }
  return out;
}

/**
 * The module files (paths relative to the kernel's module directory) that `names` need, with
 * their dependencies and softdeps, as modprobe would load them. Built-in and unknown modules
 * need none.
 */
export function moduleClosure(names: string[], dep: Map<string, { path: string; deps: string[] }>, softdeps: Map<string, string[]>): string[] {
  const out = new Set<string>();
  const seen = new Set<string>();
  const work = names.map(normModule);
  while (work.length) {
    const n = work.pop()!;
    if (seen.has(n)) continue;
    seen.add(n);
    const d = dep.get(n);
    if (!d) continue;
    for (const p of [d.path, ...d.deps]) {
      out.add(p);
      work.push(moduleNameOf(p));
    }
    work.push(...(softdeps.get(n) ?? []));
  }
  return [...out].sort();
}

/** conf/modules with the listed modules it lacks appended, or undefined when it has them all. */
export function mergeModuleList(current: string | undefined, listed: string[]): string | undefined {
  const have = new Set((current ?? "").split("\n").map((l) => normModule(l.trim().split(/\s+/)[0] ?? "")).filter(Boolean));
  const add = listed.filter((l) => {
    const m = normModule(l.trim().split(/\s+/)[0] ?? "");
    if (!m || have.has(m)) return false;
    have.add(m);
    return true;
  });
  if (!add.length) return undefined;
  const body = current && !current.endsWith("\n") ? current + "\n" : (current ?? "");
  return body + add.map((l) => l.trim() + "\n").join("");
}

/** The guest's module directory for a kernel, with its modules.dep, softdeps and built-ins. */
async function guestModules(ctx: FixupContext, version: string) {
  for (const base of ["/lib/modules", "/usr/lib/modules"]) {
    const dir = posix.join(base, version);
    const dep = await ctx.view.readText(posix.join(dir, "modules.dep"));
    if (dep === undefined) continue;
    const builtin = new Set(((await ctx.view.readText(posix.join(dir, "modules.builtin"))) ?? "").split("\n").filter(Boolean).map(moduleNameOf));
    return { dir, dep: parseModulesDep(dep), softdeps: parseSoftdeps((await ctx.view.readText(posix.join(dir, "modules.softdep"))) ?? ""), builtin };
  }
  return undefined;
}

/** Runs depmod on a tree holding the union's modules; returns the index files it wrote, by name. */
async function regenerateIndexes(version: string, modules: Map<string, Buffer>, inputs: Map<string, Buffer>): Promise<Map<string, Buffer> | string> {
  const base = mkdtempSync(join(tmpdir(), "osam-depmod-"));
  try {
    const dir = join(base, "lib/modules", version);
    for (const [rel, data] of [...modules, ...inputs]) {
      mkdirSync(posix.dirname(join(dir, rel)), { recursive: true });
      writeFileSync(join(dir, rel), data);
    }
    const r = await execa("depmod", ["-b", base, version], { reject: false, timeout: DEPMOD_TIMEOUT_MS, all: true });
    if (r.failed) return `depmod -b ${version} failed: ${(r.code === "ENOENT" ? "there is no depmod on this machine" : String(r.all ?? r.message)).trim().split("\n").slice(-3).join("; ")}`;
    const out = new Map<string, Buffer>();
    // mkinitramfs removes the legacy *map files after its depmod
    for (const n of readdirSync(dir).filter((x) => x.startsWith("modules.") && !DEPMOD_INPUTS.includes(x) && !x.endsWith("map"))) out.set(n, readFileSync(join(dir, n)));
    if (!out.has("modules.dep")) return "depmod wrote no modules.dep";
    return out;
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
}

/** Directory entries for the parents of `paths` that the image does not have, parents first. */
function missingDirs(img: ImageContents, paths: string[]): NewcFile[] {
  const dirs = new Set<string>();
  for (const p of paths) {
    for (let d = posix.dirname(p); d !== "." && d !== "/" && !img.entries.has(d); d = posix.dirname(d)) dirs.add(d);
  }
  return [...dirs].sort((a, b) => a.split("/").length - b.split("/").length || a.localeCompare(b)).map((name) => ({ name, mode: 0o040755 }));
}

/** The image with the archive appended: zero padding to a 4-byte boundary, then the gzip member. */
export function appendArchive(image: Buffer, files: NewcFile[], mtime: number): Buffer {
  // level 1: level 6 takes 2.5 times as long on Debian 12 modules for a segment 11% smaller,
  // and the archive phase took 0.7 s at level 6 in the fixup VM
  const segment = gzipSync(writeNewc(files, { mtime }), { level: 1 });
  return Buffer.concat([image, Buffer.alloc((4 - (image.length % 4)) % 4), segment]);
}

/**
 * Whether the image of one kernel can be brought up to date by appending, and the new image
 * content when it can.
 */
export async function appendVerdict(ctx: FixupContext, req: AppendRequest): Promise<AppendVerdict> {
  const { view } = ctx;
  const bytes = await view.readBytes(req.image);
  if (!bytes) return { append: false, why: "there is no image to add to" };
  const dirs = modulesDirOf(req.version);
  // where the time goes, for fixup.log: each phase since the previous one
  const took: Record<string, number> = {};
  let mark = Date.now();
  const lap = () => {
    const now = Date.now();
    const d = now - mark;
    mark = now;
    return d;
  };
  let img: ImageContents;
  try {
    img = await readImage(req.image, bytes, req.version, true, ctx.images);
  } catch (e) {
    if (e instanceof UnreadableImage) return { append: false, why: `it cannot be read (${e.message})` };
    throw e;
  }
  took.read = lap();
  const copies = await itoolsCopies(view, img);
  if (copies.blocker) return { append: false, why: copies.blocker };
  // a stale reference in a copy the guest has since corrected (device-refs rewrites the
  // resume device in conf.d) goes with the copy; one anywhere else needs the rebuild
  const current = await currentReferences(view, ctx.devices);
  for (const { ref, where } of imageReferences(new Map([...img.files, ...copies.put]))) {
    const why = staleReference(ref, current);
    if (why) return { append: false, why: `${where}: ${why}` };
  }
  const dir = dirs.find((d) => img.files.has(`${d}/modules.dep`));
  if (!dir) return { append: false, why: `it has no modules.dep for ${req.version}` };
  const guest = await guestModules(ctx, req.version);
  if (!guest) return { append: false, why: `the guest has no modules.dep for ${req.version}` };

  const own = new Map<string, Buffer>();
  for (const [name, e] of img.entries) {
    if (e.kind !== "file" || !name.startsWith(`${dir}/`) || !MODULE_FILE.test(name)) continue;
    const data = img.files.get(name);
    if (!data) return { append: false, why: `its ${name} is too large to read (${e.size} bytes)` };
    own.set(name.slice(dir.length + 1), data);
  }
  const ownNames = new Set([...own.keys()].map(moduleNameOf));
  const wanted = [...req.modules, ...req.listed.map((l) => l.trim().split(/\s+/)[0]!)].filter((m) => m && !guest.builtin.has(normModule(m)));
  const added = new Map<string, Buffer>();
  for (const rel of moduleClosure(wanted, guest.dep, guest.softdeps)) {
    if (ownNames.has(moduleNameOf(rel))) continue;
    const data = await view.readBytes(posix.join(guest.dir, rel));
    if (!data) return { append: false, why: `the guest's ${posix.join(guest.dir, rel)} cannot be read` };
    added.set(rel, data);
  }
  // mkinitramfs decompresses modules; an added one stays as the guest has it, which the kernel
  // loads by itself only with in-kernel decompression (kmod then hands it over compressed)
  const packed = [...added.keys()].filter((rel) => !rel.endsWith(".ko"));
  if (packed.length && !/^CONFIG_MODULE_DECOMPRESS=y$/m.test((await view.readText(`/boot/config-${req.version}`)) ?? "")) {
    return { append: false, why: `its kernel cannot load the compressed ${packed.map(moduleNameOf).join(", ")} by itself (no CONFIG_MODULE_DECOMPRESS=y in /boot/config-${req.version})` };
  }
  const moduleList = mergeModuleList(img.files.get("conf/modules")?.toString("utf8"), req.listed);
  if (!added.size && !copies.put.size && moduleList === undefined) return { append: false, why: "it lacks nothing that adding files can give it" };

  const files = new Map<string, Buffer>();
  if (added.size) {
    const inputs = new Map<string, Buffer>();
    for (const n of DEPMOD_INPUTS) {
      const data = img.files.get(`${dir}/${n}`) ?? (await view.readBytes(posix.join(guest.dir, n)));
      if (data) inputs.set(n, data);
    }
    took.modules = lap();
    const indexes = await regenerateIndexes(req.version, new Map([...own, ...added]), inputs);
    took.depmod = lap();
    if (typeof indexes === "string") return { append: false, why: indexes };
    for (const [rel, data] of added) files.set(`${dir}/${rel}`, data);
    for (const [n, data] of indexes) files.set(`${dir}/${n}`, data);
  }
  for (const [at, data] of copies.put) files.set(at, data);
  if (moduleList !== undefined) files.set(resolveInImage(img, "conf/modules") ?? "conf/modules", Buffer.from(moduleList));
  const names = [...files.keys()].map(cpioPath).sort();
  const entries: NewcFile[] = [...missingDirs(img, names), ...names.map((name) => ({ name, data: files.get(name)! }))];
  const content = appendArchive(bytes, entries, Math.floor(Date.now() / 1000));
  took.archive = lap();

  // what the kernel will unpack must be what a kept image has to be: the added archive read
  // back on its own (the image before it was read above) and laid over the image
  const added2 = await readInitramfs(content.subarray(bytes.length), () => true, { maxFile: MAX_MODULE });
  const after: ImageContents = { segments: [...img.segments, ...added2.segments], entries: new Map([...img.entries, ...added2.entries]), files: new Map([...img.files, ...added2.files]), links: new Map([...img.links, ...added2.links]) };
  const judged = judgeImage(after, req.version, req.modules, current);
  took.check = lap();
  if (!judged.keep) return { append: false, why: `the image with the added archive would still not do: ${judged.why}` };
  for (const [n, data] of files) if (!after.files.get(n)?.equals(data)) return { append: false, why: `the added archive's ${n} does not read back` };

  const parts = [
    added.size ? `${added.size} module(s) (${[...added.keys()].map(moduleNameOf).join(", ")}) with module indexes regenerated for the union` : "",
    copies.put.size ? `the guest's current ${[...copies.put.keys()].join(", ")}` : "",
    moduleList !== undefined ? "conf/modules with the listed drivers" : "",
  ].filter(Boolean);
  ctx.log.info(`initramfs ${req.image}: appending took ${Object.entries(took).map(([k, v]) => `${k} ${v} ms`).join(", ")}`);
  return { append: true, content, note: `${req.image} completed by one more archive instead of a rebuild: ${parts.join("; ")} (${content.length - bytes.length} bytes added)` };
}
