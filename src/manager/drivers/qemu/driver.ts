// The local driver: each VM is a directory holding vm.json (the desired configuration, the
// source of truth across restarts) and, while powered on, a QEMU process started detached so
// that it outlives the manager. Powered off = no process (or one still paused before its
// first instruction). Configuration changes are saved to vm.json and, when the process is
// up, applied over QMP at once: set_link, blockdev-add + device_add / blockdev-change-medium
// for the CD-ROM, qom-set bootindex. Power-on starts QEMU paused and applies the same calls
// before `cont`, so a new process and a running one are configured by one code path.
import { spawn, execFile, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, openSync, closeSync, readFileSync, rmSync, copyFileSync, statSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { writeAtomic } from "../../../util/fs.ts";
import {
  checkVmSpec,
  DriverError,
  FIXUP_UNIT,
  sleep,
  type BootDevice,
  type DeviceDescription,
  type Driver,
  type PowerState,
  type Vm,
  type VmRef,
  type VmSpec,
  type WaitOptions,
} from "../types.ts";
import { buildArgv, CDROM_ID, diskId, nicId, PID_FILE, QGA_SOCKET, QMP_SOCKET, SCSI_ID, SERIAL_LOG } from "./argv.ts";
import { JsonLineClient } from "./jsonline.ts";
import { QgaGuest } from "./qga.ts";

const execFileP = promisify(execFile);

export interface QemuDriverOptions {
  /** Where VM directories live (one per VM name). */
  stateDir: string;
  accel?: "tcg" | "kvm";
  qemuBinary?: string;
  qemuImg?: string;
  ovmfCode?: string;
  ovmfVars?: string;
  extraArgs?: string[];
  /** How long a powered-on process may take to open its QMP socket. */
  startTimeoutMs?: number;
}

interface VmState {
  version: 1;
  spec: VmSpec;
  formats: Record<string, "raw" | "qcow2">;
  bootOrder: BootDevice[];
  cdrom?: { unit: number; media?: string };
  links: boolean[];
}

const STATE_FILE = "vm.json";

/** Unix socket paths are limited to 107 bytes; long VM directories get a short socket dir. */
export function socketDir(dir: string): string {
  if (`${dir}/${QMP_SOCKET}`.length <= 100) return dir;
  return `/tmp/osam-qemu-${createHash("sha256").update(dir).digest("hex").slice(0, 16)}`;
}

/** Children started by this process: node reaps them, so their pid alone cannot say "gone". */
const children = new Map<number, ChildProcess>();

function pidAlive(pid: number, dir: string): boolean {
  const c = children.get(pid);
  if (c) return c.exitCode === null && c.signalCode === null;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    if (/\) [ZX] /.test(stat)) return false;
    // the pid may have been reused: it must be the QEMU of this directory
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(`${dir}/${PID_FILE}`);
  } catch {
    return false;
  }
}

function bootKey(b: BootDevice): string {
  return b.kind === "disk" ? diskId(b.unit) : b.kind === "cdrom" ? CDROM_ID : nicId(b.index);
}

export class QemuVm implements Vm {
  readonly ref: VmRef;
  readonly dir: string;
  readonly guest: QgaGuest;
  private readonly drv: QemuDriver;
  private state: VmState;
  private qmpClient: JsonLineClient | undefined;
  private readonly sockDir: string;

  constructor(drv: QemuDriver, dir: string, state: VmState) {
    this.drv = drv;
    this.dir = dir;
    this.state = state;
    this.ref = { driver: "qemu", name: state.spec.name, id: dir };
    this.sockDir = socketDir(dir);
    this.guest = new QgaGuest(join(this.sockDir, QGA_SOCKET), state.spec.name);
  }

  get serialLogPath(): string {
    return join(this.dir, SERIAL_LOG);
  }

  async serialOutput(): Promise<Buffer> {
    try {
      return await readFile(this.serialLogPath);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return Buffer.alloc(0);
      throw new DriverError("serialOutput", `${this.ref.name}: ${(e as Error).message}`, { cause: e });
    }
  }

  get spec(): VmSpec {
    return this.state.spec;
  }

  private async save(): Promise<void> {
    await writeAtomic(join(this.dir, STATE_FILE), JSON.stringify(this.state, null, 2) + "\n");
  }

  private pid(): number | undefined {
    try {
      const pid = Number(readFileSync(join(this.dir, PID_FILE), "utf8").trim());
      return pid > 0 && pidAlive(pid, this.dir) ? pid : undefined;
    } catch {
      return undefined;
    }
  }

  private async qmp(): Promise<JsonLineClient> {
    if (this.qmpClient?.isOpen) return this.qmpClient;
    const c = new JsonLineClient(join(this.sockDir, QMP_SOCKET), "qmp");
    await c.connect(10_000);
    this.qmpClient = c;
    return c;
  }

  private async cmd<T = unknown>(op: string, command: string, args?: Record<string, unknown>): Promise<T> {
    try {
      return await (await this.qmp()).execute<T>(command, args);
    } catch (e) {
      throw new DriverError(op, `${this.ref.name}: ${(e as Error).message}`, { cause: e });
    }
  }

  /** "absent" when no process; else QEMU's run state (prelaunch, running, paused...). */
  async runState(): Promise<string> {
    if (this.pid() === undefined) return "absent";
    try {
      const s = await (await this.qmp()).execute<{ status: string }>("query-status", undefined, 10_000);
      return s.status;
    } catch {
      return this.pid() === undefined ? "absent" : "unknown";
    }
  }

  async powerState(): Promise<PowerState> {
    const s = await this.runState();
    return s === "absent" || s === "prelaunch" || s === "shutdown" ? "off" : "on";
  }

  private async spawnPaused(): Promise<void> {
    const host = this.drv.host(this.dir, this.state.spec.name);
    if (this.state.spec.firmware === "uefi" && !existsSync(host.ovmfVars)) copyFileSync(this.drv.ovmfVarsTemplate, host.ovmfVars);
    mkdirSync(this.sockDir, { recursive: true, mode: 0o700 });
    for (const s of [QMP_SOCKET, QGA_SOCKET]) rmSync(join(this.sockDir, s), { force: true });
    rmSync(join(this.dir, PID_FILE), { force: true });
    const argv = buildArgv(this.state.spec, host, new Map(Object.entries(this.state.formats)));
    const errPath = join(this.dir, "qemu.stderr");
    const errFd = openSync(errPath, "a");
    let child: ChildProcess;
    try {
      child = spawn(this.drv.qemuBinary, argv, { detached: true, stdio: ["ignore", "ignore", errFd] });
    } finally {
      closeSync(errFd);
    }
    let spawnError: Error | undefined;
    child.on("error", (e) => (spawnError = e));
    if (child.pid) children.set(child.pid, child);
    child.unref();
    const deadline = Date.now() + this.drv.startTimeoutMs;
    while (!existsSync(join(this.sockDir, QMP_SOCKET)) || !existsSync(join(this.dir, PID_FILE))) {
      if (spawnError || child.exitCode !== null || child.signalCode !== null || Date.now() > deadline) {
        const err = existsSync(errPath) ? (await readFile(errPath, "utf8")).trim().split("\n").slice(-5).join("\n") : "";
        if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
        throw new DriverError("powerOn", `${this.ref.name}: QEMU did not start (${spawnError?.message ?? `exit ${child.exitCode ?? child.signalCode ?? "timeout"}`}): ${err}`);
      }
      await sleep(50);
    }
  }

  /** Brings a live (paused or running) process to the saved configuration. */
  private async applyConfig(): Promise<void> {
    for (let i = 0; i < this.state.spec.nics.length; i++) {
      await this.cmd("powerOn", "set_link", { name: nicId(i), up: this.state.links[i] ?? false });
    }
    if (this.state.cdrom) await this.hotAddCdrom();
    await this.applyBootOrder();
  }

  private async peripherals(): Promise<Set<string>> {
    const l = await this.cmd<{ name: string }[]>("qom-list", "qom-list", { path: "/machine/peripheral" });
    return new Set(l.map((x) => x.name));
  }

  private async hotAddCdrom(): Promise<void> {
    const cd = this.state.cdrom;
    if (!cd) return;
    if ((await this.peripherals()).has(CDROM_ID)) return;
    const dev: Record<string, unknown> = { driver: "scsi-cd", bus: `${SCSI_ID}.0`, "scsi-id": cd.unit, lun: 0, id: CDROM_ID };
    if (cd.media) {
      const node = `${CDROM_ID}-img`;
      await this.cmd("addCdrom", "blockdev-add", { driver: "raw", "node-name": node, "read-only": true, file: { driver: "file", filename: cd.media } });
      dev.drive = node;
    }
    await this.cmd("addCdrom", "device_add", dev);
  }

  /** Every device that can boot, in the order QEMU's boot indexes are given out. */
  private bootDevices(): BootDevice[] {
    const all: BootDevice[] = this.state.spec.disks.map((d) => ({ kind: "disk" as const, unit: d.unit }));
    if (this.state.spec.fixupDisk) all.push({ kind: "disk", unit: FIXUP_UNIT });
    if (this.state.cdrom) all.push({ kind: "cdrom" });
    this.state.spec.nics.forEach((_, index) => all.push({ kind: "nic", index }));
    return all;
  }

  private bootables(): string[] {
    return this.bootDevices().map(bootKey);
  }

  private async applyBootOrder(): Promise<void> {
    const present = await this.peripherals();
    // clear first: QEMU refuses a bootindex that another device holds, even transiently
    for (const k of this.bootables()) {
      if (present.has(k)) await this.cmd("setBootOrder", "qom-set", { path: `/machine/peripheral/${k}`, property: "bootindex", value: -1 });
    }
    let i = 1;
    for (const b of this.state.bootOrder) {
      const k = bootKey(b);
      if (present.has(k)) await this.cmd("setBootOrder", "qom-set", { path: `/machine/peripheral/${k}`, property: "bootindex", value: i++ });
    }
  }

  async powerOn(): Promise<void> {
    let s = await this.runState();
    if (s === "running") return;
    if (s === "absent") {
      await this.spawnPaused();
      s = await this.runState();
    }
    await this.applyConfig();
    // the firmware reads the boot order at reset; the CD-ROM added above must be seen too
    await this.cmd("powerOn", "system_reset");
    if (s !== "running") await this.cmd("powerOn", "cont");
  }

  private async waitGone(ms: number, signal?: AbortSignal): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      if (this.pid() === undefined) return true;
      await sleep(200, signal);
    }
    return this.pid() === undefined;
  }

  async powerOff(opts: { graceful?: boolean; timeoutMs?: number } = {}): Promise<void> {
    const s = await this.runState();
    if (s === "absent") return this.closeQmp();
    if (opts.graceful && s !== "prelaunch") {
      await this.cmd("powerOff", "system_powerdown").catch(() => undefined);
      if (await this.waitGone(opts.timeoutMs ?? 60_000)) return this.closeQmp();
    }
    const c = await this.qmp().catch(() => undefined);
    await c?.fire("quit");
    if (!(await this.waitGone(15_000))) {
      const pid = this.pid();
      if (pid) process.kill(pid, "SIGKILL");
      if (!(await this.waitGone(5000))) throw new DriverError("powerOff", `${this.ref.name}: QEMU (pid ${pid}) did not exit`);
    }
    this.closeQmp();
  }

  async waitPoweredOff(opts: WaitOptions): Promise<void> {
    const deadline = Date.now() + opts.timeoutMs;
    while (Date.now() < deadline) {
      if ((await this.powerState()) === "off") {
        this.closeQmp();
        this.guest.close();
        return;
      }
      await sleep(1000, opts.signal);
    }
    throw new DriverError("waitPoweredOff", `${this.ref.name}: still powered on after ${opts.timeoutMs} ms`);
  }

  async getBootOrder(): Promise<BootDevice[]> {
    if ((await this.runState()) === "absent") return [...this.state.bootOrder];
    // read back what QEMU holds, so a test sees the effect of the QMP calls, not our intent
    const present = await this.peripherals();
    const withIdx: { b: BootDevice; i: number }[] = [];
    for (const b of this.bootDevices()) {
      const k = bootKey(b);
      if (!present.has(k)) continue;
      const i = await this.cmd<number>("getBootOrder", "qom-get", { path: `/machine/peripheral/${k}`, property: "bootindex" });
      if (i >= 0) withIdx.push({ b, i });
    }
    return withIdx.sort((x, y) => x.i - y.i).map((x) => x.b);
  }

  async setBootOrder(order: BootDevice[]): Promise<void> {
    const known = new Set(this.bootables());
    for (const b of order) {
      const k = bootKey(b);
      if (!known.has(k)) throw new DriverError("setBootOrder", `${this.ref.name}: no such boot device ${JSON.stringify(b)}`);
    }
    this.state.bootOrder = order;
    await this.save();
    if ((await this.runState()) !== "absent") await this.applyBootOrder();
  }

  async addCdrom(media?: string): Promise<void> {
    if (this.state.cdrom) {
      if (media && this.state.cdrom.media !== media) await this.insertMedia(media);
      return;
    }
    const used = new Set([...this.state.spec.disks.map((d) => d.unit), FIXUP_UNIT, 7]);
    let unit = 14;
    while (unit > 0 && used.has(unit)) unit--;
    if (unit <= 0) throw new DriverError("addCdrom", `${this.ref.name}: no free SCSI unit for a CD-ROM`);
    if (media) this.checkFile("addCdrom", media);
    this.state.cdrom = media ? { unit, media } : { unit };
    await this.save();
    if ((await this.runState()) !== "absent") {
      await this.hotAddCdrom();
      await this.applyBootOrder();
    }
  }

  private checkFile(op: string, path: string): void {
    try {
      statSync(path);
    } catch {
      throw new DriverError(op, `${this.ref.name}: ${path}: no such file`);
    }
  }

  async insertMedia(iso: string): Promise<void> {
    const cd = this.state.cdrom;
    if (!cd) throw new DriverError("insertMedia", `${this.ref.name}: the VM has no CD-ROM (addCdrom first)`);
    this.checkFile("insertMedia", iso);
    cd.media = iso;
    await this.save();
    if ((await this.runState()) === "absent") return;
    if (!(await this.peripherals()).has(CDROM_ID)) return this.hotAddCdrom();
    await this.cmd("insertMedia", "blockdev-change-medium", { id: CDROM_ID, filename: iso, format: "raw", "read-only-mode": "read-only" });
  }

  async setNicConnected(index: number, connected: boolean): Promise<void> {
    if (index < 0 || index >= this.state.spec.nics.length) throw new DriverError("setNicConnected", `${this.ref.name}: no NIC ${index}`);
    this.state.links[index] = connected;
    await this.save();
    if ((await this.runState()) !== "absent") await this.cmd("setNicConnected", "set_link", { name: nicId(index), up: connected });
  }

  async describe(): Promise<DeviceDescription> {
    const s = this.state;
    const disks = s.spec.disks.map((d) => ({ unit: d.unit, path: d.path, kind: "disk" as const }));
    if (s.spec.fixupDisk) disks.push({ unit: FIXUP_UNIT, path: s.spec.fixupDisk.path, kind: s.spec.fixupDisk.kind as "disk" });
    return {
      controller: "pvscsi",
      disks,
      ...(s.cdrom ? { cdrom: { present: true as const, ...(s.cdrom.media ? { media: s.cdrom.media } : {}), connected: true } } : {}),
      nics: s.spec.nics.map((n, index) => ({ index, mac: n.mac.toLowerCase(), model: n.model, connected: s.links[index] ?? false })),
      bootOrder: await this.getBootOrder(),
      firmware: s.spec.firmware,
      cpus: s.spec.cpus,
      memoryMiB: s.spec.memoryMiB,
    };
  }

  private closeQmp(): void {
    this.qmpClient?.close();
    this.qmpClient = undefined;
  }

  async close(): Promise<void> {
    this.closeQmp();
    this.guest.close();
    return Promise.resolve();
  }

  async destroy(): Promise<void> {
    await this.powerOff();
    await this.close();
    rmSync(this.dir, { recursive: true, force: true });
    if (this.sockDir !== this.dir) rmSync(this.sockDir, { recursive: true, force: true });
  }
}

export class QemuDriver implements Driver {
  readonly name = "qemu";
  readonly stateDir: string;
  readonly accel: "tcg" | "kvm";
  readonly qemuBinary: string;
  readonly qemuImg: string;
  readonly ovmfCode: string;
  readonly ovmfVarsTemplate: string;
  readonly extraArgs: string[] | undefined;
  readonly startTimeoutMs: number;

  constructor(o: QemuDriverOptions) {
    this.stateDir = resolve(o.stateDir);
    this.accel = o.accel ?? "tcg";
    this.qemuBinary = o.qemuBinary ?? "qemu-system-x86_64";
    this.qemuImg = o.qemuImg ?? "qemu-img";
    this.ovmfCode = o.ovmfCode ?? "/usr/share/OVMF/OVMF_CODE_4M.fd";
    this.ovmfVarsTemplate = o.ovmfVars ?? "/usr/share/OVMF/OVMF_VARS_4M.fd";
    this.extraArgs = o.extraArgs;
    this.startTimeoutMs = o.startTimeoutMs ?? 20_000;
  }

  host(dir: string, _name: string) {
    return { accel: this.accel, dir, sockDir: socketDir(dir), ovmfCode: this.ovmfCode, ovmfVars: join(dir, "OVMF_VARS.fd"), extraArgs: this.extraArgs };
  }

  private vmDir(name: string): string {
    return join(this.stateDir, name);
  }

  private async format(path: string): Promise<"raw" | "qcow2"> {
    try {
      const { stdout } = await execFileP(this.qemuImg, ["info", "-U", "--output=json", path]);
      const f = (JSON.parse(stdout) as { format?: string }).format;
      if (f === "qcow2") return "qcow2";
      if (f === "raw") return "raw";
      throw new DriverError("createVm", `${path}: unsupported image format ${f} (raw or qcow2)`);
    } catch (e) {
      if (e instanceof DriverError) throw e;
      throw new DriverError("createVm", `${path}: cannot read the image: ${(e as Error).message.split("\n")[0]}`);
    }
  }

  async createVm(spec: VmSpec): Promise<QemuVm> {
    const errs = checkVmSpec(spec);
    if (errs.length) throw new DriverError("createVm", errs.join("; "));
    const existing = await this.findVm(spec.name);
    if (existing) return this.openVm(existing);
    const formats: Record<string, "raw" | "qcow2"> = {};
    const paths = spec.disks.filter((d) => !d.format).map((d) => d.path);
    if (spec.fixupDisk?.kind === "disk") paths.push(spec.fixupDisk.path);
    for (const p of paths) {
      if (!existsSync(p)) throw new DriverError("createVm", `${spec.name}: disk ${p}: no such file`);
      formats[p] = await this.format(p);
    }
    if (spec.fixupDisk && !existsSync(spec.fixupDisk.path)) throw new DriverError("createVm", `${spec.name}: fixup disk ${spec.fixupDisk.path}: no such file`);
    const norm: VmSpec = { ...spec, disks: spec.disks.map((d) => ({ ...d, path: resolve(d.path) })), ...(spec.fixupDisk ? { fixupDisk: { ...spec.fixupDisk, path: resolve(spec.fixupDisk.path) } } : {}) };
    for (const [p, f] of Object.entries(formats)) {
      delete formats[p];
      formats[resolve(p)] = f;
    }
    const dir = this.vmDir(spec.name);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const state: VmState = { version: 1, spec: norm, formats, bootOrder: [], links: spec.nics.map((n) => n.connected) };
    await writeAtomic(join(dir, STATE_FILE), JSON.stringify(state, null, 2) + "\n");
    return new QemuVm(this, dir, state);
  }

  findVm(name: string): Promise<VmRef | undefined> {
    const dir = this.vmDir(name);
    return Promise.resolve(existsSync(join(dir, STATE_FILE)) ? { driver: "qemu", name, id: dir } : undefined);
  }

  async openVm(ref: VmRef): Promise<QemuVm> {
    let state: VmState;
    try {
      state = JSON.parse(await readFile(join(ref.id, STATE_FILE), "utf8")) as VmState;
    } catch (e) {
      throw new DriverError("openVm", `${ref.name}: no VM at ${ref.id}: ${(e as Error).message}`);
    }
    return new QemuVm(this, ref.id, state);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
