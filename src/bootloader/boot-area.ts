// The bytes grub-install writes outside any file system, so that they can be backed up and
// restored like files. For i386-pc it writes the MBR's boot code (bytes 0-439; the disk
// signature and partition table after it are left alone) and core.img: on an MBR disk into
// the gap between the MBR and the first partition, on a GPT disk into the BIOS boot
// partition. The identity bytes (the partition table, and the GPT header with the disk's
// GUID) are ones grub-install never writes: a restore checks them so that boot code is never
// written to a different disk that now has the same device name.
import { createHash } from "node:crypto";
import { closeSync, existsSync, fstatSync, fsyncSync, openSync, readFileSync, readdirSync, readSync, realpathSync, writeSync } from "node:fs";
import { basename, dirname } from "node:path";
import { decodeField } from "../formats/fstab.ts";

const SECTOR = 512;
const BOOT_CODE = 440;
/** Enough for the MBR, the GPT header and 128 GPT entries of 128 bytes. */
const BOOT_AREA_HEAD = 34 * SECTOR;
/** An embedding gap or BIOS boot partition larger than this is not GRUB's: back up this much. */
const MAX_EMBED = 8 * 1024 * 1024;
/** "Hah!IdontNeedEFI": the BIOS boot partition's type GUID as it is stored on disk. */
const BIOS_BOOT_TYPE = Buffer.from("Hah!IdontNeedEFI", "latin1");

export type Range = [offset: number, length: number];

export interface BootAreaLayout {
  label: "dos" | "gpt" | "none";
  /** What grub-install may write. */
  ranges: Range[];
  /** What identifies the disk and grub-install leaves alone. */
  identity: Range[];
}

/** Where the boot code may go on a disk whose first BOOT_AREA_HEAD bytes are `head`. */
export function bootAreaLayout(head: Buffer, diskSize: number): BootAreaLayout {
  const clamp = (r: Range): Range => [r[0], Math.max(0, Math.min(r[1], diskSize - r[0]))];
  const mbrValid = head.length >= SECTOR && head[510] === 0x55 && head[511] === 0xaa;
  const gpt = head.length >= 2 * SECTOR && head.subarray(SECTOR, SECTOR + 8).toString("latin1") === "EFI PART";
  if (gpt) {
    const ranges: Range[] = [[0, BOOT_CODE]];
    const entriesLba = Number(head.readBigUInt64LE(SECTOR + 72));
    const count = head.readUInt32LE(SECTOR + 80);
    const size = head.readUInt32LE(SECTOR + 84);
    for (let i = 0; size >= 128 && i < count; i++) {
      const at = entriesLba * SECTOR + i * size;
      if (at + 48 > head.length) break;
      if (!head.subarray(at, at + 16).equals(BIOS_BOOT_TYPE)) continue;
      const first = Number(head.readBigUInt64LE(at + 32));
      const last = Number(head.readBigUInt64LE(at + 40));
      if (last >= first) ranges.push(clamp([first * SECTOR, Math.min((last - first + 1) * SECTOR, MAX_EMBED)]));
      break;
    }
    return { label: "gpt", ranges, identity: [[BOOT_CODE, SECTOR - BOOT_CODE], [SECTOR, 92]] };
  }
  if (mbrValid) {
    let firstStart = 0;
    for (let i = 0; i < 4; i++) {
      const e = 446 + i * 16;
      const type = head[e + 4] ?? 0;
      const start = head.readUInt32LE(e + 8);
      if (type !== 0 && start > 0 && (firstStart === 0 || start < firstStart)) firstStart = start;
    }
    const gapEnd = firstStart > 1 ? Math.min(firstStart * SECTOR, MAX_EMBED) : 0;
    const ranges: Range[] = [[0, BOOT_CODE]];
    if (gapEnd > SECTOR) ranges.push(clamp([SECTOR, gapEnd - SECTOR]));
    return { label: "dos", ranges, identity: [[BOOT_CODE, SECTOR - BOOT_CODE]] };
  }
  return { label: "none", ranges: [[0, BOOT_CODE]], identity: [] };
}

/**
 * Raw access to the disks outside the guest root. The engine only goes through this, so that
 * golden tests can give it disks in memory, as they give it a command runner that runs nothing.
 */
export interface DiskAccess {
  size(device: string): number;
  read(device: string, ranges: Range[]): Buffer;
  write(device: string, ranges: Range[], data: Buffer): void;
  /** Why boot code must not be written back to `device` for the guest at hostRoot, or undefined. */
  refuse(hostRoot: string, device: string): string | undefined;
}

/** Bytes of a block device (or a disk image file): /sys knows a device's size, stat does not. */
function diskSize(device: string): number {
  const fd = openSync(device, "r");
  try {
    const st = fstatSync(fd);
    if (st.isFile()) return st.size;
  } finally {
    closeSync(fd);
  }
  const sectors = readFileSync(`/sys/class/block/${basename(realpathSync(device))}/size`, "utf8");
  return Number(sectors.trim()) * SECTOR;
}

function readRanges(device: string, ranges: Range[]): Buffer {
  const fd = openSync(device, "r");
  try {
    return Buffer.concat(
      ranges.map(([off, len]) => {
        const b = Buffer.alloc(len);
        let got = 0;
        while (got < len) {
          const n = readSync(fd, b, got, len - got, off + got);
          if (n === 0) break;
          got += n;
        }
        return b.subarray(0, got);
      }),
    );
  } finally {
    closeSync(fd);
  }
}

function writeRanges(device: string, ranges: Range[], data: Buffer): void {
  const fd = openSync(device, "r+");
  try {
    let at = 0;
    for (const [off, len] of ranges) {
      let put = 0;
      while (put < len) put += writeSync(fd, data, at + put, len - put, off + put);
      at += len;
    }
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export function identityOf(disks: DiskAccess, device: string, identity: Range[]): string {
  return createHash("sha256").update(disks.read(device, identity)).digest("hex");
}

/** The layout of a disk as it is now. */
export function layoutOf(disks: DiskAccess, device: string, size = disks.size(device)): BootAreaLayout {
  return bootAreaLayout(disks.read(device, [[0, Math.min(BOOT_AREA_HEAD, size)]]), size);
}

/** The kernel names of the whole disks a block device sits on (through partitions, LVM, md). */
function diskNamesOf(sysDir: string, seen = new Set<string>()): string[] {
  let real: string;
  try {
    real = realpathSync(sysDir);
  } catch {
    return [];
  }
  if (seen.has(real)) return [];
  seen.add(real);
  let slaves: string[] = [];
  try {
    slaves = readdirSync(`${real}/slaves`);
  } catch {
    // not a stacked device
  }
  if (slaves.length) return slaves.flatMap((s) => diskNamesOf(`${real}/slaves/${s}`, seen));
  return existsSync(`${real}/partition`) ? [basename(dirname(real))] : [basename(real)];
}

/**
 * The disks holding the file systems mounted at or under hostRoot. A journal lives in the
 * guest and a guest is not trusted: boot code is only restored to a disk the guest is on.
 */
export function guestDiskNames(hostRoot: string, mountinfo = readFileSync("/proc/self/mountinfo", "utf8")): Set<string> {
  const root = hostRoot.replace(/\/+$/, "") || "/";
  const out = new Set<string>();
  for (const line of mountinfo.split("\n")) {
    const f = line.split(" ");
    const mnt = decodeField(f[4] ?? "");
    if (!f[2] || !(mnt === root || mnt.startsWith(root === "/" ? "/" : root + "/"))) continue;
    for (const d of diskNamesOf(`/sys/dev/block/${f[2]}`)) out.add(d);
  }
  return out;
}

function refuseUnlessGuestDisk(hostRoot: string, device: string): string | undefined {
  let name: string;
  try {
    name = basename(realpathSync(device));
  } catch {
    return `${device} is not present`;
  }
  const disks = guestDiskNames(hostRoot);
  return disks.has(name) ? undefined : `${device} holds none of the guest's mounted file systems (it is on ${[...disks].join(", ") || "no block device"})`;
}

export const realDisks: DiskAccess = { size: diskSize, read: readRanges, write: writeRanges, refuse: refuseUnlessGuestDisk };
