// Block device names: splitting a partition name into disk and number, naming partition N of
// a disk, and telling which names are the kind a source hypervisor hands out (and so will not
// exist, or mean another disk, on the VMware target).
import type { ReplicaDiskMap } from "../protocol/schemas.ts";

/** Disk (and partition) names that depend on the source's controller and probe order. */
export const SOURCE_STYLE_NAME = /^\/dev\/(?:(?:[shv]d|xvd)[a-z]+\d*|nvme\d+n\d+(?:p\d+)?|mmcblk\d+(?:p\d+)?)$/;

export interface PartName {
  disk: string;
  part?: number;
}

/**
 * /dev/vda1 -> {disk /dev/vda, part 1}; /dev/nvme0n1p2 -> {disk /dev/nvme0n1, part 2};
 * a whole disk (/dev/sda, /dev/nvme0n1, /dev/mmcblk0) has no part.
 */
export function splitPartition(dev: string): PartName {
  // names whose disk ends in a digit take a 'p' before the partition number
  const p = /^(\/dev\/(?:nvme\d+n\d+|mmcblk\d+|loop\d+|md\d+|nbd\d+|cciss\/c\d+d\d+|rd\/c\d+d\d+|[a-z]+\d+))p(\d+)$/.exec(dev);
  if (p) return { disk: p[1]!, part: Number(p[2]) };
  if (/^\/dev\/(?:nvme\d+n\d+|mmcblk\d+|loop\d+|md\d+|nbd\d+)$/.test(dev)) return { disk: dev };
  const s = /^(\/dev\/(?:[shv]d|xvd)[a-z]+)(\d+)$/.exec(dev);
  if (s) return { disk: s[1]!, part: Number(s[2]) };
  return { disk: dev };
}

export function partitionName(disk: string, n: number): string {
  return /\d$/.test(disk) ? `${disk}p${n}` : `${disk}${n}`;
}

/** sda, sdb, ..., sdz, sdaa, ... as the kernel names SCSI disks. */
export function sdName(index: number): string {
  let s = "";
  let i = index + 1;
  while (i > 0) {
    i--;
    s = String.fromCharCode(97 + (i % 26)) + s;
    i = Math.floor(i / 26);
  }
  return `/dev/sd${s}`;
}

/**
 * The name each replica disk will have on the target VM: the disks sit on one controller,
 * probed in SCSI target order (the fixup disk at scsi0:15 comes after all of them and is gone
 * when the guest boots), so the lowest unit is sda.
 */
export function targetDiskNames(map: ReplicaDiskMap): Map<string, string> {
  const sorted = [...map.disks].sort((a, b) => a.target.unit - b.target.unit);
  return new Map(sorted.map((d, i) => [d.source.device, sdName(i)]));
}

/** The boot disk: the one marked boot, else the one at scsi0:0, else the lowest unit. */
export function bootDisk(map: ReplicaDiskMap): ReplicaDiskMap["disks"][number] {
  return map.disks.find((d) => d.boot) ?? map.disks.find((d) => d.target.unit === 0) ?? [...map.disks].sort((a, b) => a.target.unit - b.target.unit)[0]!;
}
