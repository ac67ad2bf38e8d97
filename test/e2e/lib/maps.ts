// The three maps a manager would send for a test image, built from the image's metadata
// (its NICs, file systems and firmware) and checked against the protocol's own schemas.
import { readlinkSync } from "node:fs";
import { join } from "node:path";
import { NetworkInterfaceMap, ReplicaDiskMap, SystemConfiguration } from "../../../src/protocol/schemas.ts";
import { diskFiles, type DiskImage } from "../../helpers/images.ts";

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
      interfaces: meta.nics.map((n) => ({ name: n.name, mac: n.mac, addresses: [n.ipv4], ...(n.gateway ? { gateway: n.gateway } : {}) })),
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
