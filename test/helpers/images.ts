// Real Debian guests for integration and e2e tests. The recipes live in test/images/; this
// module builds them on first use (through test/images/build.sh, which caches each image under
// /var/cache/osam-fixup/images/<variant>-<recipe hash>/) and hands tests either a pristine
// chroot tree, a throw-away writable overlay of it, or a bootable qcow2 disk.
import { execa } from "execa";
import { existsSync, mkdtempSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const VARIANTS = [
  "deb12-itools",
  "deb12-netplan",
  "deb12-dracut-lvm",
  "deb12-uefi",
  "deb11-itools",
  "deb13-itools",
  "deb12-xfs",
  "deb12-generic",
  "deb12-bridge",
  "deb12-bond",
  "deb12-md-raid1",
] as const;
export type Variant = (typeof VARIANTS)[number];

/** The variant tests use when they do not care which one. */
export const DEFAULT_VARIANT: Variant = "deb12-itools";

export interface NicMeta {
  /** The name the guest gives it on KVM hardware (ens3, ens4). */
  name: string;
  /** The MAC the source VM had; the image's config may pin it (netplan match). */
  mac: string;
  /** Static address with prefix, e.g. 10.0.2.15/24; null for a port of a bridge or bond, which carries it. */
  ipv4: string | null;
  gateway: string | null;
  /** The bridge or bond (in ImageMeta.virtual) this NIC is a port of. */
  master?: string;
}

/** A bridge or bond of the source, over its NICs (variants/virtual-links.sh). */
export interface VirtualMeta {
  name: string;
  kind: "bridge" | "bond";
  /** The MAC the source's inventory lists for it: its first port's. */
  mac: string;
  /** Source names of its ports. */
  ports: string[];
  ipv4: string;
  gateway: string | null;
  /** A bond's mode and primary port (source name). */
  mode?: string;
  primary?: string;
}

export interface ImageMeta {
  variant: Variant;
  suite: "bullseye" | "bookworm" | "trixie";
  initrd: "initramfs-tools" | "dracut";
  boot: "bios" | "uefi";
  /** md: the root on md RAID1 across several disks (DiskMeta.disks). */
  layout: "plain" | "lvm" | "md";
  rootfsType: "ext4" | "xfs";
  net: "ifupdown" | "netplan";
  kernel: string;
  nics: NicMeta[];
  /** Bridges and bonds that carry the addresses instead of the NICs (absent: none). */
  virtual?: VirtualMeta[];
  packages: string;
  builtAt: string;
  buildSeconds: number;
  sizeMB: number;
}

export interface DiskMeta {
  /** qcow2, never written by tests: boot it through an overlay or a copy. */
  disk: string;
  format: "qcow2";
  /** Every disk, in the source's order (vda, vdb, ...), when there are several; disks[0] is `disk`. */
  disks?: string[];
  firmware: "bios" | "uefi";
  /** The root device as the source guest names it (fstab and kernel command line). */
  rootDevice: string;
  /** Partition table of the disk as sfdisk -d prints it. */
  partitions: string;
  /** The source's file systems as a manager would list them (device as the source names it). */
  filesystems: { device: string; uuid: string; fsType: string; mountpoint: string }[];
  virtualSizeBytes: number;
  buildSeconds: number;
  firstbootSeconds: number;
}

export interface DiskImage {
  dir: string;
  meta: ImageMeta;
  disk: DiskMeta;
}

/** The image's disks in the source's order: the one disk, or each member of a multi-disk layout. */
export function diskFiles(img: DiskImage): string[] {
  return img.disk.disks ?? [img.disk.disk];
}

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const BUILD_SH = join(REPO, "test/images/build.sh");
const SCRATCH = "/var/tmp/osam-images";
const BUILD_TIMEOUT_MS = 60 * 60_000;

function assertVariant(v: string): asserts v is Variant {
  if (!(VARIANTS as readonly string[]).includes(v)) throw new Error(`unknown test image variant ${v} (known: ${VARIANTS.join(", ")})`);
}

function assertRoot(what: string): void {
  if (process.getuid?.() !== 0) throw new Error(`${what} needs root (mmdebstrap, loop devices, overlay mounts); run the tests as root`);
}

const builds = new Map<string, Promise<string>>();

/** Every address of the source and where it lives (source names): a NIC's own, or its bridge's or bond's. */
export function sourceAddresses(meta: ImageMeta): { on: string; ipv4: string }[] {
  return [...meta.nics.flatMap((n) => (n.ipv4 ? [{ on: n.name, ipv4: n.ipv4 }] : [])), ...(meta.virtual ?? []).map((v) => ({ on: v.name, ipv4: v.ipv4 }))];
}

/** Runs build.sh (a no-op when cached); its progress goes to our stderr; returns the image dir. */
function build(variant: Variant, disk: boolean): Promise<string> {
  const key = `${variant}${disk ? " --disk" : ""}`;
  let p = builds.get(key);
  if (!p) {
    p = (async () => {
      assertRoot(`building the ${variant} test image`);
      const r = await execa("bash", [BUILD_SH, variant, ...(disk ? ["--disk"] : [])], {
        stdin: "ignore",
        stderr: "inherit",
        reject: false,
        timeout: BUILD_TIMEOUT_MS,
      });
      const lines = String(r.stdout).trim().split("\n");
      const dir = lines[lines.length - 1] ?? "";
      if (r.exitCode !== 0 || !dir.startsWith("/") || !existsSync(dir)) {
        throw new Error(`test image ${key} failed to build (exit ${r.exitCode ?? "?"}${r.timedOut ? ", timed out" : ""}); see the progress above and ${dir || "/var/cache/osam-fixup/images"}`);
      }
      return dir;
    })();
    builds.set(key, p);
    p.catch(() => builds.delete(key));
  }
  return p;
}

/** The image directory's metadata (meta.json written by the recipe). */
export function readMeta(dir: string): ImageMeta {
  return JSON.parse(readFileSync(join(dir, "meta.json"), "utf8")) as ImageMeta;
}

/** Path of the pristine chroot tree of `variant`, built on first use. Never write into it. */
export async function ensureRootfs(variant: Variant): Promise<string> {
  assertVariant(variant);
  const dir = await build(variant, false);
  return join(dir, "rootfs");
}

/** The variant's metadata (suite, kernel, NICs with their MACs and addresses...). */
export async function imageMeta(variant: Variant): Promise<ImageMeta> {
  assertVariant(variant);
  return readMeta(await build(variant, false));
}

/** The bootable disk of `variant` (qcow2, configured as on KVM), built on first use. */
export async function ensureDisk(variant: Variant): Promise<DiskImage> {
  assertVariant(variant);
  const dir = await build(variant, true);
  const r = await execa("bash", [BUILD_SH, variant, "--disk-meta"], { reject: false, stdin: "ignore" });
  const file = String(r.stdout).trim();
  if (r.exitCode !== 0 || !existsSync(file)) throw new Error(`no disk metadata for ${variant} in ${dir} (${file || r.stderr})`);
  return { dir, meta: readMeta(dir), disk: JSON.parse(readFileSync(file, "utf8")) as DiskMeta };
}

function mountsUnder(dir: string): string[] {
  const out: string[] = [];
  for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
    const mp = line.split(" ")[4];
    if (!mp) continue;
    const p = mp.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    if (p === dir || p.startsWith(dir + "/")) out.push(p);
  }
  return out;
}

/**
 * Runs fn on a writable overlayfs copy of the tree `rootfs` (a path from ensureRootfs); the
 * copy and every change made in it are gone afterwards. Mounts left inside it (chroot binds)
 * are unmounted too; if any cannot be, the scratch directory is kept rather than deleted
 * through a live mount.
 */
export async function withOverlay<T>(rootfs: string, fn: (root: string) => Promise<T>): Promise<T> {
  assertRoot("an overlay of a test image");
  if (!existsSync(join(rootfs, "etc"))) throw new Error(`${rootfs} is not a test image tree`);
  mkdirSync(SCRATCH, { recursive: true });
  const tmp = mkdtempSync(join(SCRATCH, "overlay-"));
  const upper = join(tmp, "upper");
  const work = join(tmp, "work");
  const merged = join(tmp, "root");
  for (const d of [upper, work, merged]) mkdirSync(d);
  await execa("mount", ["-t", "overlay", "overlay", "-o", `lowerdir=${rootfs},upperdir=${upper},workdir=${work}`, merged]);
  try {
    return await fn(merged);
  } finally {
    await execa("umount", ["-R", merged], { reject: false });
    if (mountsUnder(tmp).length > 0) await execa("umount", ["-R", "-l", merged], { reject: false });
    const left = mountsUnder(tmp);
    if (left.length === 0) rmSync(tmp, { recursive: true, force: true });
    else process.stderr.write(`withOverlay: ${left.join(", ")} still mounted; left ${tmp} in place\n`);
  }
}
