// Stage 1 against a mounted guest root: inspect, check the inputs against the guest, then
// plan or apply every fixup step, and describe the outcome as result.json.
import { FixupError, CODES } from "../protocol/codes.ts";
import type { Inputs } from "../protocol/inputs.ts";
import type { Result } from "../protocol/schemas.ts";
import { GuestRoot } from "../guest/guest-root.ts";
import { DiskView } from "../guest/view.ts";
import { inspectGuest, type GuestInfo } from "../guest/inspect.ts";
import { devicesFromInventory, mergeDevices } from "../guest/devices.ts";
import { selectSteps } from "../fixups/index.ts";
import type { KnownDevice } from "../guest/devices.ts";
import { runSteps, undoPreviousRun, type RunOutcome } from "../engine/run.ts";
import { chrootRunner, type ExecRunner } from "../engine/exec.ts";
import type { DiskAccess } from "../bootloader/boot-area.ts";
import type { Logger } from "../util/log.ts";
import { VERSION } from "../version.ts";
import { PhaseClock } from "../util/timings.ts";
import { ImageReads } from "../initrd/image-reads.ts";
import { readImagesAhead } from "../initrd/plan.ts";

export interface Stage1Options {
  root: string;
  inputs: Inputs;
  mode: "plan" | "apply";
  log: Logger;
  /** Devices seen by blkid on the attached disks (agent mode); merged over the inventory. */
  devices?: KnownDevice[];
  exec?: ExecRunner;
  /** Raw disk access for boot code backups (tests give disks in memory). */
  disks?: DiskAccess;
  only?: string[];
  skip?: string[];
  onProgress?: (line: string) => void;
  afterChange?: (n: number) => void;
  /** The agent's clock and start, so that the result also times what came before stage 1 (mounts). */
  clock?: PhaseClock;
  startedAt?: Date;
}

export interface Stage1Outcome {
  result: Result;
  outcome: RunOutcome;
  info?: GuestInfo;
}

export function guestFacts(info: GuestInfo): Record<string, unknown> {
  return {
    os: info.os,
    init: info.init,
    firmware: info.firmware,
    kernels: info.kernels,
    initrdTool: info.initrdTool,
    bootloader: { kind: info.bootloader.kind, configs: info.bootloader.configs, blsEntries: info.bootloader.blsEntries.length },
    fstab: info.fstab,
    network: info.network.map((n) => ({
      name: n.name,
      mac: n.mac ?? null,
      ...(n.kind ? { kind: n.kind } : {}),
      ...(n.master ? { master: n.master } : {}),
      ...(n.parent ? { parent: n.parent } : {}),
      configs: n.configs.map((c) => `${c.system}:${c.file}`),
    })),
    ...(info.selinux ? { selinux: info.selinux } : {}),
  };
}

export function failedResult(migrationId: string, startedAt: Date, err: FixupError, extra: Partial<Result> = {}): Result {
  const now = new Date();
  return {
    migrationId,
    status: "failed",
    code: err.code,
    message: err.message,
    ...(err.step ? { step: err.step } : {}),
    startedAt: startedAt.toISOString(),
    finishedAt: now.toISOString(),
    durationMs: now.getTime() - startedAt.getTime(),
    version: VERSION,
    guest: {},
    steps: [],
    warnings: [],
    ...extra,
  };
}

export async function runStage1(o: Stage1Options): Promise<Stage1Outcome> {
  const startedAt = o.startedAt ?? new Date();
  const guest = new GuestRoot(o.root);
  const log = o.log;
  const clock = o.clock ?? new PhaseClock(startedAt.getTime(), log);
  log.info(`stage 1 (${o.mode}) ${VERSION} on ${guest.root} for migration ${o.inputs.system.migrationId}`);
  // the guest is inspected as it was before any earlier run
  const journal = o.mode === "apply" ? await clock.time("undo-previous", () => undoPreviousRun(guest, log, o.onProgress, o.disks)) : undefined;
  const info = await clock.time("inspect", () => inspectGuest(new DiskView(guest)));
  log.info(`guest: ${info.os.name} (${info.os.family}/${info.os.id} ${info.os.version}), init ${info.init}, ${info.kernels.length} kernel(s), initrd ${info.initrdTool}, boot ${info.bootloader.kind}/${info.firmware}`);
  if (info.os.family === "unknown" && !(await guest.exists("/etc/fstab"))) {
    const err = new FixupError("GUEST_NOT_FOUND", `${guest.root} does not look like a Linux root filesystem (no os-release, release file or /etc/fstab)`, "inspect");
    return { result: failedResult(o.inputs.system.migrationId, startedAt, err, { timings: clock.entries }), outcome: { steps: [], planned: [], warnings: [], failure: err } };
  }
  const devices = mergeDevices(o.devices ?? [], devicesFromInventory(o.inputs));
  const steps = selectSteps(o.only, o.skip);
  const base = { info, inputs: o.inputs, devices, log, images: new ImageReads() };
  if (steps.some((s) => s.name === "initrd")) {
    // nothing before the initramfs step writes an image: it is read while they run
    readImagesAhead({ ...base, view: new DiskView(guest) }).then(
      (paths) => paths.length && log.info(`initramfs: reading ${paths.join(", ")} ahead`),
      (e: unknown) => log.debug(`initramfs: no read ahead: ${(e as Error).message}`),
    );
  }
  const outcome = await runSteps(guest, steps, base, {
    mode: o.mode,
    version: VERSION,
    exec: o.exec ?? chrootRunner(guest.root, log),
    disks: o.disks,
    journal,
    onProgress: o.onProgress,
    afterChange: o.afterChange,
    clock,
  });
  const finishedAt = new Date();
  const f = outcome.failure;
  const result: Result = {
    migrationId: o.inputs.system.migrationId,
    status: f ? "failed" : "succeeded",
    code: f ? f.code : CODES.OK.code,
    message: f ? f.message : o.mode === "plan" ? "plan computed; nothing was changed" : `stage 1 succeeded: ${outcome.steps.filter((s) => s.status === "changed").length} step(s) changed the guest`,
    ...(f?.step ? { step: f.step } : {}),
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    durationMs: finishedAt.getTime() - startedAt.getTime(),
    version: VERSION,
    guest: guestFacts(info),
    steps: outcome.steps,
    warnings: outcome.warnings,
    timings: clock.entries,
  };
  log.info(`stage 1 ${o.mode} finished (${result.status}, code ${result.code}): ${result.message}`);
  return { result, outcome, info };
}
