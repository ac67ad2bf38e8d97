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
 * The device an fstab spec names: UUID=, LABEL=, PARTUUID= (or their /dev/disk/by-* links) by
 * what identifies it, else a source or fixup-VM name.
 */
export function deviceOfSpec(spec: string, devices: KnownDevice[]): KnownDevice | undefined {
  const s = spec.replace(/"/g, "");
  const m = /^(UUID|LABEL|PARTUUID)=(.+)$/.exec(s) ?? /^\/dev\/disk\/by-(uuid|label|partuuid)\/(.+)$/.exec(s);
  if (!m) return devices.find((x) => x.source === s || x.target === s);
  const k = m[1]!.toUpperCase();
  const v = m[2]!.toLowerCase();
  return devices.find((x) => (k === "UUID" ? x.uuid?.toLowerCase() === v : k === "LABEL" ? x.label?.toLowerCase() === v : x.partuuid?.toLowerCase() === v));
}
