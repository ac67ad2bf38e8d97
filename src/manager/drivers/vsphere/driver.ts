// The vSphere driver over the VIM SOAP API (works on vSphere 6.x-8.x): CreateVM_Task with a
// ParaVirtualSCSIController, vmxnet3 NICs not connected at power-on and disks at scsi0:0..
// and scsi0:15; ReconfigVM_Task for the boot order, the CD-ROM and connecting NICs;
// PowerOn/PowerOff; guest files through GuestFileManager (ListFilesInGuest,
// InitiateFileTransferTo/FromGuest with HTTP PUT/GET on the returned URL); a waiter for
// guest.toolsRunningStatus. On vSphere the fixup disk is a VMDK (a CD-ROM cannot sit on a
// SCSI controller); it is attached independent-nonpersistent so it is never modified. Every VM
// gets a serial port backed by a file in its datastore folder: the guest's ttyS0, where the
// stage-2 sentinel and the first-boot verification print their results; serialOutput reads it
// back over the datastore file API (datastore-file.ts).
import { posix } from "node:path";
import {
  checkVmSpec,
  DriverError,
  FIXUP_UNIT,
  GuestFileNotFoundError,
  sleep,
  type BootDevice,
  type DeviceDescription,
  type Driver,
  type GuestFileInfo,
  type GuestOps,
  type PowerState,
  type Vm,
  type VmRef,
  type VmSpec,
  type WaitOptions,
} from "../types.ts";
import type { VsphereDriverOptions } from "./config.ts";
import { datastoreFileUrl, parseDatastorePath, readDatastoreTail } from "./datastore-file.ts";
import { arr, esc, moXml, text, toRef, VimClient, VimFault, xsiType, type MoRef } from "./soap.ts";

export type { VsphereDriverOptions };

type Node = Record<string, unknown>;

interface Device {
  type: string;
  key: number;
  controllerKey?: number;
  unitNumber?: number;
  raw: Node;
}

function devicesOf(val: unknown): Device[] {
  return arr((val as Node | undefined)?.VirtualDevice).map((d) => ({
    type: xsiType(d),
    key: Number(text(d.key)),
    ...(d.controllerKey !== undefined ? { controllerKey: Number(text(d.controllerKey)) } : {}),
    ...(d.unitNumber !== undefined ? { unitNumber: Number(text(d.unitNumber)) } : {}),
    raw: d,
  }));
}

const NIC_TYPES = new Set(["VirtualVmxnet3", "VirtualE1000e", "VirtualE1000", "VirtualVmxnet2", "VirtualPCNet32", "VirtualSriovEthernetCard"]);
const NIC_XSI: Record<string, string> = { vmxnet3: "VirtualVmxnet3", e1000e: "VirtualE1000e", e1000: "VirtualE1000" };

function connectable(start: boolean, connected: boolean): string {
  return `<connectable><startConnected>${start}</startConnected><allowGuestControl>true</allowGuestControl><connected>${connected}</connected></connectable>`;
}

/**
 * How much of the serial log serialOutput returns: its end, where the results are. A guest's
 * consoles write far less in a migration's boots (a kernel boot is some 100 KiB).
 */
export const SERIAL_TAIL_BYTES = 8 * 1024 * 1024;

/** The serial log's datastore path, beside the VM's .vmx ("[ds] dir/name.vmx"). */
export function serialLogBeside(vmPathName: string, name: string): string {
  const p = parseDatastorePath(vmPathName);
  if (!p) throw new DriverError("ensureSerialPort", `${name}: cannot read the VM's path ${JSON.stringify(vmPathName)}`);
  const dir = posix.dirname(p.path);
  return `[${p.datastore}] ${dir === "." ? "" : `${dir}/`}${name}-serial.log`;
}

/** The file of the first serial port backed by a file, if any. */
function serialFileOf(devs: Device[]): string | undefined {
  const port = devs.filter((d) => d.type === "VirtualSerialPort" && xsiType(d.raw.backing) === "VirtualSerialPortFileBackingInfo").sort((a, b) => a.key - b.key)[0];
  return port ? text(((port.raw.backing ?? {}) as Node).fileName) : undefined;
}

function nicBackingXml(raw: Node): string {
  const b = (raw.backing ?? {}) as Node;
  if (xsiType(b) === "VirtualEthernetCardNetworkBackingInfo") {
    return `<backing xsi:type="VirtualEthernetCardNetworkBackingInfo"><deviceName>${esc(text(b.deviceName))}</deviceName>${b.network ? moXml("network", toRef(b.network)) : ""}</backing>`;
  }
  if (xsiType(b) === "VirtualEthernetCardDistributedVirtualPortBackingInfo") {
    const p = (b.port ?? {}) as Node;
    return `<backing xsi:type="VirtualEthernetCardDistributedVirtualPortBackingInfo"><port><switchUuid>${esc(text(p.switchUuid))}</switchUuid><portgroupKey>${esc(text(p.portgroupKey))}</portgroupKey></port></backing>`;
  }
  return "";
}

/** An edit carries the device's description as read (servers expect the whole device). */
function deviceInfoXml(raw: Node): string {
  const i = raw.deviceInfo as Node | undefined;
  return i ? `<deviceInfo><label>${esc(text(i.label))}</label><summary>${esc(text(i.summary))}</summary></deviceInfo>` : "";
}

function bootXml(order: { kind: BootDevice["kind"]; key?: number }[]): string {
  return `<bootOptions>${order
    .map((b) =>
      b.kind === "disk"
        ? `<bootOrder xsi:type="VirtualMachineBootOptionsBootableDiskDevice"><deviceKey>${b.key}</deviceKey></bootOrder>`
        : b.kind === "cdrom"
          ? `<bootOrder xsi:type="VirtualMachineBootOptionsBootableCdromDevice"/>`
          : `<bootOrder xsi:type="VirtualMachineBootOptionsBootableEthernetDevice"><deviceKey>${b.key}</deviceKey></bootOrder>`,
    )
    .join("")}</bootOptions>`;
}

export class VsphereVm implements Vm {
  readonly ref: VmRef;
  readonly serialLogPath = undefined;
  readonly guest: VsphereGuest;
  readonly moref: MoRef;
  private readonly d: VsphereDriver;
  /** The serial port's file once known (a port's backing does not change under the driver). */
  private serialFile: string | undefined;

  constructor(d: VsphereDriver, ref: VmRef) {
    this.d = d;
    this.ref = ref;
    this.moref = { type: "VirtualMachine", value: ref.id };
    this.guest = new VsphereGuest(d, this);
  }

  private get c(): VimClient {
    return this.d.client;
  }

  private async wrap<T>(op: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      if (e instanceof DriverError || e instanceof GuestFileNotFoundError) throw e;
      throw new DriverError(op, `${this.ref.name}: ${(e as Error).message}`, { cause: e });
    }
  }

  async devices(): Promise<Device[]> {
    return devicesOf((await this.c.props(this.moref, ["config.hardware.device"]))["config.hardware.device"]);
  }

  private async scsi(devs: Device[]): Promise<Device> {
    const c = devs.find((d) => d.type === "ParaVirtualSCSIController" && text(d.raw.busNumber) === "0");
    if (!c) throw new DriverError("vsphere", `${this.ref.name}: no PVSCSI controller on bus 0`);
    return Promise.resolve(c);
  }

  private async reconfig(op: string, specXml: string): Promise<void> {
    const task = toRef(await this.c.call("ReconfigVM_Task", this.moref, `<spec>${specXml}</spec>`));
    await this.c.waitTask(task, `${op} (ReconfigVM_Task)`, 600_000, this.d.pollMs);
  }

  /**
   * Gives a VM without a file-backed serial port one, beside its .vmx (where vSphere really put
   * the VM's folder: it renames the folder when the name is taken). A serial port cannot be
   * hot-added: a running VM without one (made by an older version, found on a resume) keeps
   * going without, and its stage 2 is learnt from the power state alone.
   */
  ensureSerialPort(): Promise<void> {
    return this.wrap("ensureSerialPort", async () => {
      const p = await this.c.props(this.moref, ["config.hardware.device", "config.files.vmPathName", "runtime.powerState"]);
      if (serialFileOf(devicesOf(p["config.hardware.device"])) !== undefined || text(p["runtime.powerState"]) !== "poweredOff") return;
      const file = serialLogBeside(text(p["config.files.vmPathName"]), this.ref.name);
      await this.reconfig(
        "ensureSerialPort",
        `<deviceChange><operation>add</operation><device xsi:type="VirtualSerialPort"><key>-500</key><backing xsi:type="VirtualSerialPortFileBackingInfo"><fileName>${esc(file)}</fileName></backing>` +
          `${connectable(true, false)}<yieldOnPoll>true</yieldOnPoll></device></deviceChange>`,
      );
    });
  }

  /** The datastore path of the guest's ttyS0 log; undefined when the VM has no such port. */
  serialLogFile(): Promise<string | undefined> {
    return this.wrap("serialLogFile", async () => (this.serialFile ??= serialFileOf(await this.devices())));
  }

  serialOutput(): Promise<Buffer> {
    return this.wrap("serialOutput", async () => {
      const file = await this.serialLogFile();
      const p = file ? parseDatastorePath(file) : undefined;
      if (!p) return Buffer.alloc(0);
      // before the first power-on there is no file yet
      return (await readDatastoreTail(this.c, datastoreFileUrl(this.c.url, this.d.datacenterPath, p), SERIAL_TAIL_BYTES)) ?? Buffer.alloc(0);
    });
  }

  powerState(): Promise<PowerState> {
    return this.wrap("powerState", async () => {
      const p = await this.c.props(this.moref, ["runtime.powerState"]);
      return text(p["runtime.powerState"]) === "poweredOff" ? "off" : "on";
    });
  }

  powerOn(): Promise<void> {
    return this.wrap("powerOn", async () => {
      if ((await this.powerState()) === "on") return;
      const task = toRef(await this.c.call("PowerOnVM_Task", this.moref));
      await this.c.waitTask(task, "PowerOnVM_Task", 600_000, this.d.pollMs);
    });
  }

  powerOff(o: { graceful?: boolean; timeoutMs?: number } = {}): Promise<void> {
    return this.wrap("powerOff", async () => {
      if ((await this.powerState()) === "off") return;
      if (o.graceful) {
        try {
          await this.c.call("ShutdownGuest", this.moref);
          await this.waitPoweredOff({ timeoutMs: o.timeoutMs ?? 120_000 });
          return;
        } catch {
          // no tools or no answer: fall through to a hard power off
        }
      }
      try {
        const task = toRef(await this.c.call("PowerOffVM_Task", this.moref));
        await this.c.waitTask(task, "PowerOffVM_Task", 600_000, this.d.pollMs);
      } catch (e) {
        if (e instanceof VimFault && e.faultType === "InvalidPowerState" && (await this.powerState()) === "off") return;
        throw e;
      }
    });
  }

  async waitPoweredOff(o: WaitOptions): Promise<void> {
    const deadline = Date.now() + o.timeoutMs;
    while (Date.now() < deadline) {
      if ((await this.powerState()) === "off") return;
      await sleep(this.d.pollMs * 5, o.signal);
    }
    throw new DriverError("waitPoweredOff", `${this.ref.name}: still powered on after ${o.timeoutMs} ms`);
  }

  getBootOrder(): Promise<BootDevice[]> {
    return this.wrap("getBootOrder", async () => {
      const p = await this.c.props(this.moref, ["config.bootOptions", "config.hardware.device"]);
      const devs = devicesOf(p["config.hardware.device"]);
      const scsi = devs.find((d) => d.type === "ParaVirtualSCSIController");
      const nics = devs.filter((d) => NIC_TYPES.has(d.type)).sort((a, b) => a.key - b.key);
      const out: BootDevice[] = [];
      for (const b of arr((p["config.bootOptions"] as Node | undefined)?.bootOrder)) {
        const t = xsiType(b);
        const key = Number(text(b.deviceKey));
        if (t === "VirtualMachineBootOptionsBootableCdromDevice") out.push({ kind: "cdrom" });
        else if (t === "VirtualMachineBootOptionsBootableDiskDevice") {
          const disk = devs.find((d) => d.key === key);
          if (disk?.unitNumber !== undefined && disk.controllerKey === scsi?.key) out.push({ kind: "disk", unit: disk.unitNumber });
        } else if (t === "VirtualMachineBootOptionsBootableEthernetDevice") {
          const i = nics.findIndex((n) => n.key === key);
          if (i >= 0) out.push({ kind: "nic", index: i });
        }
      }
      return out;
    });
  }

  setBootOrder(order: BootDevice[]): Promise<void> {
    return this.wrap("setBootOrder", async () => {
      const devs = await this.devices();
      const scsi = await this.scsi(devs);
      const nics = devs.filter((d) => NIC_TYPES.has(d.type)).sort((a, b) => a.key - b.key);
      const items = order.map((b) => {
        if (b.kind === "cdrom") return { kind: b.kind };
        if (b.kind === "nic") {
          const n = nics[b.index];
          if (!n) throw new DriverError("setBootOrder", `${this.ref.name}: no NIC ${b.index}`);
          return { kind: b.kind, key: n.key };
        }
        const disk = devs.find((d) => d.type === "VirtualDisk" && d.controllerKey === scsi.key && d.unitNumber === b.unit);
        if (!disk) throw new DriverError("setBootOrder", `${this.ref.name}: no disk at scsi0:${b.unit}`);
        return { kind: b.kind, key: disk.key };
      });
      await this.reconfig("setBootOrder", bootXml(items));
    });
  }

  private cdrom(devs: Device[]): Device | undefined {
    return devs.find((d) => d.type === "VirtualCdrom");
  }

  addCdrom(media?: string): Promise<void> {
    return this.wrap("addCdrom", async () => {
      const devs = await this.devices();
      if (this.cdrom(devs)) {
        if (media) await this.insertMedia(media);
        return;
      }
      const on = (await this.powerState()) === "on";
      let ctrl = devs.find((d) => d.type === "VirtualIDEController" && arr(d.raw.device).length < 2);
      let extra = "";
      let ctrlKey: number;
      let unit: number;
      if (ctrl) {
        const used = new Set(devs.filter((d) => d.controllerKey === ctrl?.key).map((d) => d.unitNumber));
        ctrlKey = ctrl.key;
        unit = used.has(0) ? 1 : 0;
      } else {
        ctrl = devs.find((d) => d.type === "VirtualAHCIController");
        if (ctrl) {
          const used = new Set(devs.filter((d) => d.controllerKey === ctrl?.key).map((d) => d.unitNumber));
          ctrlKey = ctrl.key;
          unit = 0;
          while (used.has(unit)) unit++;
        } else {
          extra = `<deviceChange><operation>add</operation><device xsi:type="VirtualAHCIController"><key>-450</key><busNumber>0</busNumber></device></deviceChange>`;
          ctrlKey = -450;
          unit = 0;
        }
      }
      const backing = media
        ? `<backing xsi:type="VirtualCdromIsoBackingInfo"><fileName>${esc(media)}</fileName></backing>`
        : `<backing xsi:type="VirtualCdromRemotePassthroughBackingInfo"><deviceName></deviceName><exclusive>false</exclusive></backing>`;
      await this.reconfig(
        "addCdrom",
        `${extra}<deviceChange><operation>add</operation><device xsi:type="VirtualCdrom"><key>-400</key>${backing}${connectable(!!media, !!media && on)}<controllerKey>${ctrlKey}</controllerKey><unitNumber>${unit}</unitNumber></device></deviceChange>`,
      );
    });
  }

  insertMedia(iso: string): Promise<void> {
    return this.wrap("insertMedia", async () => {
      const devs = await this.devices();
      const cd = this.cdrom(devs);
      if (!cd) throw new DriverError("insertMedia", `${this.ref.name}: the VM has no CD-ROM (addCdrom first)`);
      const on = (await this.powerState()) === "on";
      await this.reconfig(
        "insertMedia",
        `<deviceChange><operation>edit</operation><device xsi:type="VirtualCdrom"><key>${cd.key}</key>${deviceInfoXml(cd.raw)}<backing xsi:type="VirtualCdromIsoBackingInfo"><fileName>${esc(iso)}</fileName></backing>${connectable(true, on)}<controllerKey>${cd.controllerKey}</controllerKey><unitNumber>${cd.unitNumber}</unitNumber></device></deviceChange>`,
      );
    });
  }

  setNicConnected(index: number, connected: boolean): Promise<void> {
    return this.wrap("setNicConnected", async () => {
      const devs = await this.devices();
      const nic = devs.filter((d) => NIC_TYPES.has(d.type)).sort((a, b) => a.key - b.key)[index];
      if (!nic) throw new DriverError("setNicConnected", `${this.ref.name}: no NIC ${index}`);
      const on = (await this.powerState()) === "on";
      const r = nic.raw;
      await this.reconfig(
        "setNicConnected",
        `<deviceChange><operation>edit</operation><device xsi:type="${esc(nic.type)}"><key>${nic.key}</key>${deviceInfoXml(r)}${nicBackingXml(r)}${connectable(connected, connected && on)}` +
          `${nic.controllerKey !== undefined ? `<controllerKey>${nic.controllerKey}</controllerKey>` : ""}${nic.unitNumber !== undefined ? `<unitNumber>${nic.unitNumber}</unitNumber>` : ""}` +
          `<addressType>${esc(text(r.addressType) || "manual")}</addressType><macAddress>${esc(text(r.macAddress))}</macAddress></device></deviceChange>`,
      );
    });
  }

  describe(): Promise<DeviceDescription> {
    return this.wrap("describe", async () => {
      const p = await this.c.props(this.moref, ["config.hardware.device", "config.hardware.numCPU", "config.hardware.memoryMB", "config.firmware"]);
      const devs = devicesOf(p["config.hardware.device"]);
      const scsi = devs.find((d) => d.type === "ParaVirtualSCSIController");
      const cd = this.cdrom(devs);
      const cdb = (cd?.raw.backing ?? {}) as Node;
      const conn = (d: Device) => text(((d.raw.connectable ?? {}) as Node).startConnected) === "true" || text(((d.raw.connectable ?? {}) as Node).connected) === "true";
      return {
        controller: scsi ? "pvscsi" : (devs.find((d) => /SCSIController$/.test(d.type))?.type ?? "none"),
        disks: devs
          .filter((d) => d.type === "VirtualDisk" && d.controllerKey === scsi?.key)
          .map((d) => ({ unit: d.unitNumber ?? -1, path: text(((d.raw.backing ?? {}) as Node).fileName), kind: "disk" as const }))
          .sort((a, b) => a.unit - b.unit),
        ...(cd ? { cdrom: { present: true as const, ...(xsiType(cdb) === "VirtualCdromIsoBackingInfo" ? { media: text(cdb.fileName) } : {}), connected: conn(cd) } } : {}),
        nics: devs
          .filter((d) => NIC_TYPES.has(d.type))
          .sort((a, b) => a.key - b.key)
          .map((d, index) => ({ index, mac: text(d.raw.macAddress).toLowerCase(), model: d.type.replace(/^Virtual/, "").toLowerCase(), connected: conn(d) })),
        bootOrder: await this.getBootOrder(),
        firmware: text(p["config.firmware"]) === "efi" ? "uefi" : "bios",
        cpus: Number(text(p["config.hardware.numCPU"])),
        memoryMiB: Number(text(p["config.hardware.memoryMB"])),
      };
    });
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  destroy(): Promise<void> {
    return this.wrap("destroy", async () => {
      await this.powerOff();
      const task = toRef(await this.c.call("Destroy_Task", this.moref));
      await this.c.waitTask(task, "Destroy_Task", 600_000, this.d.pollMs);
    });
  }
}

/** Guest file operations through the GuestFileManager, authenticated as the fixup VM's user. */
export class VsphereGuest implements GuestOps {
  private readonly d: VsphereDriver;
  private readonly vm: VsphereVm;

  constructor(d: VsphereDriver, vm: VsphereVm) {
    this.d = d;
    this.vm = vm;
  }

  private get c(): VimClient {
    return this.d.client;
  }

  private head(): string {
    const o = this.d.opts;
    return `${moXml("vm", this.vm.moref)}<auth xsi:type="NamePasswordAuthentication"><interactiveSession>false</interactiveSession><username>${esc(o.guestUser)}</username><password>${esc(o.guestPassword)}</password></auth>`;
  }

  private fail(op: string, path: string, e: unknown): never {
    if (e instanceof VimFault && e.faultType === "FileNotFound") throw new GuestFileNotFoundError(path);
    if (e instanceof DriverError || e instanceof GuestFileNotFoundError) throw e;
    throw new DriverError(op, `${this.vm.ref.name}: ${path}: ${(e as Error).message}`, { cause: e });
  }

  /** The transfer URL's host is "*" when it means "the host you are talking to". */
  private transferUrl(u: string): URL {
    const url = new URL(u.replace(/^(https?:\/\/)\*/, "$1osam-placeholder"));
    if (url.hostname === "osam-placeholder") {
      url.hostname = this.c.url.hostname;
      if (!url.port) url.port = this.c.url.port;
    }
    return url;
  }

  async ready(o: WaitOptions): Promise<void> {
    const deadline = Date.now() + o.timeoutMs;
    let last = "";
    while (Date.now() < deadline) {
      o.signal?.throwIfAborted();
      try {
        const p = await this.c.props(this.vm.moref, ["guest.toolsRunningStatus", "runtime.powerState"]);
        last = text(p["guest.toolsRunningStatus"]);
        if (last === "guestToolsRunning" && text(p["runtime.powerState"]) === "poweredOn") return;
      } catch (e) {
        last = (e as Error).message;
      }
      await sleep(this.d.pollMs * 5, o.signal);
    }
    throw new DriverError("guest.ready", `${this.vm.ref.name}: VMware Tools not running after ${o.timeoutMs} ms (${last})`);
  }

  private async list(path: string, pattern?: string): Promise<GuestFileInfo[]> {
    const out: GuestFileInfo[] = [];
    let index = 0;
    for (;;) {
      const r = (await this.c.call("ListFilesInGuest", this.d.fileManager, `${this.head()}<filePath>${esc(path)}</filePath><index>${index}</index><maxResults>500</maxResults>${pattern ? `<matchPattern>${esc(pattern)}</matchPattern>` : ""}`)) as Node | undefined;
      const files = arr(r?.files);
      for (const f of files) {
        const name = text(f.path);
        if (name === "." || name === "..") continue;
        const t = text(f.type);
        out.push({ name, type: t === "directory" ? "dir" : t === "symlink" ? "symlink" : t === "file" ? "file" : "other", ...(f.size !== undefined ? { size: Number(text(f.size)) } : {}) });
      }
      const remaining = Number(text(r?.remaining) || "0");
      if (!remaining || files.length === 0) return out;
      index += files.length;
    }
  }

  async exists(path: string): Promise<boolean> {
    if (path === "/") return true;
    const dir = posix.dirname(path);
    const base = posix.basename(path);
    try {
      const hits = await this.list(dir, `^${base.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`);
      return hits.some((h) => h.name === base);
    } catch (e) {
      if (e instanceof VimFault && e.faultType === "FileNotFound") return false;
      return this.fail("guest.exists", path, e);
    }
  }

  async listDir(path: string): Promise<GuestFileInfo[]> {
    try {
      return await this.list(path);
    } catch (e) {
      return this.fail("guest.listDir", path, e);
    }
  }

  async readFile(path: string): Promise<Buffer> {
    try {
      const r = (await this.c.call("InitiateFileTransferFromGuest", this.d.fileManager, `${this.head()}<guestFilePath>${esc(path)}</guestFilePath>`)) as Node;
      const res = await this.c.request("GET", this.transferUrl(text(r.url)));
      // some servers only fail at the transfer itself for a missing file
      if (res.status >= 400 && !(await this.exists(path))) throw new GuestFileNotFoundError(path);
      if (res.status >= 300) throw new DriverError("guest.readFile", `${this.vm.ref.name}: ${path}: HTTP ${res.status} from the transfer URL`);
      return res.body;
    } catch (e) {
      return this.fail("guest.readFile", path, e);
    }
  }

  async writeFile(path: string, data: Buffer | string): Promise<void> {
    const buf = typeof data === "string" ? Buffer.from(data) : data;
    try {
      const u = text(
        await this.c.call(
          "InitiateFileTransferToGuest",
          this.d.fileManager,
          `${this.head()}<guestFilePath>${esc(path)}</guestFilePath><fileAttributes xsi:type="GuestPosixFileAttributes"/><fileSize>${buf.length}</fileSize><overwrite>true</overwrite>`,
        ),
      );
      const res = await this.c.request("PUT", this.transferUrl(u), buf, { "Content-Type": "application/octet-stream" });
      if (res.status >= 300) throw new DriverError("guest.writeFile", `${this.vm.ref.name}: ${path}: HTTP ${res.status} from the transfer URL`);
    } catch (e) {
      this.fail("guest.writeFile", path, e);
    }
  }
}

export class VsphereDriver implements Driver {
  readonly name = "vsphere";
  readonly client: VimClient;
  readonly opts: VsphereDriverOptions;
  readonly pollMs: number;
  folder!: MoRef;
  pool!: MoRef;
  datastore!: string;
  /** The datacenter's inventory path below the root folder, as the datastore file API wants it. */
  datacenterPath!: string;
  fileManager!: MoRef;
  /** extraConfig keys set on every new VM (site policy; the tests use it for vcsim). */
  extraConfig: Record<string, string>;

  private constructor(o: VsphereDriverOptions) {
    this.opts = o;
    this.extraConfig = { ...(o.extraConfig ?? {}) };
    this.pollMs = o.pollMs ?? 200;
    this.client = new VimClient(o.url, { insecure: o.insecure ?? false, maxSockets: 32 });
  }

  static async connect(o: VsphereDriverOptions): Promise<VsphereDriver> {
    const d = new VsphereDriver(o);
    try {
      await d.client.connect(o.user, o.password);
      await d.placement();
    } catch (e) {
      d.client.logout().catch(() => undefined);
      throw new DriverError("connect", `${new URL(o.url).host}: ${(e as Error).message}`, { cause: e });
    }
    return d;
  }

  private async findPath(path: string): Promise<MoRef | undefined> {
    const r = await this.client.call("FindByInventoryPath", this.client.ref("searchIndex"), `<inventoryPath>${esc(path)}</inventoryPath>`);
    return r ? toRef(r) : undefined;
  }

  private async placement(): Promise<void> {
    const c = this.client;
    let dc = this.opts.datacenter;
    if (!dc) {
      const all = await c.propsOfAll("Datacenter", ["name"]);
      dc = all.map((x) => text(x.props.name)).sort()[0];
      if (!dc) throw new Error("the server has no datacenter");
    }
    this.datacenterPath = dc.replace(/^\/+/, "");
    const folderPath = this.opts.folder ?? `/${dc}/vm`;
    const folder = await this.findPath(folderPath);
    if (!folder) throw new Error(`no VM folder ${folderPath}`);
    this.folder = folder;
    if (this.opts.pool) {
      const pool = await this.findPath(this.opts.pool);
      if (!pool) throw new Error(`no resource pool ${this.opts.pool}`);
      this.pool = pool;
    } else {
      const crs = await c.propsOfAll("ComputeResource", ["name", "resourcePool"]);
      const first = crs.sort((a, b) => text(a.props.name).localeCompare(text(b.props.name)))[0];
      if (!first?.props.resourcePool) throw new Error("no compute resource with a resource pool");
      this.pool = toRef(first.props.resourcePool);
    }
    if (this.opts.datastore) this.datastore = this.opts.datastore;
    else {
      const ds = (await c.propsOfAll("Datastore", ["name"])).map((x) => text(x.props.name)).sort()[0];
      if (!ds) throw new Error("no datastore");
      this.datastore = ds;
    }
    const gom = c.serviceContent.guestOperationsManager;
    if (!gom) throw new Error("the server has no guest operations manager");
    const p = await c.props(toRef(gom), ["fileManager"]);
    this.fileManager = toRef(p.fileManager);
  }

  async createVm(spec: VmSpec): Promise<VsphereVm> {
    const errs = checkVmSpec(spec);
    if (errs.length) throw new DriverError("createVm", errs.join("; "));
    const existing = await this.findVm(spec.name);
    if (existing) {
      const vm = await this.openVm(existing);
      await vm.ensureSerialPort();
      return vm;
    }
    if (spec.fixupDisk && spec.fixupDisk.kind !== "disk") throw new DriverError("createVm", `${spec.name}: on vSphere the fixup disk must be a VMDK (kind "disk"); a CD-ROM cannot sit on the SCSI controller at unit 15`);
    const nics = spec.nics
      .map((n, i) => {
        const t = NIC_XSI[n.model] ?? "VirtualVmxnet3";
        return `<deviceChange><operation>add</operation><device xsi:type="${t}"><key>${-200 - i}</key><backing xsi:type="VirtualEthernetCardNetworkBackingInfo"><deviceName>${esc(n.network ?? "VM Network")}</deviceName></backing>${connectable(n.connected, n.connected)}<addressType>manual</addressType><macAddress>${esc(n.mac.toLowerCase())}</macAddress></device></deviceChange>`;
      })
      .join("");
    const disk = (key: number, unit: number, path: string, mode: string, sizeMiB?: number) =>
      `<deviceChange><operation>add</operation>${sizeMiB ? "<fileOperation>create</fileOperation>" : ""}<device xsi:type="VirtualDisk"><key>${key}</key>` +
      `<backing xsi:type="VirtualDiskFlatVer2BackingInfo"><fileName>${esc(path)}</fileName><diskMode>${mode}</diskMode>${sizeMiB ? "<thinProvisioned>true</thinProvisioned>" : ""}</backing>` +
      `<controllerKey>-100</controllerKey><unitNumber>${unit}</unitNumber>${sizeMiB ? `<capacityInKB>${sizeMiB * 1024}</capacityInKB>` : ""}</device></deviceChange>`;
    const disks = spec.disks.map((d, i) => disk(-300 - i, d.unit, d.path, "persistent", d.sizeMiB)).join("");
    const fixup = spec.fixupDisk ? disk(-399, FIXUP_UNIT, spec.fixupDisk.path, "independent_nonpersistent") : "";
    const extra = Object.entries(this.extraConfig)
      .map(([k, v]) => `<extraConfig><key>${esc(k)}</key><value xsi:type="xsd:string">${esc(v)}</value></extraConfig>`)
      .join("");
    const config =
      `<config><name>${esc(spec.name)}</name><guestId>${esc(spec.guestId ?? "otherLinux64Guest")}</guestId>` +
      `<files><vmPathName>[${esc(this.datastore)}]</vmPathName></files><numCPUs>${spec.cpus}</numCPUs><memoryMB>${spec.memoryMiB}</memoryMB>` +
      `<deviceChange><operation>add</operation><device xsi:type="ParaVirtualSCSIController"><key>-100</key><busNumber>0</busNumber><sharedBus>noSharing</sharedBus></device></deviceChange>` +
      `${nics}${disks}${fixup}${extra}<firmware>${spec.firmware === "uefi" ? "efi" : "bios"}</firmware></config>`;
    try {
      const task = toRef(await this.client.call("CreateVM_Task", this.folder, `${config}${moXml("pool", this.pool)}`));
      const ref = toRef(await this.client.waitTask(task, "CreateVM_Task", 600_000, this.pollMs));
      const vm = new VsphereVm(this, { driver: "vsphere", name: spec.name, id: ref.value });
      // added once the VM's folder is known; a crash in between is mended on the resume's createVm
      await vm.ensureSerialPort();
      return vm;
    } catch (e) {
      throw new DriverError("createVm", `${spec.name}: ${(e as Error).message}`, { cause: e });
    }
  }

  async findVm(name: string): Promise<VmRef | undefined> {
    const r = await this.client.call("FindChild", this.client.ref("searchIndex"), `${moXml("entity", this.folder)}<name>${esc(name)}</name>`);
    return r ? { driver: "vsphere", name, id: toRef(r).value } : undefined;
  }

  openVm(ref: VmRef): Promise<VsphereVm> {
    if (ref.driver !== "vsphere") return Promise.reject(new DriverError("openVm", `${ref.name} belongs to the ${ref.driver} driver`));
    return Promise.resolve(new VsphereVm(this, ref));
  }

  async close(): Promise<void> {
    await this.client.logout();
  }
}
