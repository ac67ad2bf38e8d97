// Before BEGIN the fixup VM only waits while the manager uploads the maps, yet the replica
// disks are attached from power-on: what blkid says of them and which filesystem holds an OS
// can be learned then and taken after BEGIN instead of asked again (blkid and a probe mount
// per filesystem: about a second of stage 1 in an emulated fixup VM). Nothing here writes to
// a disk: the probe mounts leave a dirty journal unreplayed, so such a filesystem may look as
// of its last commit. A device is taken as seen only while its number and size are unchanged;
// a look that found no root anywhere is made again after BEGIN, with the replay.
import { mkdirSync, mkdtempSync, readFileSync, rmdirSync } from "node:fs";
import { basename, join, posix } from "node:path";
import type { Logger } from "../util/log.ts";
import { probeDevices, type BlkidEntry } from "./blkid.ts";
import { FIXUP_UNIT } from "../protocol/schemas.ts";
import { controllerHost, listPartitions, listScsiDisks } from "./discover.ts";
import { LINUX_FS, probeRoot, type RootLook } from "./root-probe.ts";

interface Seen<T> {
  /** The device's number and size when it was seen ("8:16 41943040"). */
  key: string;
  value: T;
}

export class LookAhead {
  private readonly blkid = new Map<string, Seen<BlkidEntry | null>>();
  private readonly roots = new Map<string, Seen<RootLook | null>>();
  /** How long the look took. */
  ms = 0;
  private readonly sys: string;
  constructor(sys: string) {
    this.sys = sys;
  }

  /** blkid's entry as seen before BEGIN (null: nothing on it); undefined: not seen, or changed since. */
  entry(device: string): BlkidEntry | null | undefined {
    return this.current(this.blkid, device);
  }

  /** What the look before BEGIN found on a filesystem; undefined: no look, or changed since. */
  root(device: string): RootLook | null | undefined {
    return this.current(this.roots, device);
  }

  get devices(): number {
    return this.blkid.size;
  }

  get filesystems(): number {
    return this.roots.size;
  }

  keep(device: string, entry: BlkidEntry | null): void {
    const key = deviceKey(device, this.sys);
    if (key) this.blkid.set(device, { key, value: entry });
  }

  keepRoot(device: string, look: RootLook | null): void {
    const key = deviceKey(device, this.sys);
    if (key) this.roots.set(device, { key, value: look });
  }

  private current<T>(m: Map<string, Seen<T>>, device: string): T | undefined {
    const s = m.get(device);
    return s && s.key === deviceKey(device, this.sys) ? s.value : undefined;
  }
}

function deviceKey(device: string, sys: string): string | undefined {
  try {
    const dir = join(sys, "class/block", basename(device));
    return `${readFileSync(join(dir, "dev"), "utf8").trim()} ${readFileSync(join(dir, "size"), "utf8").trim()}`;
  } catch {
    return undefined;
  }
}

/** The disks (and their partitions) that may be replicas: every disk on scsi0 but the fixup disk. */
export function replicaCandidates(sys = "/sys"): string[] {
  const scsi = listScsiDisks(sys);
  const host = controllerHost(scsi, sys);
  if (host === undefined) return [];
  const disks = scsi.filter((s) => s.host === host && s.channel === 0 && s.lun === 0 && s.target !== FIXUP_UNIT).sort((a, b) => a.target - b.target);
  return disks.flatMap((d) => [d.device, ...[...listPartitions(d.device, sys)].sort((a, b) => a[0] - b[0]).map(([, p]) => p)]);
}

/**
 * Looks at the devices (default: every candidate replica) read-only: blkid, then a probe
 * mount of each Linux filesystem. Never throws: what could not be seen is asked after BEGIN.
 */
export async function lookAhead(log: Logger, o: { sys?: string; mountBase?: string; devices?: string[] } = {}): Promise<LookAhead> {
  const sys = o.sys ?? "/sys";
  const t0 = Date.now();
  const ahead = new LookAhead(sys);
  try {
    const devices = o.devices ?? replicaCandidates(sys);
    const found = new Map((await probeDevices(devices)).map((e) => [e.device, e]));
    for (const d of devices) ahead.keep(d, found.get(d) ?? null);
    const fss = devices.filter((d) => LINUX_FS.has(found.get(d)?.type ?? ""));
    if (fss.length) {
      const base = o.mountBase ?? "/run/osam-fixup";
      mkdirSync(base, { recursive: true });
      const dir = mkdtempSync(posix.join(base, "look-"));
      try {
        for (const d of fss) {
          const look = await probeRoot(log, d, found.get(d)!.type!, dir, { replay: false });
          if (look !== undefined) ahead.keepRoot(d, look);
        }
      } finally {
        rmdirSync(dir);
      }
    }
  } catch (e) {
    log.warn(`looking at the disks before BEGIN: ${(e as Error).message}; they are looked at after it`);
  }
  ahead.ms = Date.now() - t0;
  return ahead;
}
