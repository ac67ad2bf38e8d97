// The QEMU command line of a VM: the base hardware only. Link state, the CD-ROM and the boot
// order are applied over QMP after the process starts paused (-S), the same calls that change
// them on a running VM, so there is one code path for each.
//
// VMware-like hardware (measured here, see DESIGN.md "Pitfalls"): q35 with vmport, no ACPI PCI
// hotplug on bridges, PVSCSI behind a PCIe root port with physical slot 160, each NIC behind
// its own root port from slot 192 (so the guest names it ens192, ens224, ens256 as ESXi
// does), VMware SMBIOS strings and the CPUID hypervisor bit hidden (systemd-detect-virt then
// says "vmware").
import type { DiskSpec, FixupDiskSpec, NicSpec, QemuBus, VmSpec } from "../types.ts";
import { FIXUP_UNIT } from "../types.ts";

export interface QemuHostOptions {
  accel: "tcg" | "kvm";
  /** Directory of the VM: serial log, pid file, OVMF variables. */
  dir: string;
  /** Directory of the QMP and QGA sockets (short: unix socket paths are limited). */
  sockDir: string;
  ovmfCode: string;
  /** The VM's own copy of the OVMF variable store. */
  ovmfVars: string;
  /** Extra arguments appended as given (debugging). */
  extraArgs?: string[];
}

export const QMP_SOCKET = "qmp.sock";
export const QGA_SOCKET = "qga.sock";
export const SERIAL_LOG = "serial.log";
export const PID_FILE = "qemu.pid";

export function nicSlot(index: number): number {
  return 192 + 32 * index;
}

export function diskId(unit: number): string {
  return `disk${unit}`;
}
export function nicId(index: number): string {
  return `nic${index}`;
}
export const CDROM_ID = "cdrom0";
export const SCSI_ID = "scsi0";

const NIC_DEVICE: Record<NicSpec["model"], string> = { vmxnet3: "vmxnet3", e1000e: "e1000e", e1000: "e1000" };

/** QEMU's -blockdev/-device option syntax doubles a comma inside a value. */
function q(v: string): string {
  return v.replace(/,/g, ",,");
}

function smbiosSerial(name: string): string {
  // VMware's form: "VMware-56 4d xx ... -xx ..." (16 bytes); derived from the name so it is stable
  let h = 0x811c9dc5;
  const bytes: string[] = [];
  for (let i = 0; i < 16; i++) {
    for (const c of `${name}:${i}`) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193) >>> 0;
    bytes.push((h & 0xff).toString(16).padStart(2, "0"));
  }
  return `VMware-${bytes.slice(0, 8).join(" ")}-${bytes.slice(8).join(" ")}`;
}

interface Attach {
  unit: number;
  path: string;
  format: "raw" | "qcow2";
  cdrom: boolean;
  bus: QemuBus;
  readOnly: boolean;
}

export function attachments(spec: VmSpec, formats: Map<string, "raw" | "qcow2">): Attach[] {
  const out: Attach[] = spec.disks.map((d: DiskSpec) => ({
    unit: d.unit,
    path: d.path,
    format: d.format ?? formats.get(d.path) ?? "raw",
    cdrom: false,
    bus: d.qemuBus ?? "scsi",
    readOnly: false,
  }));
  const f: FixupDiskSpec | undefined = spec.fixupDisk;
  if (f) {
    out.push({ unit: FIXUP_UNIT, path: f.path, format: f.kind === "cdrom" ? "raw" : (formats.get(f.path) ?? "raw"), cdrom: f.kind === "cdrom", bus: f.qemuBus ?? "scsi", readOnly: f.kind === "cdrom" });
  }
  return out;
}

export function buildArgv(spec: VmSpec, host: QemuHostOptions, formats: Map<string, "raw" | "qcow2">): string[] {
  const d = host.dir;
  const sd = host.sockDir;
  const a: string[] = [
    "-name", `${spec.name},debug-threads=off`,
    "-machine", "q35,vmport=on",
    "-accel", host.accel,
    "-cpu", host.accel === "kvm" ? "host,-hypervisor" : "max,-hypervisor",
    "-smp", String(spec.cpus),
    "-m", String(spec.memoryMiB),
    "-global", "ICH9-LPC.acpi-pci-hotplug-with-bridge-support=off",
    "-smbios", `type=1,manufacturer=VMware,, Inc.,product=VMware Virtual Platform,serial=${q(smbiosSerial(spec.name))}`,
    "-nodefaults", "-display", "none", "-S",
    "-qmp", `unix:${q(`${sd}/${QMP_SOCKET}`)},server=on,wait=off`,
    "-pidfile", `${d}/${PID_FILE}`,
    "-chardev", `file,id=ser0,path=${q(`${d}/${SERIAL_LOG}`)},append=on`,
    "-serial", "chardev:ser0",
    "-chardev", `socket,id=qga0,path=${q(`${sd}/${QGA_SOCKET}`)},server=on,wait=off`,
    "-device", "virtio-serial-pci,id=vser0",
    "-device", "virtserialport,chardev=qga0,name=org.qemu.guest_agent.0",
    "-device", "pcie-root-port,id=rp160,chassis=1,slot=160",
    "-device", `pvscsi,id=${SCSI_ID},bus=rp160`,
  ];
  if (spec.firmware === "uefi") {
    a.push("-drive", `if=pflash,format=raw,unit=0,readonly=on,file=${q(host.ovmfCode)}`);
    a.push("-drive", `if=pflash,format=raw,unit=1,file=${q(host.ovmfVars)}`);
  }
  let sata = 0;
  let nvme = 0;
  for (const at of attachments(spec, formats)) {
    const node = `${diskId(at.unit)}-img`;
    a.push("-blockdev", `driver=${at.format},node-name=${node},read-only=${at.readOnly ? "on" : "off"},file.driver=file,file.filename=${q(at.path)}`);
    if (at.bus === "scsi") {
      a.push("-device", `${at.cdrom ? "scsi-cd" : "scsi-hd"},bus=${SCSI_ID}.0,scsi-id=${at.unit},lun=0,drive=${node},id=${diskId(at.unit)}`);
    } else if (at.bus === "sata") {
      if (sata > 5) throw new Error("at most 6 SATA devices");
      a.push("-device", `${at.cdrom ? "ide-cd" : "ide-hd"},bus=ide.${sata++},drive=${node},id=${diskId(at.unit)}`);
    } else {
      const port = nvme++;
      a.push("-device", `pcie-root-port,id=rpn${port},chassis=${40 + port},slot=${40 + port}`);
      a.push("-device", `nvme,drive=${node},serial=VMWNVME${at.unit},bus=rpn${port},id=${diskId(at.unit)}`);
    }
  }
  spec.nics.forEach((n, i) => {
    a.push("-netdev", `user,id=net${i},restrict=on`);
    a.push("-device", `pcie-root-port,id=rpn${nicSlot(i)},chassis=${2 + i},slot=${nicSlot(i)}`);
    a.push("-device", `${NIC_DEVICE[n.model]},netdev=net${i},mac=${n.mac},bus=rpn${nicSlot(i)},id=${nicId(i)}`);
  });
  if (host.extraArgs) a.push(...host.extraArgs);
  return a;
}
