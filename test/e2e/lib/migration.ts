// One end-to-end migration of a test image onto emulated VMware hardware, driven through the
// manager's QEMU driver (the same code path the product uses): the fixup disk boots at
// scsi0:15, the agent gets the three maps and BEGIN over the guest agent, stage 1 runs, then
// the replica boots alone for stage 2 (the sentinel installs tools from the tools ISO and
// powers off) and once more to print its marker. Everything is kept in the run directory.
// This module only collects facts; the tests assert on them.
import { execa } from "execa";
import { existsSync, statSync, writeFileSync, openSync, readSync, closeSync } from "node:fs";
import { join } from "node:path";
import { createDriver, sleep, type Driver, type Vm, type VmSpec } from "../../../src/manager/drivers/index.ts";
import { FIXUP_FILES, DEFAULT_FIXUP_DIR, collectedLogName } from "../../../src/protocol/files.ts";
import { Result } from "../../../src/protocol/schemas.ts";
import { coveredMs } from "../../../src/util/timings.ts";
import { diskFiles, ensureDisk, ensureRootfs, type DiskImage, type Variant } from "../../helpers/images.ts";
import { ensureFixupDisk, ensureToolsIso } from "./artifacts.ts";
import { buildMaps, defaultTargetOf, targetMac, type Maps } from "./maps.ts";
import { parseMarker, type Marker } from "./marker.ts";
import { parseNetState, type NetState } from "./netstate.ts";
import { describeVerification, lastVerification } from "../../../src/manager/verify.ts";
import type { Verification } from "../../../src/protocol/schemas.ts";
import { newRunDir } from "./paths.ts";
import { runSourcePreflight, sourcePreflightWanted, type SourcePreflight } from "./preflight-boot.ts";

/** Serial lines that mean a boot has failed; the wait stops shortly after one appears. */
export const BOOT_FAILURES = [
  /Gave up waiting for root/,
  /ALERT! .* does not exist/,
  /dracut-initqueue.*timeout/,
  /Entering emergency mode/,
  /You are in emergency mode/,
  /Kernel panic/,
  /grub rescue>/,
  /error: no such device/,
  /Boot failed/,
  /No bootable device/,
];

export interface Timings {
  /** power on -> /tmp/fixup exists (fixup disk boot, agent waiting) */
  fixupDiskBoot?: number;
  /** BEGIN written -> END seen */
  stage1?: number;
  /** result.json durationMs, the agent's own view of stage 1 */
  stage1Agent?: number;
  /** seconds of the guest's own tools run in the chroot (initramfs, grub), from fixup.log */
  guestTools?: number;
  /** replica power on -> the sentinel powered it off */
  stage2?: number;
  /** replica power on -> marker printed and powered off */
  markerBoot?: number;
  /** from the first power on to the end of stage 2 */
  migration?: number;
  /** an md guest's boot from its second disk alone (migration.test.ts) */
  secondDiskBoot?: number;
}

export interface E2eRun {
  variant: Variant;
  runDir: string;
  migrationId: string;
  image: DiskImage;
  maps: Maps;
  expectDefaultTarget: string;
  expectRootDriver: string;
  timings: Timings;
  resultRaw?: string;
  result?: Result;
  marker?: Marker;
  /** The bridge and bond images' network facts from the marker boot (netstate.ts). */
  netState?: NetState;
  /** `osam-fixup preflight` run on the source booted on virtio, before the migration (preflight-boot.ts). */
  sourcePreflight?: SourcePreflight;
  /** The guest's own check of its first boot, printed on the serial console of the marker boot. */
  verification?: Verification;
  /** "ran", or why stage 2 was left out */
  stage2: string;
  /** name -> host path of every log kept */
  logs: Record<string, string>;
  /** What stopped the flow before all facts were collected (not an assertion). */
  flowError?: string;
}

export interface E2eOptions {
  log?: (line: string) => void;
  /** Print agent progress lines as they arrive (the demo does). */
  onProgress?: (line: string) => void;
  memoryMiB?: number;
  cpus?: number;
  /** Image NICs (by index) left out of network-interface-map.json: the VM still has them. */
  unmappedNics?: number[];
  /** Stop once stage 1 has ended and its logs are fetched (bench:peer times stage 1 only). */
  stage1Only?: boolean;
  /** The source disk to migrate, instead of the current recipe's (ensureDisk). */
  image?: DiskImage;
  /** Boot the source and run preflight in it first (default: sourcePreflightWanted()). */
  sourcePreflight?: boolean;
}

const MIN = 60_000;

function sec(ms: number): number {
  return Math.round(ms / 100) / 10;
}

/** Bytes appended to a file since `from`, as text. */
export function readFrom(path: string, from: number): string {
  if (!existsSync(path)) return "";
  const size = statSync(path).size;
  if (size <= from) return "";
  const fd = openSync(path, "r");
  try {
    const buf = Buffer.alloc(size - from);
    readSync(fd, buf, 0, buf.length, from);
    return buf.toString("utf8");
  } finally {
    closeSync(fd);
  }
}

function sizeOf(path: string | undefined): number {
  return path && existsSync(path) ? statSync(path).size : 0;
}

/** The last lines of a console log, runs of identical lines collapsed ("(x23)"). */
export function tail(text: string, lines = 25): string {
  const out: string[] = [];
  let prev = "";
  let n = 0;
  const flush = () => {
    if (n > 1) out[out.length - 1] += `  (x${n})`;
  };
  for (const raw of text.split(/\r?\n/)) {
    // drop terminal control sequences (GRUB and systemd's status spinner)
    // eslint-disable-next-line no-control-regex -- ESC is exactly what is being removed
    const l = raw.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, "").trimEnd();
    if (!l.trim()) continue;
    if (l === prev) {
      n++;
      continue;
    }
    flush();
    out.push(l);
    prev = l;
    n = 1;
  }
  flush();
  return out.slice(-lines).join("\n");
}

export type BootOutcome = "off" | "failed" | "timeout";

/**
 * Waits until the VM powers itself off, a boot failure shows on its serial console (then
 * powers it off after a few seconds more of output), or the timeout (then powers it off).
 */
export async function waitBoot(vm: Vm, serialFrom: number, timeoutMs: number, extraFail: RegExp[] = []): Promise<{ outcome: BootOutcome; seconds: number; serial: string; failure?: string }> {
  const t0 = Date.now();
  const fails = [...BOOT_FAILURES, ...extraFail];
  for (;;) {
    if ((await vm.powerState()) === "off") return { outcome: "off", seconds: sec(Date.now() - t0), serial: readFrom(vm.serialLogPath ?? "", serialFrom) };
    const text = readFrom(vm.serialLogPath ?? "", serialFrom);
    const hit = fails.find((re) => re.test(text));
    if (hit) {
      const seconds = sec(Date.now() - t0);
      await sleep(5000);
      await vm.powerOff();
      return { outcome: "failed", seconds, serial: readFrom(vm.serialLogPath ?? "", serialFrom), failure: hit.source };
    }
    if (Date.now() - t0 > timeoutMs) {
      await vm.powerOff();
      return { outcome: "timeout", seconds: sec(Date.now() - t0), serial: readFrom(vm.serialLogPath ?? "", serialFrom) };
    }
    await sleep(1000);
  }
}

/** Sum of the chroot command times the engine logged ("exec: exit N after X ms"): for a result.json without timings (commands run side by side count twice). */
export function guestToolSeconds(fixupLog: string): number {
  let ms = 0;
  for (const m of fixupLog.matchAll(/exec: exit -?\d+(?: \(timed out\))? after (\d+) ms/g)) ms += Number(m[1]);
  return sec(ms);
}

async function overlayOf(src: string, dst: string): Promise<void> {
  await execa("qemu-img", ["create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", src, dst]);
}

/** Where a run keeps its overlay of the image's disk i (replica.qcow2, replica-1.qcow2, ...). */
export function replicaPath(runDir: string, i = 0): string {
  return join(runDir, i ? `replica-${i}.qcow2` : "replica.qcow2");
}

/** An overlay of each of the image's disks in the run directory; their paths, disk 0 first. */
async function replicasOf(img: DiskImage, runDir: string): Promise<string[]> {
  const out: string[] = [];
  for (const [i, f] of diskFiles(img).entries()) {
    out.push(replicaPath(runDir, i));
    await overlayOf(f, out[i]!);
  }
  return out;
}

/** The VM of a run: replica disk i (one path, or each disk of the image) at scsi0:i. */
export function vmSpec(name: string, img: DiskImage, replica: string | string[], fixupIso: string | undefined, o: E2eOptions): VmSpec {
  const uefi = img.meta.boot === "uefi";
  return {
    name,
    cpus: o.cpus ?? 2,
    memoryMiB: o.memoryMiB ?? 1024,
    firmware: img.meta.boot,
    nics: img.meta.nics.map((_, i) => ({ mac: targetMac(i), model: "vmxnet3" as const, connected: false })),
    // Debian's OVMF has no PVSCSI driver: under UEFI the boot disk sits on NVMe (DESIGN.md)
    disks: [replica].flat().map((path, unit) => ({ unit, path, format: "qcow2" as const, ...(uefi ? { qemuBus: "nvme" as const } : {}) })),
    ...(fixupIso ? { fixupDisk: { path: fixupIso, kind: "cdrom" as const, ...(uefi ? { qemuBus: "sata" as const } : {}) } } : {}),
  };
}

/** Runs the whole flow for one variant; never throws for a guest-side failure (see flowError). */
export async function runE2eMigration(variant: Variant, o: E2eOptions = {}): Promise<E2eRun> {
  const log = o.log ?? ((l: string) => process.stderr.write(`[e2e ${variant}] ${l}\n`));
  const img = o.image ?? (await ensureDisk(variant));
  const rootfs = await ensureRootfs(variant);
  const fixup = await ensureFixupDisk();
  let toolsIso: string | undefined;
  let stage2 = "ran";
  try {
    toolsIso = await ensureToolsIso(img.meta.suite);
    if (!toolsIso) stage2 = "left out: scripts/build-tools-iso.sh is not in the tree";
  } catch (e) {
    stage2 = `left out: the tools ISO did not build (${(e as Error).message})`;
  }
  const runDir = newRunDir(variant);
  const migrationId = `e2e-${variant}-${runDir.slice(-15).replace(/[^0-9]/g, "")}`;
  const expectDefaultTarget = defaultTargetOf(rootfs);
  const maps = buildMaps(img, migrationId, expectDefaultTarget);
  const unmapped = new Set((o.unmappedNics ?? []).map((i) => img.meta.nics[i]?.mac));
  maps.networkInterfaceMap.interfaces = maps.networkInterfaceMap.interfaces.filter((n) => !unmapped.has(n.sourceMac));
  const run: E2eRun = {
    variant,
    runDir,
    migrationId,
    image: img,
    maps,
    expectDefaultTarget,
    expectRootDriver: img.meta.boot === "uefi" ? "nvme" : "vmw_pvscsi",
    timings: {},
    stage2,
    logs: {},
  };
  log(`run directory ${runDir}`);
  for (const [k, v] of Object.entries({ systemConfiguration: maps.systemConfiguration, replicaDiskMap: maps.replicaDiskMap, networkInterfaceMap: maps.networkInterfaceMap })) {
    writeFileSync(join(runDir, FIXUP_FILES[k as keyof Maps]), JSON.stringify(v, null, 2) + "\n");
  }
  if (o.sourcePreflight ?? sourcePreflightWanted()) {
    run.sourcePreflight = await runSourcePreflight(img, maps, runDir, log).catch((e: Error) => ({ bootSeconds: 0, serialPath: "", error: e.message }));
  }
  const replica = await replicasOf(img, runDir);

  const driver: Driver = await createDriver("qemu", { qemu: { stateDir: join(runDir, "vm"), accel: "tcg" } });
  let vm: Vm | undefined;
  const keepSerial = (name: string, from: number) => {
    const p = join(runDir, `${name}.serial`);
    writeFileSync(p, readFrom(vm?.serialLogPath ?? "", from));
    run.logs[`${name} serial`] = p;
    return p;
  };
  try {
    vm = await driver.createVm(vmSpec(migrationId, img, replica, fixup.iso, o));
    const fx = DEFAULT_FIXUP_DIR;

    // --- stage 1 on the fixup disk
    await vm.setBootOrder([{ kind: "disk", unit: 15 }]);
    let from = sizeOf(vm.serialLogPath);
    const tOn = Date.now();
    log("power on from the fixup disk (scsi0:15)");
    await vm.powerOn();
    try {
      await vm.guest.ready({ timeoutMs: 10 * MIN });
      while (!(await vm.guest.exists(fx))) {
        if (Date.now() - tOn > 12 * MIN) throw new Error(`${fx} never appeared`);
        await sleep(vm.guest.quickPollMs ?? 1000);
      }
    } catch (e) {
      keepSerial("fixup", from);
      throw new Error(`the fixup disk did not come up: ${(e as Error).message}\n${tail(readFrom(vm.serialLogPath ?? "", from))}`);
    }
    run.timings.fixupDiskBoot = sec(Date.now() - tOn);
    log(`fixup disk up, ${fx} present after ${run.timings.fixupDiskBoot}s; sending the maps and BEGIN`);
    await vm.guest.writeFile(`${fx}/${FIXUP_FILES.systemConfiguration}`, JSON.stringify(maps.systemConfiguration, null, 2));
    await vm.guest.writeFile(`${fx}/${FIXUP_FILES.replicaDiskMap}`, JSON.stringify(maps.replicaDiskMap, null, 2));
    await vm.guest.writeFile(`${fx}/${FIXUP_FILES.networkInterfaceMap}`, JSON.stringify(maps.networkInterfaceMap, null, 2));
    await vm.guest.writeFile(`${fx}/${FIXUP_FILES.begin}`, "");
    const tBegin = Date.now();
    let shown = 0;
    // END asked for as often as the manager's wait-end step asks (GuestOps.quickPollMs), the
    // progress and the power state every LOOK_MS
    const LOOK_MS = 2000;
    const every = vm.guest.quickPollMs ?? LOOK_MS;
    for (let lastLook = 0; ; await sleep(every)) {
      if (await vm.guest.exists(`${fx}/${FIXUP_FILES.end}`)) break;
      if (Date.now() - lastLook < LOOK_MS) continue;
      lastLook = Date.now();
      if (o.onProgress) {
        const p = (await vm.guest.readFile(`${fx}/${FIXUP_FILES.progress}`).catch(() => Buffer.alloc(0))).toString("utf8").split("\n").filter(Boolean);
        for (const l of p.slice(shown)) o.onProgress(l);
        shown = Math.max(shown, p.length);
      }
      if ((await vm.powerState()) === "off") throw new Error("the fixup VM powered off before END");
      if (Date.now() - tBegin > 40 * MIN) throw new Error("no END after 40 minutes");
    }
    run.timings.stage1 = sec(Date.now() - tBegin);
    const fetch = async (f: string, local: string, name: string) => {
      const data = await vm!.guest.readFile(`${fx}/${f}`).catch(() => undefined);
      if (data === undefined) return undefined;
      const p = join(runDir, local);
      writeFileSync(p, data);
      run.logs[name] = p;
      return data.toString("utf8");
    };
    run.resultRaw = await fetch(FIXUP_FILES.result, collectedLogName(migrationId, "result"), "result.json");
    const fixupLog = await fetch(FIXUP_FILES.log, collectedLogName(migrationId, "log"), "fixup.log");
    const progress = await fetch(FIXUP_FILES.progress, `${migrationId}_progress.txt`, "progress.txt");
    if (o.onProgress && progress) for (const l of progress.split("\n").filter(Boolean).slice(shown)) o.onProgress(l);
    if (run.resultRaw) {
      const parsed = Result.safeParse(JSON.parse(run.resultRaw));
      if (parsed.success) {
        run.result = parsed.data;
        run.timings.stage1Agent = sec(parsed.data.durationMs);
      }
    }
    const commands = run.result?.timings?.filter((e) => e.phase === "exec");
    if (commands?.length) run.timings.guestTools = sec(coveredMs(commands));
    else if (fixupLog) run.timings.guestTools = guestToolSeconds(fixupLog);
    log(`END after ${run.timings.stage1}s: ${run.result ? `${run.result.status} (code ${run.result.code}) ${run.result.message}` : "no valid result.json"}`);
    await vm.powerOff();
    keepSerial("fixup", from);
    if (o.stage1Only) {
      run.stage2 = "left out: stage 1 only was asked for";
      return run;
    }

    // --- stage 2: the replica alone, the sentinel installs tools and powers off
    await vm.setBootOrder([{ kind: "disk", unit: 0 }]);
    if (run.result?.status !== "succeeded") {
      // stage 1 restored the originals: the guest is the unfixed source (the negative control)
      run.stage2 = "left out: stage 1 did not succeed";
      log("stage 1 did not succeed: no stage 2 and no marker boot");
      return run;
    }
    if (toolsIso) {
      await vm.addCdrom(toolsIso);
      from = sizeOf(vm.serialLogPath);
      log("stage 2: boot the replica with the tools ISO");
      const t2 = Date.now();
      await vm.powerOn();
      const b = await waitBoot(vm, from, 20 * MIN);
      run.timings.stage2 = sec(Date.now() - t2);
      keepSerial("stage2", from);
      if (b.outcome !== "off") run.stage2 = `ran, but ended with ${b.outcome}${b.failure ? ` (${b.failure})` : ""} after ${b.seconds}s`;
      log(`stage 2 ended (${b.outcome}) after ${run.timings.stage2}s`);
    } else {
      log(`stage 2 ${stage2}`);
    }
    run.timings.migration = sec(Date.now() - tOn);

    // --- the marker boot, NICs connected as after a migration
    for (let i = 0; i < img.meta.nics.length; i++) await vm.setNicConnected(i, true);
    from = sizeOf(vm.serialLogPath);
    log("boot the migrated guest and read its marker");
    const t3 = Date.now();
    await vm.powerOn();
    const b = await waitBoot(vm, from, 10 * MIN);
    run.timings.markerBoot = sec(Date.now() - t3);
    keepSerial("marker", from);
    run.marker = parseMarker(b.serial);
    run.netState = parseNetState(b.serial);
    run.verification = lastVerification(b.serial)?.verification;
    log(run.verification ? describeVerification(run.verification) : "no first-boot verification on the serial console");
    log(run.marker ? `marker: root ${run.marker.root} via ${run.marker.rootDriver}, links ${run.marker.links.map((l) => l.name).join(" ")}, target ${run.marker.defaultTarget}` : `no marker (${b.outcome}${b.failure ? `: ${b.failure}` : ""})`);
  } catch (e) {
    run.flowError = (e as Error).message;
    log(`flow stopped: ${run.flowError}`);
  } finally {
    if (vm) {
      await vm.powerOff().catch(() => undefined);
      run.logs["all serial"] = vm.serialLogPath ?? "";
      await vm.close();
    }
    await driver.close();
    writeFileSync(join(runDir, "e2e-run.json"), JSON.stringify({ ...run, image: { dir: img.dir, disk: img.disk.disk } }, null, 2) + "\n");
  }
  return run;
}

/** The negative control: the same source on the same hardware, no fixup. */
export async function runUnfixedBoot(variant: Variant, o: E2eOptions = {}): Promise<{ outcome: BootOutcome; seconds: number; failure?: string; marker?: Marker; serialPath: string; runDir: string }> {
  const log = o.log ?? ((l: string) => process.stderr.write(`[e2e ${variant} unfixed] ${l}\n`));
  const img = await ensureDisk(variant);
  const runDir = newRunDir(`${variant}-unfixed`);
  const replica = await replicasOf(img, runDir);
  const driver = await createDriver("qemu", { qemu: { stateDir: join(runDir, "vm"), accel: "tcg" } });
  const name = `e2e-unfixed-${variant}`;
  const vm = await driver.createVm(vmSpec(name, img, replica, undefined, o));
  try {
    await vm.setBootOrder([{ kind: "disk", unit: 0 }]);
    for (let i = 0; i < img.meta.nics.length; i++) await vm.setNicConnected(i, true);
    log("boot the source disk, unfixed, on VMware-like hardware");
    await vm.powerOn();
    const b = await waitBoot(vm, 0, 8 * MIN);
    const serialPath = join(runDir, "unfixed.serial");
    writeFileSync(serialPath, b.serial);
    log(`${b.outcome}${b.failure ? ` (${b.failure})` : ""} after ${b.seconds}s`);
    return { outcome: b.outcome, seconds: b.seconds, failure: b.failure, marker: parseMarker(b.serial), serialPath, runDir };
  } finally {
    await vm.powerOff().catch(() => undefined);
    await vm.close();
    await driver.close();
  }
}
