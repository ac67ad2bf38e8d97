// Which block devices of the fixup VM are the replica disks, and which filesystem on them is
// the guest's root. Disks are found by their SCSI address (scsi0:<unit> is SCSI target <unit>
// on the VMware controller), never by the order of sdX names, which depends on probe timing.
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { basename, join } from "node:path";
import { FixupError } from "../protocol/codes.ts";
import type { Inputs } from "../protocol/inputs.ts";
import { FIXUP_UNIT, type ReplicaDiskMap } from "../protocol/schemas.ts";
import type { KnownDevice } from "../guest/devices.ts";
import { bootDisk, partitionName, splitPartition } from "./discover-names.ts";

/** SCSI host drivers of the controllers a VMware VM can have. */
const VMWARE_HBAS = new Set(["vmw_pvscsi", "mptspi", "mptsas", "mpt2sas", "mpt3sas", "mptscsih", "BusLogic"]);

export interface ScsiDisk {
  host: number;
  channel: number;
  target: number;
  lun: number;
  /** /dev/sdX */
  device: string;
}

function readText(p: string): string | undefined {
  try {
    return readFileSync(p, "utf8").trim();
  } catch {
    return undefined;
  }
}

/** Every SCSI disk the kernel knows, from /sys/class/scsi_disk/H:C:T:L/device/block/<name>. */
export function listScsiDisks(sys = "/sys"): ScsiDisk[] {
  const dir = join(sys, "class/scsi_disk");
  if (!existsSync(dir)) return [];
  const out: ScsiDisk[] = [];
  for (const e of readdirSync(dir)) {
    const m = /^(\d+):(\d+):(\d+):(\d+)$/.exec(e);
    if (!m) continue;
    let names: string[] = [];
    try {
      names = readdirSync(join(dir, e, "device/block"));
    } catch {
      continue;
    }
    if (!names[0]) continue;
    out.push({ host: Number(m[1]), channel: Number(m[2]), target: Number(m[3]), lun: Number(m[4]), device: `/dev/${names[0]}` });
  }
  return out;
}

/**
 * The Linux SCSI host number of the controller the manager calls scsi0: the host that has
 * the fixup disk at target FIXUP_UNIT (15), else the only host with a VMware HBA driver, else the only host.
 */
export function controllerHost(disks: ScsiDisk[], sys = "/sys"): number | undefined {
  const hosts = [...new Set(disks.map((d) => d.host))];
  const withFixup = hosts.filter((h) => disks.some((d) => d.host === h && d.target === FIXUP_UNIT && d.lun === 0));
  if (withFixup.length === 1) return withFixup[0];
  const vmw = hosts.filter((h) => VMWARE_HBAS.has(readText(join(sys, `class/scsi_host/host${h}/proc_name`)) ?? ""));
  if (vmw.length === 1) return vmw[0];
  if (hosts.length === 1) return hosts[0];
  return undefined;
}

export interface LocatedDisk {
  source: string;
  unit: number;
  /** Whole-disk device in the fixup VM (/dev/sdb). */
  device: string;
  how: string;
}

function isBlockDevice(p: string): boolean {
  try {
    return statSync(p).isBlockDevice();
  } catch {
    return false;
  }
}

/** Finds every replica disk; throws INPUT_CONTRADICTORY when one is not attached. */
export function locateDisks(map: ReplicaDiskMap, sys = "/sys", warn: (m: string) => void = () => undefined): LocatedDisk[] {
  const scsi = listScsiDisks(sys);
  const host = controllerHost(scsi, sys);
  const out: LocatedDisk[] = [];
  const used = new Set<string>();
  for (const d of map.disks) {
    const hit = host === undefined ? undefined : scsi.find((s) => s.host === host && s.channel === 0 && s.target === d.target.unit && s.lun === 0);
    if (hit) {
      out.push({ source: d.source.device, unit: d.target.unit, device: hit.device, how: `SCSI ${hit.host}:0:${hit.target}:0` });
    } else if (d.target.device && isBlockDevice(d.target.device)) {
      // no SCSI address to go by (not on a VMware controller): the manager's own word
      warn(`no SCSI disk at scsi0:${d.target.unit}${host === undefined ? " (no VMware SCSI controller found)" : ""}; using ${d.target.device} from replica-disk-map.json`);
      out.push({ source: d.source.device, unit: d.target.unit, device: d.target.device, how: "replica-disk-map target.device" });
    } else {
      throw new FixupError("INPUT_CONTRADICTORY", `replica disk ${d.source.device} should be attached at scsi0:${d.target.unit}, but the fixup VM has no disk there${host === undefined ? " (no VMware SCSI controller found)" : ""}`, "mount");
    }
    const last = out.at(-1)!;
    if (used.has(last.device)) throw new FixupError("INPUT_CONTRADICTORY", `${last.device} is claimed by two replica disks`, "mount");
    used.add(last.device);
    const size = Number(readText(join(sys, "class/block", basename(last.device), "size")) ?? "0") * 512;
    if (d.source.sizeBytes && size && size < d.source.sizeBytes) warn(`${last.device} (scsi0:${d.target.unit}) has ${size} bytes, less than the ${d.source.sizeBytes} of ${d.source.device}`);
  }
  return out;
}

/** Partition number -> device for a whole disk, from /sys/class/block/<disk>/<part>/partition. */
export function listPartitions(disk: string, sys = "/sys"): Map<number, string> {
  const name = basename(disk);
  const out = new Map<number, string>();
  const dir = join(sys, "class/block", name);
  let entries: string[] = [];
  try {
    entries = readdirSync(dir);
  } catch {
    return out;
  }
  for (const e of entries) {
    if (!e.startsWith(name)) continue;
    const n = readText(join(dir, e, "partition"));
    if (n && /^\d+$/.test(n)) out.set(Number(n), `/dev/${e}`);
  }
  return out;
}

/** The source name of each target partition: partition N of /dev/sdb is partition N of /dev/vda. */
export function mapPartitions(located: LocatedDisk[], sys = "/sys"): { source: string; target: string; disk: LocatedDisk }[] {
  const out: { source: string; target: string; disk: LocatedDisk }[] = [];
  for (const d of located) {
    out.push({ source: d.source, target: d.device, disk: d });
    for (const [n, dev] of [...listPartitions(d.device, sys)].sort((a, b) => a[0] - b[0])) out.push({ source: partitionName(d.source, n), target: dev, disk: d });
  }
  return out;
}

/**
 * The members of an md array assembled here, by their source names, from
 * /sys/block/<md>/slaves: the partitions of the replica disks it is made of.
 */
export function mdMembers(md: string, parts: { source: string; target: string }[], sys = "/sys"): string[] {
  let names: string[] = [];
  try {
    names = readdirSync(join(sys, "block", basename(md), "slaves"));
  } catch {
    return [];
  }
  return names.map((n) => parts.find((p) => p.target === `/dev/${n}`)?.source).filter((s): s is string => s !== undefined).sort();
}


export interface RootCandidate {
  device: KnownDevice;
  /** btrfs subvolume the root lives in, when not the default one. */
  subvol?: string;
  os: string;
}

/**
 * Picks the guest root among the filesystems that look like one. system-configuration's
 * source.root (a device, UUID=... or a bare UUID) decides first, then the boot disk.
 */
export function chooseRoot(cands: RootCandidate[], inputs: Inputs): RootCandidate {
  if (!cands.length) throw new FixupError("GUEST_NOT_FOUND", "no filesystem on the replica disks holds /etc, /usr and an os-release or release file", "mount");
  if (cands.length === 1) return cands[0]!;
  const want = inputs.system.source.root;
  const list = cands.map((c) => `${c.device.source} (${c.os})`).join(", ");
  if (want) {
    const u = want.replace(/^UUID=/i, "").toLowerCase();
    const hit = cands.filter((c) => c.device.source === want || c.device.target === want || c.device.uuid?.toLowerCase() === u);
    if (hit.length === 1) return hit[0]!;
    throw new FixupError("GUEST_AMBIGUOUS_ROOT", `system-configuration source.root is ${want}, which matches ${hit.length} of the root filesystems found: ${list}`, "mount");
  }
  const boot = bootDisk(inputs.disks).source.device;
  const onBoot = cands.filter((c) => splitPartition(c.device.source).disk === boot);
  if (onBoot.length === 1) return onBoot[0]!;
  throw new FixupError("GUEST_AMBIGUOUS_ROOT", `several root filesystems found (${list}) and system-configuration does not name one in source.root`, "mount");
}
