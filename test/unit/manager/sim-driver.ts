// A simulated hypervisor for the manager's tests: VMs and guest files live in a directory, so
// a manager process killed and restarted sees the same world. The guest is simulated lazily,
// on every call: booted from scsi0:15 it creates /tmp/fixup and answers BEGIN with
// fixup.log, result.json and END after a delay; booted from a disk with the tools ISO
// inserted it powers itself off after a delay (stage 2); booted from the disk after that, it
// is the first boot in the restored target. With a serial console (SimDriver's `serial`), the
// guest prints its stage-2 result and its first-boot verification there, as the sentinel and
// the verification do. Every state-changing call that takes effect is appended to ops.log, so
// a test can count what was done.
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { STAGE2_RESULT_MARKERS, VERIFY_MARKERS } from "../../../src/protocol/files.ts";
import {
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
} from "../../../src/manager/drivers/types.ts";

export interface SimTiming {
  bootMs: number;
  stage1Ms: number;
  stage2Ms: number;
}

interface SimState {
  spec: VmSpec;
  /** The guest has a serial console the manager can read (serial.log). */
  serial?: boolean;
  /** What the guest channel offers as GuestOps.quickPollMs. */
  quickPollMs?: number;
  stage2Done?: boolean;
  verifyPrinted?: boolean;
  power: PowerState;
  poweredOnAt: number;
  bootedFrom: number | "none";
  bootOrder: BootDevice[];
  cdrom?: { media?: string; insertedAt?: number };
  links: boolean[];
  timing: SimTiming;
}

export class SimVm implements Vm {
  readonly ref: VmRef;
  readonly serialLogPath = undefined;
  readonly guest: GuestOps;
  private readonly dir: string;

  constructor(ref: VmRef) {
    this.ref = ref;
    this.dir = ref.id;
    this.guest = new SimGuest(this);
  }

  get root(): string {
    return join(this.dir, "guest");
  }

  load(): SimState {
    return JSON.parse(readFileSync(join(this.dir, "vm.json"), "utf8")) as SimState;
  }

  save(s: SimState): void {
    writeFileSync(join(this.dir, "vm.json.tmp"), JSON.stringify(s));
    renameSync(join(this.dir, "vm.json.tmp"), join(this.dir, "vm.json"));
  }

  op(line: string): void {
    appendFileSync(join(this.dir, "ops.log"), line + "\n");
  }

  /** Advances the simulated guest to "now". */
  tick(): SimState {
    const s = this.load();
    if (s.power !== "on") return s;
    const now = Date.now();
    const up = now - s.poweredOnAt >= s.timing.bootMs;
    if (s.bootedFrom === FIXUP_UNIT && up) {
      const fx = join(this.root, "tmp/fixup");
      mkdirSync(fx, { recursive: true });
      const begin = join(fx, "BEGIN");
      if (existsSync(begin) && !existsSync(join(fx, "END")) && now - statSync(begin).mtimeMs >= s.timing.stage1Ms) {
        const sys = JSON.parse(readFileSync(join(fx, "system-configuration.json"), "utf8")) as { migrationId: string; source: { hostname?: string } };
        const failed = sys.source.hostname === "fail-stage1";
        const t = new Date().toISOString();
        writeFileSync(join(fx, "fixup.log"), `simulated stage 1 for ${sys.migrationId}\n`);
        writeFileSync(
          join(fx, "result.json"),
          JSON.stringify({
            migrationId: sys.migrationId,
            status: failed ? "failed" : "succeeded",
            code: failed ? 200 : 0,
            message: failed ? "no Linux root filesystem was found on the replica disks" : "stage 1 succeeded",
            ...(failed ? { step: "mount" } : {}),
            startedAt: t,
            finishedAt: t,
            durationMs: 1,
            version: "sim",
            guest: {},
            steps: [],
            warnings: [],
          }),
        );
        writeFileSync(join(fx, "END"), failed ? "failed 200\n" : "succeeded 0\n");
        this.op("stage1-done");
      }
    }
    const fromDisk = typeof s.bootedFrom === "number" && s.bootedFrom !== FIXUP_UNIT;
    if (fromDisk && !s.stage2Done && s.cdrom?.insertedAt && now - s.cdrom.insertedAt >= s.timing.stage2Ms) {
      if (s.serial) this.print(STAGE2_RESULT_MARKERS, { version: 1, status: "succeeded", code: "OK", reason: "stage 2 finished (simulated)", tools: { installed: true, code: "INSTALLED", detail: "simulated", required: false }, targetRestored: true, consoleSecured: true, guestState: "restored", powerOff: "requested", warnings: [], startedAt: new Date(now).toISOString(), finishedAt: new Date(now).toISOString(), log: "/var/log/osam-sentinel.log" });
      s.power = "off";
      s.stage2Done = true;
      this.save(s);
      this.op("stage2-poweroff");
    } else if (fromDisk && s.stage2Done && s.serial && !s.verifyPrinted && up) {
      const bad = s.spec.name.includes("fail-verify");
      const t = new Date(now).toISOString();
      const nic = { check: "nic", subject: "eth1", status: bad ? "failed" : "ok", code: bad ? "NIC_MISSING" : "OK", expected: "eth1 00:50:56:aa:bb:02", actual: bad ? "" : "eth1 00:50:56:aa:bb:02", detail: bad ? "no NIC named eth1" : "present" };
      this.print(VERIFY_MARKERS, { version: 1, verified: !bad, summary: bad ? "not verified: eth1 is missing" : "verified", hypervisor: "vmware", checks: [nic], startedAt: t, finishedAt: t, log: "/var/log/osam-verify.log" });
      s.verifyPrinted = true;
      this.save(s);
      this.op(bad ? "first-boot-not-verified" : "first-boot-verified");
    }
    return s;
  }

  /** What the guest prints on its serial console: a JSON line framed as the sentinel frames it. */
  private print(m: { begin: string; end: string }, value: unknown): void {
    const line = JSON.stringify(value);
    appendFileSync(join(this.dir, "serial.log"), `[    1.0] kernel noise\n${m.begin}\n${line}\n${m.end} bytes=${Buffer.byteLength(line) + 1}\n`);
  }

  /** Only a VM made with a serial console has one (the Vm interface's optional serialOutput). */
  get serialOutput(): (() => Promise<Buffer>) | undefined {
    if (!this.load().serial) return undefined;
    return () => {
      const f = join(this.dir, "serial.log");
      return Promise.resolve(existsSync(f) ? readFileSync(f) : Buffer.alloc(0));
    };
  }

  powerState(): Promise<PowerState> {
    return Promise.resolve(this.tick().power);
  }

  powerOn(): Promise<void> {
    const s = this.tick();
    if (s.power === "on") return Promise.resolve();
    const first = s.bootOrder.find((b) => b.kind === "disk");
    s.power = "on";
    s.poweredOnAt = Date.now();
    s.bootedFrom = first?.kind === "disk" ? first.unit : "none";
    if (s.cdrom?.media) s.cdrom.insertedAt = Date.now();
    if (s.bootedFrom === FIXUP_UNIT) rmSync(join(this.root, "tmp"), { recursive: true, force: true }); // tmpfs on the fixup disk
    this.save(s);
    this.op(`powerOn ${s.bootedFrom}`);
    return Promise.resolve();
  }

  powerOff(): Promise<void> {
    const s = this.tick();
    if (s.power === "off") return Promise.resolve();
    s.power = "off";
    this.save(s);
    this.op("powerOff");
    return Promise.resolve();
  }

  async waitPoweredOff(o: WaitOptions): Promise<void> {
    const deadline = Date.now() + o.timeoutMs;
    while (Date.now() < deadline) {
      if ((await this.powerState()) === "off") return;
      await sleep(20, o.signal);
    }
    throw new DriverError("waitPoweredOff", `${this.ref.name}: still on`);
  }

  getBootOrder(): Promise<BootDevice[]> {
    return Promise.resolve(this.load().bootOrder);
  }

  setBootOrder(order: BootDevice[]): Promise<void> {
    const s = this.load();
    s.bootOrder = order;
    this.save(s);
    this.op(`setBootOrder ${JSON.stringify(order)}`);
    return Promise.resolve();
  }

  addCdrom(media?: string): Promise<void> {
    const s = this.load();
    if (s.cdrom) return Promise.resolve();
    s.cdrom = media ? { media } : {};
    this.save(s);
    this.op("addCdrom");
    return Promise.resolve();
  }

  insertMedia(iso: string): Promise<void> {
    const s = this.load();
    if (!s.cdrom) return Promise.reject(new DriverError("insertMedia", "no CD-ROM"));
    s.cdrom = { media: iso, ...(s.power === "on" ? { insertedAt: Date.now() } : {}) };
    this.save(s);
    this.op(`insertMedia ${iso}`);
    return Promise.resolve();
  }

  setNicConnected(index: number, connected: boolean): Promise<void> {
    const s = this.load();
    s.links[index] = connected;
    this.save(s);
    this.op(`setNicConnected ${index} ${connected}`);
    return Promise.resolve();
  }

  describe(): Promise<DeviceDescription> {
    const s = this.load();
    return Promise.resolve({
      controller: "pvscsi",
      disks: [...s.spec.disks.map((d) => ({ unit: d.unit, path: d.path, kind: "disk" as const })), ...(s.spec.fixupDisk ? [{ unit: FIXUP_UNIT, path: s.spec.fixupDisk.path, kind: "disk" as const }] : [])],
      ...(s.cdrom ? { cdrom: { present: true as const, ...(s.cdrom.media ? { media: s.cdrom.media } : {}), connected: true } } : {}),
      nics: s.spec.nics.map((n, index) => ({ index, mac: n.mac, model: n.model, connected: s.links[index] ?? false })),
      bootOrder: s.bootOrder,
      firmware: s.spec.firmware,
      cpus: s.spec.cpus,
      memoryMiB: s.spec.memoryMiB,
    });
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  destroy(): Promise<void> {
    rmSync(this.dir, { recursive: true, force: true });
    return Promise.resolve();
  }
}

class SimGuest implements GuestOps {
  private readonly vm: SimVm;
  constructor(vm: SimVm) {
    this.vm = vm;
  }
  private path(p: string): string {
    return join(this.vm.root, p);
  }
  get quickPollMs(): number | undefined {
    return this.vm.load().quickPollMs;
  }
  private up(): void {
    const s = this.vm.tick();
    if (s.power !== "on" || Date.now() - s.poweredOnAt < s.timing.bootMs) throw new DriverError("guest", `${this.vm.ref.name}: the guest agent is not running`);
  }
  async ready(o: WaitOptions): Promise<void> {
    const deadline = Date.now() + o.timeoutMs;
    for (;;) {
      try {
        this.up();
        return;
      } catch (e) {
        if (Date.now() > deadline) throw e;
      }
      await sleep(20, o.signal);
    }
  }
  exists(p: string): Promise<boolean> {
    this.up();
    // how often the manager asked, in a log of its own: ops.log holds what changes state
    appendFileSync(join(this.vm.root, "..", "polls.log"), p + "\n");
    return Promise.resolve(existsSync(this.path(p)));
  }
  listDir(p: string): Promise<GuestFileInfo[]> {
    this.up();
    if (!existsSync(this.path(p))) return Promise.reject(new GuestFileNotFoundError(p));
    return Promise.resolve(readdirSync(this.path(p), { withFileTypes: true }).map((e) => ({ name: e.name, type: e.isDirectory() ? ("dir" as const) : ("file" as const) })));
  }
  readFile(p: string): Promise<Buffer> {
    this.up();
    if (!existsSync(this.path(p))) return Promise.reject(new GuestFileNotFoundError(p));
    return Promise.resolve(readFileSync(this.path(p)));
  }
  writeFile(p: string, data: Buffer | string): Promise<void> {
    this.up();
    mkdirSync(dirname(this.path(p)), { recursive: true });
    writeFileSync(this.path(p), data);
    this.vm.op(`writeFile ${p}`);
    return Promise.resolve();
  }
}

export class SimDriver implements Driver {
  readonly name = "sim";
  readonly dir: string;
  readonly timing: SimTiming;
  readonly serial: boolean;
  readonly quickPollMs: number | undefined;
  constructor(dir: string, timing: Partial<SimTiming> = {}, opts: { serial?: boolean; quickPollMs?: number } = {}) {
    this.dir = dir;
    this.timing = { bootMs: 30, stage1Ms: 30, stage2Ms: 30, ...timing };
    this.serial = opts.serial === true;
    this.quickPollMs = opts.quickPollMs;
    mkdirSync(dir, { recursive: true });
  }
  createVm(spec: VmSpec): Promise<Vm> {
    const dir = join(this.dir, spec.name);
    const ref: VmRef = { driver: "sim", name: spec.name, id: dir };
    if (existsSync(join(dir, "vm.json"))) return Promise.resolve(new SimVm(ref));
    mkdirSync(join(dir, "guest"), { recursive: true });
    const vm = new SimVm(ref);
    vm.save({ spec, ...(this.serial ? { serial: true } : {}), ...(this.quickPollMs !== undefined ? { quickPollMs: this.quickPollMs } : {}), power: "off", poweredOnAt: 0, bootedFrom: "none", bootOrder: [], links: spec.nics.map((n) => n.connected), timing: this.timing });
    vm.op("createVm");
    return Promise.resolve(vm);
  }
  findVm(name: string): Promise<VmRef | undefined> {
    const dir = join(this.dir, name);
    return Promise.resolve(existsSync(join(dir, "vm.json")) ? { driver: "sim", name, id: dir } : undefined);
  }
  openVm(ref: VmRef): Promise<Vm> {
    return Promise.resolve(new SimVm(ref));
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
  /** The paths the manager asked exists() about, one line per call. */
  polls(name: string): string[] {
    const f = join(this.dir, name, "polls.log");
    return existsSync(f) ? readFileSync(f, "utf8").trim().split("\n") : [];
  }
  ops(name: string): string[] {
    const f = join(this.dir, name, "ops.log");
    return existsSync(f) ? readFileSync(f, "utf8").trim().split("\n") : [];
  }
}
