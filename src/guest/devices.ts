// The block devices the fixups may refer to, from the source inventory in
// system-configuration.json. blkid on the attached disks, where there are any, is merged in
// on top by the mount code (it is the stronger evidence).
import type { Inputs } from "../protocol/inputs.ts";

/** A block device as stage 1 knows it: its source name and what identifies it now. */
export interface KnownDevice {
  /** The device name on the source (/dev/vda1). */
  source: string;
  /** The device name in the fixup VM / target (/dev/sda1), when known. */
  target?: string;
  uuid?: string;
  partuuid?: string;
  label?: string;
  fsType?: string;
  /** Where the facts came from: blkid on the attached disk, or the source inventory. */
  from: "blkid" | "inventory";
  /** An md array's members, by their source names (/dev/vda1, /dev/vdb1), as assembled here. */
  members?: string[];
}

export function devicesFromInventory(inputs: Inputs): KnownDevice[] {
  return (inputs.system.source.blockDevices ?? []).map((b) => ({
    source: b.device,
    ...(b.uuid ? { uuid: b.uuid } : {}),
    ...(b.partuuid ? { partuuid: b.partuuid } : {}),
    ...(b.label ? { label: b.label } : {}),
    ...(b.fsType ? { fsType: b.fsType } : {}),
    from: "inventory" as const,
  }));
}

/** blkid facts win over the inventory for the same source device. */
export function mergeDevices(strong: KnownDevice[], weak: KnownDevice[]): KnownDevice[] {
  const out = new Map<string, KnownDevice>();
  for (const d of weak) out.set(d.source, d);
  for (const d of strong) out.set(d.source, { ...out.get(d.source), ...d });
  return [...out.values()];
}

/**
 * What an fstab spec identifies its device by: UUID=, LABEL=, PARTUUID= or their
 * /dev/disk/by-* links (key upper case, value lower case); undefined for a device name.
 */
export function specIdentity(spec: string): { key: "UUID" | "LABEL" | "PARTUUID"; value: string } | undefined {
  const s = spec.replace(/"/g, "");
  const m = /^(UUID|LABEL|PARTUUID)=(.+)$/.exec(s) ?? /^\/dev\/disk\/by-(uuid|label|partuuid)\/(.+)$/.exec(s);
  return m ? { key: m[1]!.toUpperCase() as "UUID" | "LABEL" | "PARTUUID", value: m[2]!.toLowerCase() } : undefined;
}

/** The device an fstab spec names: by what identifies it (specIdentity), else a source or fixup-VM name. */
export function deviceOfSpec(spec: string, devices: KnownDevice[]): KnownDevice | undefined {
  const id = specIdentity(spec);
  if (!id) {
    const s = spec.replace(/"/g, "");
    return devices.find((x) => x.source === s || x.target === s);
  }
  const field = id.key === "UUID" ? "uuid" : id.key === "LABEL" ? "label" : "partuuid";
  return devices.find((x) => x[field]?.toLowerCase() === id.value);
}
