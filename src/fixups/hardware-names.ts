// /dev/disk/by-id and /dev/disk/by-path names look stable but belong to the source's hardware:
// virtio-<serial>, ata-<model>_<serial>, scsi-0QEMU_..., pci-0000:00:04.0 do not exist on a
// PVSCSI disk. Such a name is traced back to a source device where the inputs allow it: by-id
// by the serial the replica disk map gives each source disk (udev builds the id from it),
// and failing that, by the role of the reference (the filesystem the inventory mounts at that
// mount point, the only swap or the only LUKS device). by-path has no serial, only the role.
import type { ReplicaDiskMap, SystemConfiguration } from "../protocol/schemas.ts";
import { partitionName } from "../guest/discover-names.ts";
import type { KnownDevice } from "./types.ts";

export interface HardwareName {
  kind: "by-id" | "by-path";
  /** The link name without -partN. */
  id: string;
  part?: number;
}

/** by-id names that device-mapper, md and LVM make from their own UUIDs: stable anywhere. */
const STABLE_ID = /^(?:dm-uuid-|dm-name-|lvm-pv-uuid-|md-uuid-|md-name-)/;

export function parseHardwareName(name: string): HardwareName | undefined {
  const m = /^\/dev\/disk\/by-(id|path)\/([^/]+?)(?:-part(\d+))?$/.exec(name);
  if (!m) return undefined;
  if (m[1] === "id" && STABLE_ID.test(m[2]!)) return undefined;
  return { kind: m[1] === "id" ? "by-id" : "by-path", id: m[2]!, ...(m[3] ? { part: Number(m[3]) } : {}) };
}

/** virtio-blk hands the guest at most 20 bytes of serial. */
const VIRTIO_SERIAL_MAX = 20;

/**
 * The source disk whose serial the by-id name carries: virtio-<serial>, or <bus>-<model>_<serial>
 * (ATA, SCSI, NVMe), with white space as udev writes it (underscores).
 */
export function diskBySerial(id: string, map: ReplicaDiskMap): string | undefined {
  const body = id.slice(id.indexOf("-") + 1);
  const found = map.disks.filter((d) => {
    const s = d.source.serial?.trim().replace(/\s+/g, "_");
    if (!s) return false;
    if (id === s || body === s || body.endsWith(`_${s}`)) return true;
    return id.startsWith("virtio-") && s.length > VIRTIO_SERIAL_MAX && body === s.slice(0, VIRTIO_SERIAL_MAX);
  });
  return found.length === 1 ? found[0]!.source.device : undefined;
}

/** What a reference is for: the only facts by which a by-path name can be traced. */
export interface RefRole {
  /** fstab's mount point, or "/" for root=. */
  mountpoint?: string;
  /** resume=, or an fstab swap line. */
  swap?: boolean;
  /** crypttab's source or cryptopts' source=. */
  luks?: boolean;
}

/** The one UUID the known devices give for a role, if exactly one. */
export function uuidByRole(role: RefRole, system: SystemConfiguration, devices: KnownDevice[]): string | undefined {
  const one = (uuids: (string | undefined)[]) => {
    const set = new Set(uuids.filter((u): u is string => Boolean(u)).map((u) => u.toLowerCase()));
    return set.size === 1 ? [...set][0] : undefined;
  };
  if (role.mountpoint) return one((system.source.blockDevices ?? []).filter((b) => b.mountpoint === role.mountpoint).map((b) => b.uuid));
  if (role.swap) return one(devices.filter((d) => d.fsType === "swap").map((d) => d.uuid));
  if (role.luks) return one(devices.filter((d) => d.fsType === "crypto_LUKS").map((d) => d.uuid));
  return undefined;
}

/** The source device name a by-id name stands for (partition included), if the serial says. */
export function sourceDeviceOf(h: HardwareName, map: ReplicaDiskMap): string | undefined {
  if (h.kind !== "by-id") return undefined;
  const disk = diskBySerial(h.id, map);
  if (!disk) return undefined;
  return h.part === undefined ? disk : partitionName(disk, h.part);
}
