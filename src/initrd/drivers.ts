// The one place that says which kernel modules a guest needs in its initramfs to boot on
// VMware hardware. Everything that builds an initramfs (dracut, initramfs-tools, mkinitrd)
// takes its list from here.
import type { GuestInfo } from "../guest/inspect.ts";
import type { KnownDevice } from "../guest/devices.ts";
import type { GuestView } from "../guest/view.ts";
import type { SystemConfiguration } from "../protocol/schemas.ts";
import { kernelModules, normModule } from "./modules.ts";

export { normModule };

/** Storage controllers and disks of the target VM: PVSCSI, LSI Logic (SPI and SAS), SATA, CD-ROM. */
export const TARGET_STORAGE_DRIVERS = ["vmw_pvscsi", "mptspi", "mptsas", "mptscsih", "ahci", "sd_mod", "sr_mod"] as const;
/** NICs of the target VM; not needed to mount root, but an initramfs that brings up the network (iSCSI/NFS root, dracut ip=) needs them. */
export const TARGET_NIC_DRIVERS = ["vmxnet3", "e1000e", "e1000"] as const;

/** The driver that must exist for the guest to see its disks at all, per target controller. */
export const CONTROLLER_DRIVER: Record<SystemConfiguration["target"]["scsiController"], string> = {
  pvscsi: "vmw_pvscsi",
  lsilogic: "mptspi",
  lsisas: "mptsas",
};
export const NIC_DRIVER: Record<SystemConfiguration["target"]["nicModel"], string> = {
  vmxnet3: "vmxnet3",
  e1000e: "e1000e",
  e1000: "e1000",
};

const FS_MODULE: Record<string, string[]> = {
  ext2: ["ext2", "ext4"],
  ext3: ["ext4", "ext3", "jbd2"],
  ext4: ["ext4"],
  xfs: ["xfs"],
  btrfs: ["btrfs"],
  reiserfs: ["reiserfs"],
  vfat: ["vfat", "nls_cp437", "nls_iso8859-1"],
};

/** What the guest's root needs besides the controller: its filesystem, device-mapper/LVM, md. */
export interface RootStack {
  fsType?: string;
  lvm: boolean;
  md: boolean;
  crypt: boolean;
}

export function rootStackOf(info: GuestInfo, devices: KnownDevice[] = [], mountpoint = "/"): RootStack {
  const root = info.fstab.find((e) => e.file === mountpoint);
  let spec = root?.spec ?? "";
  // UUID=/LABEL= root: what it names tells whether it sits on LVM or md
  const m = /^(UUID|LABEL)=(.*)$/.exec(spec);
  const dev = m ? devices.find((d) => (m[1] === "UUID" ? d.uuid?.toLowerCase() === m[2]!.toLowerCase() : d.label === m[2])) : undefined;
  if (dev) spec = dev.source;
  const fsType = root?.vfstype && root.vfstype !== "auto" ? root.vfstype : dev?.fsType;
  const lvm = /^\/dev\/mapper\/(?!luks-|crypt)/.test(spec) || /^\/dev\/(?!mapper\/|disk\/|md)[^/]+\/[^/]+$/.test(spec);
  return {
    ...(fsType ? { fsType } : {}),
    lvm,
    md: /^\/dev\/md/.test(spec),
    crypt: /^\/dev\/mapper\/(luks-|crypt)/.test(spec),
  };
}

/**
 * The stacks the initramfs mounts: the root, and a separate /usr, which dracut (usrmount, or
 * systemd's fstab generator in the initrd) and initramfs-tools (init) mount from the root's
 * fstab before switching to it.
 */
export function initrdStacks(info: GuestInfo, devices: KnownDevice[] = []): RootStack[] {
  return [rootStackOf(info, devices), ...(info.fstab.some((e) => e.file === "/usr") ? [rootStackOf(info, devices, "/usr")] : [])];
}

/** The full list of modules to force into the initramfs, in a stable order. */
export function requiredModules(stack: RootStack): string[] {
  const out: string[] = [...TARGET_STORAGE_DRIVERS, ...TARGET_NIC_DRIVERS];
  for (const m of FS_MODULE[stack.fsType ?? "ext4"] ?? [stack.fsType ?? "ext4"]) out.push(m);
  if (stack.lvm || stack.crypt) out.push("dm_mod");
  if (stack.crypt) out.push("dm_crypt");
  if (stack.md) out.push("raid1", "raid456", "raid10", "raid0");
  return [...new Set(out)];
}

export interface KernelDrivers {
  /** Modules to force in that this kernel has. */
  present: string[];
  /** Modules on the list that this kernel does not have (e.g. mptspi on RHEL 8+). */
  missing: string[];
  /** False when the kernel's modules.dep was not readable: `present` is the whole list unchecked. */
  checked: boolean;
}

export async function driversForKernel(view: GuestView, version: string, wanted: string[]): Promise<KernelDrivers> {
  const have = await kernelModules(view, version);
  if (!have) return { present: wanted, missing: [], checked: false };
  return {
    present: wanted.filter((m) => have.has(normModule(m))),
    missing: wanted.filter((m) => !have.has(normModule(m))),
    checked: true,
  };
}
