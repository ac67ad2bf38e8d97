// Real guest trees on real block devices for the crash and tool-failure tests. grub-mkconfig
// needs the root on a block device (grub-probe cannot see through overlayfs), so each test
// image is copied once into a partitioned raw disk (mkfs.ext4 -d), and every run works on a
// sparse copy of that disk attached to a loop device: the whole of stage 1 runs, boot loader
// included, and every run starts from the same bytes (inode numbers and ctimes included,
// which the tree fingerprint's cache relies on).
import { execa } from "execa";
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { bindChrootDirs } from "../../../src/guest/binds.ts";
import { ensureRootfs, type Variant } from "../../helpers/images.ts";

export const SCRATCH = "/var/tmp/osam-reliability";
const DISK_SIZE = "3G";

export function assertRoot(): void {
  if (process.getuid?.() !== 0) throw new Error("the crash and tool-failure tests need root (loop devices, mounts, chroot); run them as root");
}

const scratchDirs: string[] = [];

export function scratchDir(prefix: string): string {
  mkdirSync(SCRATCH, { recursive: true });
  const d = mkdtempSync(join(SCRATCH, prefix));
  scratchDirs.push(d);
  return d;
}

function unescapeMount(p: string): string {
  return p.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

export function mountsUnder(dir: string): string[] {
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((l) => unescapeMount(l.split(" ")[4] ?? ""))
    .filter((p) => p === dir || p.startsWith(dir + "/"));
}

/** Mount points whose source is `device` or one of its partitions. */
export function mountsOf(device: string): string[] {
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .filter((l) => {
      const src = l.split(" - ")[1]?.split(" ")[1] ?? "";
      return src === device || src.startsWith(`${device}p`);
    })
    .map((l) => unescapeMount(l.split(" ")[4] ?? ""));
}

/** Loop devices backed by files under dir (what a failed test could leave behind). */
export async function loopsUnder(dir: string): Promise<string[]> {
  const r = await execa("losetup", ["-n", "-O", "NAME,BACK-FILE", "-l"], { reject: false });
  return String(r.stdout)
    .split("\n")
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length >= 2 && (f[1] ?? "").startsWith(dir + "/"))
    .map((f) => f[0]!);
}

async function attach(file: string, partitioned: boolean): Promise<string> {
  const dev = (await execa("losetup", ["-f", "--show", ...(partitioned ? ["-P"] : []), file])).stdout.trim();
  if (partitioned) {
    // no udev here: the partition node may need partx
    if (!existsSync(`${dev}p1`)) await execa("partx", ["-a", dev], { reject: false });
    for (let i = 0; i < 50 && !existsSync(`${dev}p1`); i++) await new Promise((r) => setTimeout(r, 100));
    if (!existsSync(`${dev}p1`)) {
      await execa("losetup", ["-d", dev], { reject: false });
      throw new Error(`no partition node for ${dev} (${file})`);
    }
  }
  return dev;
}

async function detach(dev: string): Promise<void> {
  for (let i = 0; i < 20; i++) {
    const r = await execa("losetup", ["-d", dev], { reject: false });
    if (r.exitCode === 0) return;
    await new Promise((res) => setTimeout(res, 250));
  }
  throw new Error(`could not detach ${dev}`);
}

async function unmount(path: string): Promise<void> {
  if (!mountsUnder(path).length) return;
  for (let i = 0; i < 10; i++) {
    await execa("umount", ["-R", path], { reject: false });
    if (!mountsUnder(path).length) return;
    await new Promise((res) => setTimeout(res, 300));
  }
  await execa("umount", ["-R", "-l", path], { reject: false });
  if (mountsUnder(path).length) throw new Error(`could not unmount ${path}`);
}

/**
 * The chroot trees have no grub.cfg (the image recipe runs grub-mkconfig only on the bootable
 * disk); a replicated guest has one, made on the source with its root device named as there.
 * This writes one in grub-mkconfig's shape, so that the runs also edit and restore it.
 */
function addReplicatedGrubCfg(root: string): void {
  const cfg = join(root, "boot/grub/grub.cfg");
  if (existsSync(cfg)) return;
  const rootSpec = /^(\S+)\s+\/\s/m.exec(readFileSync(join(root, "etc/fstab"), "utf8"))?.[1] ?? "/dev/vda1";
  const kernels = readdirSync(join(root, "boot")).filter((n) => n.startsWith("vmlinuz-")).map((n) => n.slice("vmlinuz-".length));
  const cmdline = /^GRUB_CMDLINE_LINUX="([^"]*)"/m.exec(readFileSync(join(root, "etc/default/grub"), "utf8"))?.[1] ?? "";
  const entries = kernels.map((k) => [
    `menuentry 'Debian GNU/Linux, with Linux ${k}' --class debian --class gnu-linux --class gnu --class os $menuentry_id_option 'gnulinux-${k}-advanced' {`,
    "\tload_video",
    "\tinsmod gzio",
    "\tinsmod part_msdos",
    "\tinsmod ext2",
    "\tset root='hd0,msdos1'",
    `\techo\t'Loading Linux ${k} ...'`,
    `\tlinux\t/boot/vmlinuz-${k} root=${rootSpec} ro ${cmdline}`,
    "\techo\t'Loading initial ramdisk ...'",
    `\tinitrd\t/boot/initrd.img-${k}`,
    "}",
  ].join("\n"));
  writeFileSync(cfg, [
    "#",
    "# DO NOT EDIT THIS FILE",
    "#",
    "# It is automatically generated by grub-mkconfig using templates",
    "# from /etc/grub.d and settings from /etc/default/grub",
    "#",
    "",
    "### BEGIN /etc/grub.d/00_header ###",
    "set default=\"0\"",
    "set timeout=5",
    "### END /etc/grub.d/00_header ###",
    "",
    "### BEGIN /etc/grub.d/10_linux ###",
    ...entries,
    "### END /etc/grub.d/10_linux ###",
    "",
  ].join("\n"), { mode: 0o444 });
}

/** by-uuid links this process made, with the partitions using each (the first is its target). */
const linkUsers = new Map<string, string[]>();

function pointLink(link: string, part: string): void {
  rmSync(link, { force: true });
  symlinkSync(`../../${part.slice("/dev/".length)}`, link);
}

/**
 * /dev/disk/by-uuid/<uuid> for the disk's filesystem, as udev makes it on a real host (there
 * is no udev here): grub-mkconfig writes root=UUID= only when that link exists, and otherwise
 * root=/dev/loopNp1, which would differ from run to run. Copies of one image share the UUID:
 * the link always points at a disk still attached, and goes with its last user.
 */
async function uuidLink(part: string): Promise<() => void> {
  const uuid = (await execa("blkid", ["-p", "-s", "UUID", "-o", "value", part], { reject: false })).stdout.trim();
  if (!/^[0-9a-f-]{36}$/.test(uuid)) return () => undefined;
  const link = `/dev/disk/by-uuid/${uuid}`;
  const users = linkUsers.get(link);
  if (users) users.push(part);
  else {
    if (lstatSync(link, { throwIfNoEntry: false })) return () => undefined; // someone else's
    mkdirSync("/dev/disk/by-uuid", { recursive: true });
    pointLink(link, part);
    linkUsers.set(link, [part]);
  }
  return () => {
    const left = (linkUsers.get(link) ?? []).filter((p) => p !== part);
    if (left.length) {
      linkUsers.set(link, left);
      pointLink(link, left[0]!);
    } else {
      linkUsers.delete(link);
      rmSync(link, { force: true });
    }
  };
}

const bases = new Map<Variant, Promise<string>>();
let baseDir: string | undefined;

/** A partitioned raw disk holding `variant`'s tree on its first partition; one per process. */
export function baseDisk(variant: Variant): Promise<string> {
  let p = bases.get(variant);
  if (!p) {
    p = (async () => {
      assertRoot();
      const rootfs = await ensureRootfs(variant);
      baseDir ??= scratchDir("base-");
      const file = join(baseDir, `${variant}.raw`);
      await execa("truncate", ["-s", DISK_SIZE, file]);
      await execa("sfdisk", ["-q", file], { input: "label: dos\ntype=83, bootable\n" });
      const dev = await attach(file, true);
      try {
        await execa("mkfs.ext4", ["-q", "-F", "-d", rootfs, `${dev}p1`]);
        const mnt = join(baseDir, `${variant}.mnt`);
        mkdirSync(mnt);
        await execa("mount", [`${dev}p1`, mnt]);
        try {
          addReplicatedGrubCfg(mnt);
        } finally {
          await unmount(mnt);
          rmSync(mnt, { recursive: true });
        }
      } finally {
        await detach(dev);
      }
      return file;
    })();
    bases.set(variant, p);
    p.catch(() => bases.delete(variant));
  }
  return p;
}

/** Removes the base disks and scratch directories of this process (call from an after() hook). */
export function removeBaseDisks(): void {
  for (const d of scratchDirs.splice(0)) {
    // never through a live mount: such a directory was reported when it was left
    if (mountsUnder(d).length === 0) rmSync(d, { recursive: true, force: true });
  }
  baseDir = undefined;
  bases.clear();
}

export interface GuestDisk {
  /** The mounted guest root, with /dev, /proc, /sys, /run bound inside. */
  root: string;
  /** The loop device of the whole disk (for a disk map's target.device). */
  device: string;
  /** The raw copy behind it. */
  file: string;
}

export interface DiskOptions {
  /** Mount a separate ext4 of this many MB at /boot, with the image's /boot copied in. */
  bootMB?: number;
  /** Leave the disk unmounted (the agent finds and mounts it itself). */
  unmounted?: boolean;
}

/**
 * Runs fn on a fresh copy of `variant`'s disk, mounted (or not, with unmounted) and with the
 * chroot binds in place. Every mount and loop device is released afterwards, also when fn
 * throws; a release that fails is reported as an error of its own.
 */
export async function withGuestDisk<T>(variant: Variant, fn: (d: GuestDisk) => Promise<T>, opts: DiskOptions = {}): Promise<T> {
  const base = await baseDisk(variant);
  const dir = scratchDir(`${variant}-`);
  const file = join(dir, "disk.raw");
  const root = join(dir, "root");
  mkdirSync(root);
  const loops: string[] = [];
  let releaseBinds: (() => Promise<void>) | undefined;
  let releaseLink: (() => void) | undefined;
  let result: T;
  const errors: string[] = [];
  try {
    await execa("cp", ["--sparse=always", base, file]);
    const dev = await attach(file, true);
    loops.push(dev);
    if (!opts.unmounted) {
      await execa("mount", [`${dev}p1`, root]);
      if (opts.bootMB) {
        const bootFile = join(dir, "boot.raw");
        await execa("truncate", ["-s", `${opts.bootMB}M`, bootFile]);
        // the image's /boot, copied in by mkfs (owners, modes and links kept)
        await execa("mkfs.ext4", ["-q", "-F", "-m", "0", "-d", join(root, "boot"), bootFile]);
        const bdev = await attach(bootFile, false);
        loops.push(bdev);
        await execa("mount", [bdev, join(root, "boot")]);
      }
      releaseBinds = await bindChrootDirs(root);
      releaseLink = await uuidLink(`${dev}p1`);
    }
    result = await fn({ root, device: dev, file });
  } finally {
    try {
      releaseLink?.();
      await releaseBinds?.();
      await unmount(root);
    } catch (e) {
      errors.push((e as Error).message);
    }
    for (const l of loops.reverse()) {
      try {
        await detach(l);
      } catch (e) {
        errors.push((e as Error).message);
      }
    }
    if (errors.length === 0 && mountsUnder(dir).length === 0) rmSync(dir, { recursive: true, force: true });
    else process.stderr.write(`withGuestDisk: could not release everything (${errors.join("; ")}); left ${dir}\n`);
  }
  // reached only when fn succeeded: the test's own failure is the one to report
  if (errors.length) throw new Error(`releasing the test disk failed: ${errors.join("; ")}`);
  return result;
}
