// The three maps a manager would send for a test image, built from the image's metadata
// (its NICs, file systems and firmware) and checked against the protocol's own schemas.
import { readlinkSync } from "node:fs";
import { join } from "node:path";
import { NetworkInterfaceMap, ReplicaDiskMap, SystemConfiguration } from "../../../src/protocol/schemas.ts";
import { diskFiles, type DiskImage, type ImageMeta } from "../../helpers/images.ts";

export interface Maps {
  systemConfiguration: SystemConfiguration;
  replicaDiskMap: ReplicaDiskMap;
  networkInterfaceMap: NetworkInterfaceMap;
}

/** Target MACs in VMware's static range, different from the source's: the harder case. */
export function targetMac(i: number): string {
  return `00:50:56:aa:10:${(i + 1).toString(16).padStart(2, "0")}`;
}

/** The systemd default target of a tree, as `systemctl get-default` would print it. */
export function defaultTargetOf(rootfs: string): string {
  for (const p of ["etc/systemd/system/default.target", "lib/systemd/system/default.target", "usr/lib/systemd/system/default.target"]) {
    try {
      return readlinkSync(join(rootfs, p)).split("/").pop() ?? "";
    } catch {
      // not a link here; try the next place
    }
  }
  return "graphical.target";
}

/**
 * The source's interfaces as collect lists them. Where a bridge or bond carries the address, it
 * comes first, with its first port's MAC, and each port is a physical NIC with its permanent
 * MAC (a bond's port's current one is the bond's): the case that once mapped a NIC to the
 * bridge. The plain images keep the older inventory, with neither kind nor permanent MAC.
 */
function sourceInterfaces(meta: ImageMeta): SystemConfiguration["source"]["interfaces"] {
  const virtual = meta.virtual ?? [];
  const nics = meta.nics.map((n) => {
    const master = virtual.find((v) => v.name === n.master);
    return {
      name: n.name,
      mac: master?.kind === "bond" ? master.mac : n.mac,
      ...(virtual.length ? { kind: "physical" as const, permanentMac: n.mac } : {}),
      ...(n.ipv4 ? { addresses: [n.ipv4] } : {}),
      ...(n.gateway ? { gateway: n.gateway } : {}),
    };
  });
  return [...virtual.map((v) => ({ name: v.name, mac: v.mac, kind: v.kind, addresses: [v.ipv4], ...(v.gateway ? { gateway: v.gateway } : {}) })), ...nics];
}

export function buildMaps(img: DiskImage, migrationId: string, defaultTarget: string): Maps {
  const { meta } = img;
  // an LVM PV's UUID is not a file-system UUID (and not hex): the manager lists file systems
  const filesystems = img.disk.filesystems.filter((f) => f.fsType !== "LVM2_member").map((f) => ({
    device: f.device,
    ...(f.uuid ? { uuid: f.uuid } : {}),
    ...(f.fsType ? { fsType: f.fsType } : {}),
    ...(f.mountpoint ? { mountpoint: f.mountpoint } : {}),
  }));
  const systemConfiguration = SystemConfiguration.parse({
    migrationId,
    source: {
      hostname: "kvmguest",
      hypervisor: "kvm",
      firmware: meta.boot,
      os: { id: "debian", version: { bullseye: "11", bookworm: "12", trixie: "13" }[meta.suite] },
      defaultTarget,
      blockDevices: filesystems,
      interfaces: sourceInterfaces(meta),
    },
    target: { firmware: meta.boot, scsiController: "pvscsi", nicModel: "vmxnet3" },
  });
  const replicaDiskMap = ReplicaDiskMap.parse({
    // under UEFI the replica sits on NVMe (Debian's OVMF cannot boot PVSCSI, see vmSpec): the
    // map names the device, as a user does when the disk is not on the VMware SCSI controller
    // every disk of the image, vda at scsi0:0, vdb at scsi0:1 ... (an md RAID1's members)
    disks: diskFiles(img).map((_, i) => ({
      source: { device: `/dev/vd${String.fromCharCode(97 + i)}`, sizeBytes: img.disk.virtualSizeBytes },
      target: { controller: "scsi0" as const, unit: i, ...(meta.boot === "uefi" ? { device: "/dev/nvme0n1" } : {}) },
      ...(i === 0 ? { boot: true } : {}),
    })),
  });
  const networkInterfaceMap = NetworkInterfaceMap.parse({
    interfaces: meta.nics.map((n, i) => ({ sourceMac: n.mac, sourceName: n.name, targetMac: targetMac(i) })),
  });
  return { systemConfiguration, replicaDiskMap, networkInterfaceMap };
}
