// The driver contract: what the manager needs from a hypervisor to run a migration, and
// nothing more. Two implementations: `qemu` (a local QEMU process with VMware-like hardware,
// controlled over QMP, guest files through qemu-guest-agent) and `vsphere` (the VIM SOAP API).
//
// STABLE API (other code and the e2e harness build on it; extend, do not change):
//
//   const driver = await createDriver("qemu", { stateDir, accel: "tcg" });   // drivers/index.ts
//   const vm = await driver.createVm(spec);      // idempotent by spec.name: returns the existing VM
//   await vm.setBootOrder([{ kind: "disk", unit: 15 }]);
//   await vm.powerOn();
//   await vm.guest.ready({ timeoutMs });         // guest agent / VMware Tools answers
//   await vm.guest.exists("/tmp/fixup"); await vm.guest.writeFile(p, data); await vm.guest.readFile(p);
//   await vm.guest.listDir("/tmp/fixup");        // [{ name, type, size? }], no "." or ".."
//   await vm.powerOff();                         // hard, like vSphere's PowerOffVM_Task
//   await vm.setBootOrder([{ kind: "disk", unit: 0 }]); await vm.addCdrom(); await vm.powerOn();
//   await vm.insertMedia(toolsIso);
//   await vm.waitPoweredOff({ timeoutMs });
//   await vm.describe();                         // devices, NIC link state, boot order (for checks)
//   vm.serialLogPath                             // qemu only: the guest's ttyS0 output, appended
//   await vm.serialOutput?.()                    // the guest's serial output so far (the stage-2 result channel;
//                                                // qemu: serial.log; vsphere: the serial port's datastore file, its last 8 MiB)
//   await vm.close(); await driver.close();      // drop connections; the VM keeps running
//
// Every method is safe to call again after a crash of the caller (the manager resumes): a VM
// is found again with driver.openVm(ref) or driver.findVm(name); power on/off are no-ops in
// the target state; addCdrom is a no-op when the CD-ROM exists. Errors are DriverError
// (operation named) or GuestFileNotFoundError. Waits are bounded by the caller's timeoutMs
// and an optional AbortSignal.

export type Firmware = "bios" | "uefi";
export type NicModel = "vmxnet3" | "e1000e" | "e1000";
export type PowerState = "on" | "off";

/** Where a disk sits on the QEMU side; vSphere always uses the PVSCSI controller. */
export type QemuBus = "scsi" | "sata" | "nvme";

export interface NicSpec {
  /** Target MAC (the one the guest will see on VMware). */
  mac: string;
  model: NicModel;
  /** Link state at power-on. The manager creates every NIC disconnected. */
  connected: boolean;
  /** vSphere port group name (default "VM Network"); ignored by qemu. */
  network?: string;
}

export interface DiskSpec {
  /** SCSI unit on scsi0 (0-14, not 7). */
  unit: number;
  /**
   * qemu: a host file (raw or qcow2, detected). vsphere: an existing datastore path
   * ("[datastore1] vm/disk.vmdk"), or, with sizeMiB, a new disk created at that path.
   */
  path: string;
  format?: "raw" | "qcow2";
  sizeMiB?: number;
  /** qemu only: put this disk elsewhere than the PVSCSI bus (OVMF cannot boot PVSCSI). */
  qemuBus?: QemuBus;
}

export interface FixupDiskSpec {
  /** qemu: host file; vsphere: datastore path. Always attached at scsi0:15. */
  path: string;
  /** An ISO image (read-only CD-ROM device at unit 15) or a hard disk image. */
  kind: "cdrom" | "disk";
  qemuBus?: QemuBus;
}

export interface VmSpec {
  /** Unique per driver; the manager uses the migration id. [A-Za-z0-9._-], at most 80. */
  name: string;
  cpus: number;
  memoryMiB: number;
  firmware: Firmware;
  nics: NicSpec[];
  /** Replica disks, in order; units usually 0, 1, 2... */
  disks: DiskSpec[];
  fixupDisk?: FixupDiskSpec;
  /** vSphere guestId (default otherLinux64Guest). */
  guestId?: string;
}

export type BootDevice = { kind: "disk"; unit: number } | { kind: "cdrom" } | { kind: "nic"; index: number };

/** A JSON-serialisable handle, persisted by the manager so that it finds the VM after a restart. */
export interface VmRef {
  driver: string;
  name: string;
  /** Driver-specific identity: the VM directory (qemu) or the managed object id (vsphere). */
  id: string;
}

export interface GuestFileInfo {
  name: string;
  type: "file" | "dir" | "symlink" | "other";
  size?: number;
}

export interface DeviceDescription {
  controller: string;
  disks: { unit: number; path: string; kind: "disk" | "cdrom" }[];
  cdrom?: { present: true; media?: string; connected: boolean };
  nics: { index: number; mac: string; model: string; connected: boolean }[];
  bootOrder: BootDevice[];
  firmware: Firmware;
  cpus: number;
  memoryMiB: number;
}

export interface WaitOptions {
  timeoutMs: number;
  signal?: AbortSignal;
}

export interface GuestOps {
  /**
   * How often this channel may be asked whether a file exists, where an answer sooner saves
   * downtime (the wait for stage 1's END). Absent: the manager's own poll interval. A local
   * guest agent answers such a question in milliseconds; a vCenter's guest operations are
   * shared by every VM of a wave, so its driver leaves this out.
   */
  readonly quickPollMs?: number;
  /** Resolves when the guest agent (qemu-ga or VMware Tools) answers. */
  ready(opts: WaitOptions): Promise<void>;
  exists(path: string): Promise<boolean>;
  /** Entries of a directory (no . and ..); GuestFileNotFoundError when it does not exist. */
  listDir(path: string): Promise<GuestFileInfo[]>;
  /** GuestFileNotFoundError when it does not exist. */
  readFile(path: string): Promise<Buffer>;
  /** Creates or replaces the file. */
  writeFile(path: string, data: Buffer | string): Promise<void>;
}

export interface Vm {
  readonly ref: VmRef;
  /** The guest's serial console (ttyS0) as a host file, for local drivers. */
  readonly serialLogPath: string | undefined;
  /**
   * Everything the guest wrote to its first serial port so far, across boots (empty before
   * the first). Absent on drivers without such a channel; the manager then learns the end of
   * stage 2 from the power state alone.
   */
  serialOutput?(): Promise<Buffer>;
  readonly guest: GuestOps;
  powerState(): Promise<PowerState>;
  powerOn(): Promise<void>;
  /** Hard power off by default; graceful asks the guest (ACPI) first and waits up to timeoutMs. */
  powerOff(opts?: { graceful?: boolean; timeoutMs?: number }): Promise<void>;
  /** Resolves when the guest has powered itself off. */
  waitPoweredOff(opts: WaitOptions): Promise<void>;
  getBootOrder(): Promise<BootDevice[]>;
  setBootOrder(order: BootDevice[]): Promise<void>;
  /** Adds an (empty unless media is given) CD-ROM; a no-op when there is one. */
  addCdrom(media?: string): Promise<void>;
  /** Inserts an ISO into the CD-ROM (qemu: host file; vsphere: datastore path). */
  insertMedia(iso: string): Promise<void>;
  setNicConnected(index: number, connected: boolean): Promise<void>;
  describe(): Promise<DeviceDescription>;
  /** Drops this handle's connections; the VM itself is untouched. */
  close(): Promise<void>;
  /** Powers off and deletes the VM (qemu: its directory; vsphere: Destroy_Task). */
  destroy(): Promise<void>;
}

export interface Driver {
  readonly name: string;
  /**
   * Creates the VM powered off; when one with spec.name exists, returns it unchanged (but for
   * vsphere's serial port: added when missing and the VM is off).
   */
  createVm(spec: VmSpec): Promise<Vm>;
  findVm(name: string): Promise<VmRef | undefined>;
  openVm(ref: VmRef): Promise<Vm>;
  close(): Promise<void>;
}

/** A driver operation failed; the message names the operation and the VM. */
export class DriverError extends Error {
  readonly op: string;
  constructor(op: string, message: string, opts?: { cause?: unknown }) {
    super(`${op}: ${message}`, opts);
    this.name = "DriverError";
    this.op = op;
  }
}

export class GuestFileNotFoundError extends Error {
  readonly path: string;
  constructor(path: string) {
    super(`no such file in the guest: ${path}`);
    this.name = "GuestFileNotFoundError";
    this.path = path;
  }
}

export { FIXUP_UNIT } from "../../protocol/schemas.ts";
export const VM_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$/;

/** Resolves after ms, or rejects early when the signal aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason instanceof Error ? signal.reason : new Error("aborted"));
    const onAbort = () => {
      clearTimeout(t);
      reject(signal?.reason instanceof Error ? signal.reason : new Error("aborted"));
    };
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** Checks a spec before any driver touches anything; returns the problems found. */
export function checkVmSpec(spec: VmSpec): string[] {
  const errs: string[] = [];
  if (!VM_NAME_RE.test(spec.name)) errs.push(`name ${JSON.stringify(spec.name)}: must be 1-80 of A-Z a-z 0-9 . _ -`);
  if (!Number.isInteger(spec.cpus) || spec.cpus < 1 || spec.cpus > 128) errs.push("cpus: must be 1-128");
  if (!Number.isInteger(spec.memoryMiB) || spec.memoryMiB < 64) errs.push("memoryMiB: must be an integer >= 64");
  const units = new Set<number>();
  for (const d of spec.disks) {
    if (!Number.isInteger(d.unit) || d.unit < 0 || d.unit > 14 || d.unit === 7) errs.push(`disk unit ${d.unit}: must be 0-14 and not 7`);
    if (units.has(d.unit)) errs.push(`disk unit ${d.unit}: used twice`);
    units.add(d.unit);
  }
  if (spec.nics.length > 10) errs.push("nics: at most 10");
  return errs;
}
