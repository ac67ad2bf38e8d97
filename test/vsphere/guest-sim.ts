// The guest side of a migration on vcsim, simulated: every VM that runs a guest container
// (its files are $guestRoot/<container id>/...) behaves like the fixup disk when it is
// powered on booting from scsi0:15 (creates /tmp/fixup, answers BEGIN with fixup.log,
// result.json and END), and like the stage-2 sentinel when it boots from another disk with an
// ISO in its CD-ROM: prints its result on ttyS0, that is appends a result block to the file of
// the VM's serial port (vcsim's datastores are local directories), and powers itself off. A
// hostname "fail-stage1" in the maps makes stage 1 fail with code 200; "fail-stage2" makes
// stage 2 print a failure and leave the guest running, in single-user mode, as the sentinel
// does. A boot with the NICs connected is the first boot in the restored target: it prints the
// first-boot verification, not verified for a hostname "fail-verify". Run in-process (startGuestSim) or as a process:
//   node test/vsphere/guest-sim.ts URL USER PASSWORD GUEST_ROOT
import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseDatastorePath } from "../../src/manager/drivers/vsphere/datastore-file.ts";
import { arr, text, toRef, VimClient, xsiType } from "../../src/manager/drivers/vsphere/soap.ts";
import { STAGE2_RESULT_MARKERS, VERIFY_MARKERS } from "../../src/protocol/files.ts";
import type { Stage2Result, Verification } from "../../src/protocol/schemas.ts";

type Node = Record<string, unknown>;

export interface GuestSimStats {
  stage1: Map<string, number>;
  stage2: Map<string, number>;
  /** VM name -> its guest container and BEGIN's content when stage 1 read the maps. */
  begin: Map<string, { cid: string; content: string }>;
  errors: string[];
}

/** The stats as the process form prints them (JSON). */
export interface GuestSimReport {
  stage1: Record<string, number>;
  stage2: Record<string, number>;
  begin: Record<string, { cid: string; content: string }>;
  errors: string[];
}

export function simReport(s: GuestSimStats): GuestSimReport {
  return { stage1: Object.fromEntries(s.stage1), stage2: Object.fromEntries(s.stage2), begin: Object.fromEntries(s.begin), errors: s.errors };
}

/**
 * What must have happened once for each VM, as problems (empty when all is well): stage 1 and
 * stage 2 ran once each, BEGIN is as stage 1 read it (the manager wrote it once: a second write
 * carries a new time), and the simulator itself met no error.
 */
export function onceEach(r: GuestSimReport, ids: string[], guestRoot: string): string[] {
  const problems = r.errors.map((e) => `guest simulator: ${e}`);
  for (const id of ids) {
    if (r.stage1[id] !== 1) problems.push(`${id}: stage 1 ran ${r.stage1[id] ?? 0} times`);
    if (r.stage2[id] !== 1) problems.push(`${id}: stage 2 ran ${r.stage2[id] ?? 0} times`);
    const b = r.begin[id];
    if (!b) {
      problems.push(`${id}: stage 1 never read a BEGIN`);
      continue;
    }
    const now = join(guestRoot, b.cid, "tmp/fixup/BEGIN");
    const content = existsSync(now) ? readFileSync(now, "utf8") : "(gone)";
    if (content !== b.content) problems.push(`${id}: BEGIN was ${JSON.stringify(b.content)} when stage 1 read it, ${JSON.stringify(content)} at the end`);
  }
  return problems;
}

/**
 * A result as the guest prints it on a serial console (the sentinel's printf through the tty:
 * CR LF line ends; the end line counts the JSON line's bytes with its newline).
 */
export function consoleBlock(markers: { begin: string; end: string }, value: unknown): string {
  const json = JSON.stringify(value);
  return `\r\n${markers.begin}\r\n${json}\r\n${markers.end} bytes=${Buffer.byteLength(json) + 1}\r\n`;
}

export function sampleStage2Result(over: Partial<Stage2Result>): Stage2Result {
  const t = new Date().toISOString();
  return {
    version: 1,
    status: "succeeded",
    code: "OK",
    reason: "stage 2 finished: VMware Tools installed, the guest restored",
    tools: { installed: true, code: "INSTALLED", detail: "open-vm-tools from the tools medium", required: false },
    targetRestored: true,
    consoleSecured: true,
    guestState: "restored",
    powerOff: "requested",
    warnings: [],
    startedAt: t,
    finishedAt: t,
    log: "/var/log/osam-stage2.log",
    ...over,
  };
}

export function sampleVerification(verified: boolean, summary: string): Verification {
  const t = new Date().toISOString();
  return {
    version: 1,
    verified,
    summary,
    hypervisor: "vmware",
    checks: [{ check: "nic", subject: "ens224", status: verified ? "ok" : "failed", code: verified ? "OK" : "NIC_MISSING", expected: "00:50:56:01:00:02", actual: verified ? "00:50:56:01:00:02" : "", detail: verified ? "present" : "the NIC is missing" }],
    startedAt: t,
    finishedAt: t,
    log: "/var/log/osam-verify.log",
  };
}

/** Datastore name -> the local directory vcsim keeps it in. */
export async function datastoreDirs(c: VimClient): Promise<Map<string, string>> {
  return new Map((await c.propsOfAll("Datastore", ["name", "summary.url"])).map((d) => [text(d.props.name), text(d.props["summary.url"])]));
}

function writeAtomic(path: string, data: string): void {
  writeFileSync(path + ".tmp", data);
  renameSync(path + ".tmp", path);
}

export async function startGuestSim(url: string, user: string, password: string, guestRoot: string, o: { intervalMs?: number } = {}): Promise<{ stats: GuestSimStats; stop: () => Promise<void> }> {
  const c = new VimClient(url, { insecure: true });
  await c.connect(user, password);
  const stats: GuestSimStats = { stage1: new Map(), stage2: new Map(), begin: new Map(), errors: [] };
  const poweringOff = new Set<string>();
  /** VMs whose stage 2 failed: they printed their result and stay on. */
  const failedStage2 = new Set<string>();
  /** VMs whose first boot printed its verification. */
  const verified = new Set<string>();
  const dsDirs = await datastoreDirs(c);
  let stopped = false;
  /** Appends to the VM's serial log, as its VMX does with what the guest writes on ttyS0. */
  const printOnSerial = (name: string, devs: Node[], data: string): void => {
    const port = devs.find((d) => xsiType(d) === "VirtualSerialPort" && xsiType(d.backing) === "VirtualSerialPortFileBackingInfo");
    const p = parseDatastorePath(text((port?.backing as Node | undefined)?.fileName));
    const dir = p && dsDirs.get(p.datastore);
    if (!p || !dir) throw new Error(`${name}: no serial port backed by a file on a known datastore`);
    appendFileSync(join(dir, p.path), data);
  };
  const tick = async () => {
    const vms = await c.propsOfAll("VirtualMachine", ["name", "runtime.powerState", "config.annotation", "config.bootOptions", "config.hardware.device"]);
    for (const { obj, props } of vms) {
      const name = text(props.name);
      const cid = /^docker inspect (\S+)$/.exec(text(props["config.annotation"]))?.[1];
      if (!cid || text(props["runtime.powerState"]) !== "poweredOn") continue;
      const devs = arr((props["config.hardware.device"] as Node | undefined)?.VirtualDevice);
      const firstBoot = arr((props["config.bootOptions"] as Node | undefined)?.bootOrder)[0];
      const bootKey = firstBoot && xsiType(firstBoot) === "VirtualMachineBootOptionsBootableDiskDevice" ? text(firstBoot.deviceKey) : "";
      const bootDisk = devs.find((d) => text(d.key) === bootKey);
      const g = join(guestRoot, cid);
      if (bootDisk && text(bootDisk.unitNumber) === "15") {
        const fx = join(g, "tmp/fixup");
        mkdirSync(fx, { recursive: true });
        if (existsSync(join(fx, "BEGIN")) && !existsSync(join(fx, "END"))) {
          const begin = readFileSync(join(fx, "BEGIN"), "utf8");
          // a guest file transfer creates the file before it fills it: stage 1 starts (and BEGIN
          // is recorded) once it holds its line (the agent itself only waits for it to exist)
          if (!begin.endsWith("\n")) continue;
          const sys = JSON.parse(readFileSync(join(fx, "system-configuration.json"), "utf8")) as { migrationId: string; source: { hostname?: string } };
          const failed = sys.source.hostname === "fail-stage1";
          const t = new Date().toISOString();
          writeAtomic(join(fx, "fixup.log"), `simulated stage 1 for ${sys.migrationId} on ${name}\n`);
          writeAtomic(
            join(fx, "result.json"),
            JSON.stringify({ migrationId: sys.migrationId, status: failed ? "failed" : "succeeded", code: failed ? 200 : 0, message: failed ? "no Linux root filesystem was found" : "stage 1 succeeded", startedAt: t, finishedAt: t, durationMs: 1, version: "guest-sim", guest: {}, steps: [], warnings: [] }),
          );
          writeAtomic(join(fx, "END"), failed ? "failed 200\n" : "succeeded 0\n");
          stats.stage1.set(name, (stats.stage1.get(name) ?? 0) + 1);
          if (!stats.begin.has(name)) stats.begin.set(name, { cid, content: begin });
        }
      } else if (bootDisk) {
        const cd = devs.find((d) => xsiType(d) === "VirtualCdrom");
        const iso = cd && xsiType(cd.backing) === "VirtualCdromIsoBackingInfo";
        const sysPath = join(g, "tmp/fixup/system-configuration.json");
        const host = existsSync(sysPath) ? (JSON.parse(readFileSync(sysPath, "utf8")) as { source: { hostname?: string } }).source.hostname : undefined;
        // the manager connects the NICs only after stage 2: a boot with them is the first boot in
        // the restored target, where the verification prints its result once
        if (devs.some((d) => d.macAddress !== undefined && text((d.connectable as Node | undefined)?.startConnected) === "true")) {
          if (!verified.has(obj.value)) {
            verified.add(obj.value);
            const ok = host !== "fail-verify";
            printOnSerial(name, devs, consoleBlock(VERIFY_MARKERS, sampleVerification(ok, ok ? "verified" : "not verified: NIC ens224 is missing")));
          }
          continue;
        }
        if (iso && !poweringOff.has(obj.value) && !failedStage2.has(obj.value)) {
          stats.stage2.set(name, (stats.stage2.get(name) ?? 0) + 1);
          if (host === "fail-stage2") {
            failedStage2.add(obj.value);
            const failed = sampleStage2Result({ status: "failed", code: "RESTORE_FAILED", reason: "the boot target could not be put back; the guest waits in single-user mode", targetRestored: false, guestState: "single-user", powerOff: "not-attempted" });
            printOnSerial(name, devs, `Welcome to emergency mode\r\n${consoleBlock(STAGE2_RESULT_MARKERS, failed)}`);
            continue;
          }
          poweringOff.add(obj.value);
          printOnSerial(name, devs, `[    1.000000] Linux version 6.1 (${name})\r\n${consoleBlock(STAGE2_RESULT_MARKERS, sampleStage2Result({}))}`);
          // the sentinel installs the tools and powers the guest off
          void (async () => {
            try {
              const task = toRef(await c.call("PowerOffVM_Task", obj));
              await c.waitTask(task, "PowerOffVM_Task");
            } catch (e) {
              stats.errors.push(`${name}: ${(e as Error).message}`);
            } finally {
              poweringOff.delete(obj.value);
            }
          })();
        }
      }
    }
  };
  const loop = (async () => {
    while (!stopped) {
      try {
        await tick();
      } catch (e) {
        if (!stopped) stats.errors.push((e as Error).message);
      }
      await new Promise((r) => setTimeout(r, o.intervalMs ?? 100));
    }
  })();
  return {
    stats,
    stop: async () => {
      stopped = true;
      await loop;
      await c.logout();
    },
  };
}

if (import.meta.main) {
  const [url, user, password, guestRoot] = process.argv.slice(2) as [string, string, string, string];
  const sim = await startGuestSim(url, user, password, guestRoot, { intervalMs: 200 });
  process.on("SIGTERM", () => {
    void sim.stop().then(() => {
      process.stdout.write(JSON.stringify(simReport(sim.stats)) + "\n");
      process.exit(0);
    });
  });
}
