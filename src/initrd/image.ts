// Reading an initramfs image as the kernel unpacks it, to decide whether it must be rebuilt.
// An image is a sequence of segments: uncompressed newc archives (the early-microcode
// prefix) and compressed ones, with zero padding between them; later files replace earlier
// ones. gzip and zstd are read with Node's zlib, streamed, so only the few files looked at
// are kept in memory. xz, lzma, lz4, bzip2 and lzo images are not read: no well-kept
// pure-JS decoder exists for all of them, and plan must not run guest tools, so such an
// image is rebuilt as before. Likewise anything unreadable (a truncated image, junk after a
// compressed archive, the fake bytes of test fixtures): unreadable means rebuild.
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { posix } from "node:path";
import { createInflateRaw, createZstdDecompress } from "node:zlib";
import { ShellVars } from "../formats/shell-vars.ts";
import { UdevRulesFile, ruleMacName } from "../formats/udev-rules.ts";
import { Fstab } from "../formats/fstab.ts";
import { SOURCE_STYLE_NAME } from "../guest/discover-names.ts";
import type { GuestView } from "../guest/view.ts";
import type { FixupContext } from "../fixups/types.ts";
import type { KnownDevice } from "../guest/devices.ts";
import { PERSISTENT_NET } from "../network/pin.ts";
import { normModule } from "./drivers.ts";
import { moduleNameOf } from "./modules.ts";
import { CpioReader, cpioPath, type CpioKind } from "./cpio.ts";
import { MDADM_CONFS } from "../fixups/mdadm.ts";
import { itoolsCopies } from "./itools-copies.ts";
import { type ImageReads, readImage } from "./image-reads.ts";

export type Compression = "none" | "gzip" | "zstd" | "xz" | "lzma" | "lz4" | "bzip2" | "lzo";

export class UnreadableImage extends Error {}

export interface ImageContents {
  segments: { offset: number; compression: Compression }[];
  /** Every path of the unpacked image (no leading "/"), the last archive's entry winning. */
  entries: Map<string, { kind: CpioKind; size: number }>;
  /** The content of the files `keep` asked for. */
  files: Map<string, Buffer>;
  /** Every symbolic link's target (a merged-/usr image has lib -> usr/lib). */
  links: Map<string, string>;
}

const MAGICS: [Compression, number[]][] = [
  ["gzip", [0x1f, 0x8b]],
  ["gzip", [0x1f, 0x9e]],
  ["zstd", [0x28, 0xb5, 0x2f, 0xfd]],
  ["xz", [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]],
  ["lz4", [0x02, 0x21, 0x4c, 0x18]],
  ["bzip2", [0x42, 0x5a, 0x68]],
  ["lzo", [0x89, 0x4c, 0x5a, 0x4f]],
  ["lzma", [0x5d, 0x00, 0x00]],
];

function compressionAt(b: Buffer, o: number): Compression | undefined {
  if (b.toString("latin1", o, o + 5) === "07070") return "none";
  return MAGICS.find(([, m]) => m.every((x, i) => b[o + i] === x))?.[0];
}

const CHUNK = 1 << 20;
/**
 * The decompressors' output chunk: their default (16 KiB) costs one round trip between zlib's
 * thread and the main thread per 16 KiB, 5,000 for a generic image, each waiting for whatever
 * else the main thread is doing when the image is read ahead.
 */
const OUT_CHUNK = 1 << 20;

/** Streams input through a decompressor into reader; returns the input bytes it consumed. */
async function decompressInto(d: NodeJS.ReadWriteStream & { bytesWritten: number }, input: Buffer, reader: CpioReader): Promise<number> {
  function* chunks() {
    for (let i = 0; i < input.length; i += CHUNK) yield input.subarray(i, i + CHUNK);
  }
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      try {
        reader.push(chunk);
        cb();
      } catch (e) {
        cb(e as Error);
      }
    },
  });
  await pipeline(Readable.from(chunks()), d, sink);
  return d.bytesWritten;
}

/** The length of the gzip member header at o (RFC 1952: fixed part, then FEXTRA, FNAME, FCOMMENT, FHCRC). */
function gzipHeaderLength(b: Buffer, o: number): number {
  if (b.length < o + 10 || b[o + 2] !== 8) throw new UnreadableImage(`bad gzip header at byte ${o}`);
  const flags = b[o + 3]!;
  let p = o + 10;
  if (flags & 4) p += 2 + b.readUInt16LE(p);
  for (const bit of [8, 16]) {
    if (!(flags & bit)) continue;
    const end = b.indexOf(0, p);
    if (end < 0) throw new UnreadableImage(`bad gzip header at byte ${o}`);
    p = end + 1;
  }
  if (flags & 2) p += 2;
  return p - o;
}

/** Where the zstd frames (and skippable frames) starting at o end, from their block headers. */
export function zstdFramesEnd(b: Buffer, o: number): number {
  let p = o;
  const short = () => new UnreadableImage(`truncated zstd frame at byte ${p}`);
  while (p + 4 <= b.length) {
    const magic = b.readUInt32LE(p);
    if ((magic & 0xfffffff0) === 0x184d2a50) {
      if (p + 8 > b.length) throw short();
      p += 8 + b.readUInt32LE(p + 4);
      continue;
    }
    if (magic !== 0xfd2fb528) break;
    if (p + 5 > b.length) throw short();
    const fhd = b[p + 4]!;
    const single = (fhd >> 5) & 1;
    const fcs = [single, 2, 4, 8][fhd >> 6]!;
    p += 5 + (single ? 0 : 1) + [0, 1, 2, 4][fhd & 3]! + fcs;
    for (;;) {
      if (p + 3 > b.length) throw short();
      const h = b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16);
      const type = (h >> 1) & 3;
      if (type === 3) throw new UnreadableImage(`reserved zstd block type at byte ${p}`);
      p += 3 + (type === 1 ? 1 : h >>> 3);
      if (h & 1) break;
    }
    if ((fhd >> 2) & 1) p += 4;
  }
  if (p > b.length) throw short();
  return p;
}

/**
 * Lists an initramfs image and keeps the files `keep` names. Throws UnreadableImage when the
 * image cannot be read all the way through: a caller must then assume nothing about it.
 */
export async function readInitramfs(image: Buffer, keep: (name: string) => boolean, opts: { maxFile?: number } = {}): Promise<ImageContents> {
  const out: ImageContents = { segments: [], entries: new Map(), files: new Map(), links: new Map() };
  const maxFile = opts.maxFile ?? 4 << 20;
  const reader = () =>
    new CpioReader({
      keep: (name, size, kind) => (kind === "file" && size <= maxFile && keep(name)) || (kind === "symlink" && size <= 4096),
      onEntry: (e) => {
        out.entries.set(e.name, { kind: e.kind, size: e.size });
        if (e.kind === "symlink" && e.data) out.links.set(e.name, e.data.toString("utf8"));
        else out.links.delete(e.name);
        if (e.data && e.kind === "file") out.files.set(e.name, e.data);
        else out.files.delete(e.name);
      },
    });
  let o = 0;
  try {
    while (o < image.length) {
      if (image[o] === 0) {
        o++;
        continue;
      }
      const c = compressionAt(image, o);
      if (!c) throw new UnreadableImage(`unknown data at byte ${o} of the image`);
      out.segments.push({ offset: o, compression: c });
      const r = reader();
      switch (c) {
        case "none": {
          // an uncompressed archive runs until the first non-zero byte after a trailer that
          // does not start another archive: feed it all, the reader stops there
          r.stopAtForeign = true;
          r.push(image.subarray(o));
          o += r.consumed;
          break;
        }
        case "gzip": {
          // gzip members one after another, each inflated raw so that its end is exact
          while (compressionAt(image, o) === "gzip") {
            const h = gzipHeaderLength(image, o);
            const used = await decompressInto(createInflateRaw({ chunkSize: OUT_CHUNK }), image.subarray(o + h), r);
            o += h + used + 8;
          }
          break;
        }
        case "zstd": {
          const end = zstdFramesEnd(image, o);
          await decompressInto(createZstdDecompress({ chunkSize: OUT_CHUNK }), image.subarray(o, end), r);
          o = end;
          break;
        }
        default:
          throw new UnreadableImage(`a ${c} compressed segment at byte ${o}: osam-fixup reads gzip and zstd only`);
      }
      // the kernel too refuses a compressed archive that ends inside a file
      r.end();
    }
  } catch (e) {
    if (e instanceof UnreadableImage) throw e;
    throw new UnreadableImage((e as Error).message);
  }
  if (!out.segments.length) throw new UnreadableImage("the image is empty");
  return out;
}

/**
 * Where a path of the unpacked image really is, its symbolic links followed as the kernel's
 * rootfs would (a merged-/usr image stores lib/udev/... as usr/lib/udev/... behind lib ->
 * usr/lib). No leading "/"; undefined for a loop of links.
 */
export function resolveInImage(img: Pick<ImageContents, "links">, path: string): string | undefined {
  let rest = cpioPath(path).split("/").filter(Boolean);
  let cur: string[] = [];
  for (let hops = 0; rest.length; ) {
    const c = rest.shift()!;
    if (c === ".") continue;
    if (c === "..") {
      cur.pop();
      continue;
    }
    const next = [...cur, c].join("/");
    const target = img.links.get(next);
    if (target === undefined) {
      cur.push(c);
      continue;
    }
    if (++hops > 40) return undefined;
    rest = [...target.split("/").filter(Boolean), ...rest];
    if (target.startsWith("/")) cur = [];
  }
  return cur.join("/");
}

// ---- the decision ----

/** Files of an image that can carry a root, resume or crypt device of the host it was built on. */
export function isReferenceFile(name: string): boolean {
  return /^etc\/cmdline\.d\/[^/]+\.conf$/.test(name) || name === "etc/cmdline" || name === "etc/crypttab" || name === "cryptroot/crypttab" || /^conf\/conf\.d\/[^/]+$/.test(name);
}

/**
 * Guest configuration an initramfs carries a copy of, which stage 1 (or an admin since the
 * image was built) may have changed: LVM, udev rules (the NIC pins), .link files, modprobe.d
 * (mdadm.conf is checked with fixups/mdadm.ts). The image's copy must be the guest's file.
 */
export function isCopiedConfig(name: string): boolean {
  return /^etc\/(lvm\/.+|udev\/rules\.d\/[^/]+|systemd\/network\/[^/]+|modprobe\.d\/[^/]+)$/.test(name);
}

/**
 * How many NICs a udev rules file names: the distinct MACs of its NAME= rules (network/pin.ts
 * writes three rules per NIC), and the names of NAME= rules that match no MAC.
 */
export function namedNics(text: string): number {
  const nics = new Set<string>();
  for (const r of new UdevRulesFile(text).rules()) {
    const { mac, name } = ruleMacName(r.tokens);
    if (name !== undefined) nics.add(mac ?? `name:${name}`);
  }
  return nics.size;
}

/**
 * Why the image's copies of guest configuration are out of date, or undefined. With one NIC
 * the pin may come later (net.ifnames=0 keeps the kernel's eth0 through the initramfs, and
 * the root's udev applies the pin); with several, names can collide, and the step-aside of
 * network/pin.ts needs the pins from the initramfs on.
 */
export async function staleConfig(view: GuestView, img: ImageContents): Promise<string | undefined> {
  for (const [name, e] of [...img.entries].sort(([a], [b]) => a.localeCompare(b))) {
    if (e.kind !== "file" || !isCopiedConfig(name)) continue;
    const mine = img.files.get(name);
    const guest = await view.readBytes(`/${name}`);
    if (!mine || !guest?.equals(mine)) return `its ${name} is not the guest's current /${name}`;
  }
  const pins = await view.readText(PERSISTENT_NET);
  if (pins !== undefined && namedNics(pins) > 1 && !img.files.has(PERSISTENT_NET.slice(1))) return `it lacks the NIC pins of ${PERSISTENT_NET} (${namedNics(pins)} NICs)`;
  return undefined;
}

/**
 * staleConfig for an initramfs-tools image, whose copies of guest files live where its hooks
 * put them (the NIC pins under lib/udev/rules.d, not etc/): why they are out of date, or
 * undefined. The pins of a single NIC may be missing, as in staleConfig.
 */
export async function staleItoolsCopies(view: GuestView, img: ImageContents): Promise<string | undefined> {
  const c = await itoolsCopies(view, img);
  if (c.blocker) return c.blocker;
  const pins = await view.readText(PERSISTENT_NET);
  const onePin = (n: string) => posix.basename(n) === posix.basename(PERSISTENT_NET) && !img.entries.has(n) && pins !== undefined && namedNics(pins) <= 1;
  const late = [...c.put.keys()].filter((n) => !onePin(n)).sort();
  return late.length ? `its ${late.join(", ")} ${late.length > 1 ? "are not the guest's current files" : "is not the guest's current file"}` : undefined;
}

export function modulesDirOf(version: string): string[] {
  return [`usr/lib/modules/${version}`, `lib/modules/${version}`];
}

/** The device references an image carries, each with where it was found. */
export function imageReferences(files: Map<string, Buffer>): { ref: string; where: string }[] {
  const out: { ref: string; where: string }[] = [];
  for (const [name, data] of [...files].filter(([n]) => isReferenceFile(n)).sort(([a], [b]) => a.localeCompare(b))) {
    const text = data.toString("utf8");
    if (name.endsWith("crypttab")) {
      for (const e of new Fstab(text).entries()) out.push({ ref: e.file, where: `${name} (${e.spec})` });
    } else if (name.startsWith("conf/conf.d/")) {
      const v = new ShellVars(text);
      for (const key of ["RESUME", "ROOT"]) {
        const val = v.get(key);
        if (val && !["none", "auto", ""].includes(val)) out.push({ ref: val, where: `${name} ${key}=` });
      }
    } else {
      for (const tok of text.split(/\s+/)) {
        const m = /^(root|resume|rd\.luks\.uuid|rd\.luks\.name)=(.+)$/.exec(tok.replace(/^["']|["']$/g, ""));
        if (!m) continue;
        // rd.luks.uuid=luks-<uuid> and rd.luks.name=<uuid>=<name> name the LUKS device by UUID
        const v = m[1] === "rd.luks.uuid" ? `UUID=${m[2]!.replace(/^luks-/, "")}` : m[1] === "rd.luks.name" ? `UUID=${m[2]!.split("=")[0]}` : m[2]!;
        out.push({ ref: v, where: `${name} ${m[1]}=` });
      }
    }
  }
  return out;
}

/** UUID=x, LABEL=x, PARTUUID=x in one spelling, whichever way the reference was written. */
function normalRef(ref: string): string {
  const r = ref.replace(/^["']|["']$/g, "");
  const by = /^\/dev\/disk\/by-(uuid|label|partuuid)\/(.+)$/.exec(r);
  if (by) return `${by[1]!.toUpperCase()}=${by[2]!.toLowerCase()}`;
  const kv = /^(UUID|LABEL|PARTUUID)=(.+)$/i.exec(r);
  return kv ? `${kv[1]!.toUpperCase()}=${kv[2]!.toLowerCase()}` : r;
}

/** The references that are current for this guest: what its fstab and crypttab name, and the devices known. */
export async function currentReferences(view: GuestView, devices: KnownDevice[]): Promise<Set<string>> {
  const out = new Set<string>();
  for (const e of new Fstab((await view.readText("/etc/fstab")) ?? "").entries()) out.add(normalRef(e.spec));
  for (const e of new Fstab((await view.readText("/etc/crypttab")) ?? "").entries()) out.add(normalRef(e.file));
  for (const d of devices) {
    if (d.uuid) out.add(normalRef(`UUID=${d.uuid}`));
    if (d.label) out.add(normalRef(`LABEL=${d.label}`));
    if (d.partuuid) out.add(normalRef(`PARTUUID=${d.partuuid}`));
  }
  return out;
}

/**
 * Why a reference baked into an image would be wrong on the target, or undefined when it is
 * fine: kernel names change with the controller, and a UUID, label or PARTUUID that the guest
 * no longer names belongs to the machine the image was built on. Device-mapper and LVM names
 * do not depend on the hardware.
 */
export function staleReference(ref: string, current: Set<string>): string | undefined {
  const r = normalRef(ref);
  if (SOURCE_STYLE_NAME.test(r)) return `${ref} is a kernel device name, which changes on the target's controller`;
  if (/^(UUID|LABEL|PARTUUID)=/.test(r) && !current.has(r)) return `${ref} is not a device the guest's fstab, crypttab or disks name`;
  return undefined;
}

export interface ImageVerdict {
  keep: boolean;
  why: string;
}

export function parseModulesDep(text: string): Map<string, { path: string; deps: string[] }> {
  const out = new Map<string, { path: string; deps: string[] }>();
  for (const line of text.split("\n")) {
    const i = line.indexOf(":");
    if (i <= 0) continue;
    const path = line.slice(0, i).trim();
    out.set(moduleNameOf(path), { path, deps: line.slice(i + 1).trim().split(/\s+/).filter(Boolean) });
  }
  return out;
}

/**
 * Whether an image already holds every module of `modules` (with the dependencies its own
 * modules.dep gives them) for kernel `version`, and no stale device reference.
 */
export function judgeImage(img: ImageContents, version: string, modules: string[], current: Set<string>): ImageVerdict {
  const dir = modulesDirOf(version).find((d) => img.files.has(`${d}/modules.dep`));
  if (!dir) return { keep: false, why: `it has no modules.dep for ${version}` };
  const dep = parseModulesDep(img.files.get(`${dir}/modules.dep`)!.toString("utf8"));
  const builtin = new Set(
    (img.files.get(`${dir}/modules.builtin`)?.toString("utf8") ?? "")
      .split("\n")
      .filter(Boolean)
      .map(moduleNameOf),
  );
  const has = (p: string) => img.entries.get(posix.join(dir, p.replace(/^\/(usr\/)?lib\/modules\/[^/]+\//, "")))?.kind === "file";
  const missing: string[] = [];
  for (const m of modules) {
    const n = normModule(m);
    if (builtin.has(n)) continue;
    const d = dep.get(n);
    if (!d || !has(d.path)) {
      missing.push(m);
      continue;
    }
    const lost = d.deps.filter((p) => !has(p));
    if (lost.length) missing.push(`${m} (needs ${lost.map((p) => posix.basename(p)).join(", ")})`);
  }
  if (missing.length) return { keep: false, why: `it lacks ${missing.join(", ")}` };
  for (const { ref, where } of imageReferences(img.files)) {
    const why = staleReference(ref, current);
    if (why) return { keep: false, why: `${where}: ${why}` };
  }
  return { keep: true, why: `it already holds ${modules.length} target driver(s) with their dependencies and no stale root, resume or crypt reference` };
}

/** Reads and judges the image at `path`; an image that cannot be read is rebuilt. */
export async function imageVerdict(view: GuestView, path: string, version: string, modules: string[], current: Set<string>, tool?: string, reads?: ImageReads): Promise<ImageVerdict> {
  const bytes = await view.readBytes(path);
  if (!bytes) return { keep: false, why: "there is no image" };
  try {
    // an initramfs-tools image not kept may be completed by an append, which reads its modules:
    // one read for both
    const img = await readImage(path, bytes, version, tool === "initramfs-tools", reads);
    const v = judgeImage(img, version, modules, current);
    if (!v.keep) return v;
    // the initramfs assembles md arrays from its own copy of mdadm.conf: one that is not the
    // guest's as it is now (arrays by UUID, see fixups/mdadm.ts) must not stay
    for (const conf of MDADM_CONFS) {
      const inImage = img.files.get(conf.slice(1));
      if (inImage && !inImage.equals((await view.readBytes(conf)) ?? Buffer.alloc(0))) return { keep: false, why: `its ${conf} is not the guest's (md arrays by UUID)` };
    }
    const stale = tool === "initramfs-tools" ? await staleItoolsCopies(view, img) : await staleConfig(view, img);
    return stale ? { keep: false, why: stale } : v;
  } catch (e) {
    if (e instanceof UnreadableImage) return { keep: false, why: `it cannot be read (${e.message})` };
    throw e;
  }
}

export interface KernelImage {
  version: string;
  image: string;
  /** The target drivers this kernel has. */
  modules: string[];
}

/**
 * The kernels whose image can stay as it is, each with the note `plan` shows; the verdict on
 * every image, kept or not, goes to fixup.log.
 */
export async function keptImages(ctx: FixupContext, images: KernelImage[]): Promise<Map<string, string>> {
  const current = await currentReferences(ctx.view, ctx.devices);
  const out = new Map<string, string>();
  for (const i of images) {
    const v = await imageVerdict(ctx.view, i.image, i.version, i.modules, current, ctx.info.initrdTool, ctx.images);
    ctx.log.info(`initramfs ${i.image}: ${v.keep ? "kept" : "not kept"}, ${v.why}`);
    if (v.keep) out.set(i.version, `${i.image} kept as it is: ${v.why}`);
  }
  return out;
}
