// The steps of a migration, in order (the host-side half of the flow in DESIGN.md). Each step
// is safe to run again after a crash in its middle: it checks where the VM or the guest
// already is (the VM exists, the power state, BEGIN already in the guest) before acting.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { DEFAULT_FIXUP_DIR, FIXUP_FILES, collectedLogName } from "../protocol/files.ts";
import { Result } from "../protocol/schemas.ts";
import type { Logger } from "../util/log.ts";
import { writeAtomic } from "../util/fs.ts";
import { FIXUP_UNIT, GuestFileNotFoundError, sleep, type Driver, type Vm } from "./drivers/types.ts";
import { bootUnit, deriveMaps, vmSpecOf, type MigrationSpec } from "./spec.ts";
import { describeStage2, lastStage2Result, type Stage2Block } from "./stage2.ts";
import { describeVerification, failedChecks, lastVerification, type VerifyBlock } from "./verify.ts";
import type { MigrationState } from "./state.ts";

export interface StepContext {
  state: MigrationState;
  driver: Driver;
  vm(): Promise<Vm>;
  log: Logger;
  signal: AbortSignal;
  /** Milliseconds between two looks at the guest. */
  pollMs: number;
  /** Deadline of this step (ms since epoch), for waits that hand a timeout to the driver. */
  deadline: number;
  save(): Promise<void>;
}

/** A failure the migration reports as is (not a bug): the stage-1 result, a bad guest answer. */
export class MigrationFailure extends Error {
  readonly code: number | undefined;
  constructor(message: string, code?: number) {
    super(message);
    this.name = "MigrationFailure";
    this.code = code;
  }
}

export interface StepDef {
  name: string;
  title: string;
  /** Default timeout in seconds; a spec's "timeouts" overrides it by step name. */
  timeoutS: number;
  run(ctx: StepContext): Promise<void>;
}

const fx = (f: keyof typeof FIXUP_FILES) => `${DEFAULT_FIXUP_DIR}/${FIXUP_FILES[f]}`;

/** Where the state keeps how much serial output came before a boot. */
type SerialMark = "stage2SerialOffset" | "firstBootSerialOffset";

/**
 * Records how much serial output there is before a boot, so that what an earlier boot
 * printed is not taken for this one's. Kept from the first attempt: a rerun after a crash
 * must not skip this boot's output.
 */
async function markSerial(ctx: StepContext, vm: Vm, mark: SerialMark): Promise<void> {
  if (ctx.state[mark] !== undefined || !vm.serialOutput) return;
  ctx.state[mark] = (await vm.serialOutput()).length;
  await ctx.save();
}

/** The guest's serial output since the boot `mark` was recorded for, as text (undefined: the driver has no serial console). */
async function serialSince(ctx: StepContext, vm: Vm, mark: SerialMark): Promise<string | undefined> {
  if (!vm.serialOutput) return undefined;
  const out = await vm.serialOutput();
  return out.subarray(Math.min(ctx.state[mark] ?? 0, out.length)).toString("utf8");
}

/** The newest stage-2 result the guest printed on its serial console since the stage-2 power-on. */
async function stage2FromSerial(ctx: StepContext, vm: Vm): Promise<Stage2Block | undefined> {
  const text = await serialSince(ctx, vm, "stage2SerialOffset");
  return text === undefined ? undefined : lastStage2Result(text);
}

/** Writes what the guest printed as <log-dir>/<id>_<which>.json; returns where. */
async function keepJson(ctx: StepContext, which: "stage2" | "verify", value: unknown): Promise<string> {
  mkdirSync(ctx.state.logDir, { recursive: true });
  const to = join(ctx.state.logDir, collectedLogName(ctx.state.id, which));
  await writeAtomic(to, JSON.stringify(value, null, 2) + "\n");
  return to;
}

/** Keeps the result as <log-dir>/<id>_stage2.json and in the state. */
async function keepStage2(ctx: StepContext, b: Stage2Block): Promise<void> {
  const to = await keepJson(ctx, "stage2", b.result);
  const r = b.result;
  ctx.state.stage2 = { status: r.status, code: r.code, reason: r.reason, toolsInstalled: r.tools.installed, toolsCode: r.tools.code };
  if (ctx.state.collected) ctx.state.collected.stage2 = to;
  await ctx.save();
  ctx.log.info(`collected ${to}: ${describeStage2(r)}`);
}

/**
 * Waits for the end of stage 2: the guest powering itself off, or a result on the serial
 * console that says it will not (a failure: the guest waits in single-user mode for a person;
 * or a power-off that failed after a finished stage 2, which the manager then does itself).
 */
async function waitStage2(ctx: StepContext): Promise<void> {
  const vm = await ctx.vm();
  const timeoutMs = Math.max(1000, ctx.deadline - Date.now());
  if (!vm.serialOutput) {
    await vm.waitPoweredOff({ timeoutMs, signal: ctx.signal });
    return;
  }
  for (;;) {
    ctx.signal.throwIfAborted();
    const off = (await vm.powerState()) === "off";
    const b = await stage2FromSerial(ctx, vm);
    if (b?.result.status === "failed") {
      await keepStage2(ctx, b);
      throw new MigrationFailure(`stage 2 failed (${b.result.code}): ${b.result.reason}`);
    }
    if (off) {
      if (b) await keepStage2(ctx, b);
      else ctx.log.warn("the guest powered off but printed no stage-2 result on its serial console: stage 2's outcome is unknown");
      return;
    }
    if (b?.result.powerOff === "failed") {
      await keepStage2(ctx, b);
      ctx.log.warn(`stage 2 finished but the guest could not power itself off: powering it off (${b.result.reason})`);
      await vm.powerOff();
      return;
    }
    await sleep(ctx.pollMs, ctx.signal);
  }
}

/** Whether this migration's stage 1 installed the first-boot verification, and the manager waits for it. */
export function verifiesFirstBoot(spec: MigrationSpec): boolean {
  const o = spec.options;
  return spec.firstBoot?.verify !== false && o?.installStage2 !== false && o?.verifyFirstBoot !== false;
}

/** Keeps the verification as <log-dir>/<id>_verify.json and in the state. */
async function keepVerification(ctx: StepContext, b: VerifyBlock): Promise<void> {
  const to = await keepJson(ctx, "verify", b.verification);
  const v = b.verification;
  ctx.state.verification = { verified: v.verified, summary: v.summary, hypervisor: v.hypervisor, failed: failedChecks(v) };
  if (ctx.state.collected) ctx.state.collected.verify = to;
  await ctx.save();
  ctx.log.info(`collected ${to}: ${describeVerification(v)}`);
}

/**
 * Waits for the verification that the guest prints on its serial console during its first
 * boot in the restored target. Not verified: the migration fails with what differs, and the
 * VM is left running for a person to look at.
 */
async function waitVerification(ctx: StepContext): Promise<void> {
  const vm = await ctx.vm();
  if (!vm.serialOutput) {
    ctx.log.warn(`the ${ctx.driver.name} driver offers no serial console: the first boot cannot be verified; check the guest by hand`);
    return;
  }
  for (;;) {
    ctx.signal.throwIfAborted();
    const off = (await vm.powerState()) === "off";
    const b = lastVerification((await serialSince(ctx, vm, "firstBootSerialOffset")) ?? "");
    if (b) {
      await keepVerification(ctx, b);
      if (!b.verification.verified) throw new MigrationFailure(`the first boot was not verified: ${b.verification.summary}; the VM is left running: ${failedChecks(b.verification).join("; ")}`);
      return;
    }
    if (off) throw new MigrationFailure("the guest powered off during its first boot without printing its verification on the serial console: its outcome is unknown; boot it and read /var/log/osam-verify.log");
    await sleep(ctx.pollMs, ctx.signal);
  }
}

/** Polls until the file exists, as often as the guest channel bears: both waits are downtime. */
async function pollGuest(ctx: StepContext, what: string, path: string): Promise<void> {
  const vm = await ctx.vm();
  const every = Math.min(ctx.pollMs, vm.guest.quickPollMs ?? ctx.pollMs);
  await vm.guest.ready({ timeoutMs: Math.max(1000, ctx.deadline - Date.now()), signal: ctx.signal });
  let n = 0;
  for (;;) {
    ctx.signal.throwIfAborted();
    try {
      if (await vm.guest.exists(path)) return;
    } catch (e) {
      // the agent may restart or drop a command: keep polling until the step's deadline
      if (n++ % 10 === 0) ctx.log.warn(`polling for ${what}: ${(e as Error).message}`);
    }
    await sleep(every, ctx.signal);
  }
}

export const STEPS: readonly StepDef[] = [
  {
    name: "create-vm",
    title: "create the VM from the blueprint, NICs disconnected, disks at scsi0:0.. and the fixup disk at scsi0:15",
    timeoutS: 300,
    async run(ctx) {
      const vm = await ctx.driver.createVm(vmSpecOf(ctx.state.spec));
      ctx.state.vm = vm.ref;
      await ctx.save();
      const d = await vm.describe();
      ctx.log.info(`VM ${vm.ref.name} (${vm.ref.id}): ${d.disks.map((x) => `scsi0:${x.unit} ${x.path}`).join(", ")}; NICs ${d.nics.map((n) => `${n.mac} ${n.connected ? "connected" : "disconnected"}`).join(", ")}`);
    },
  },
  {
    name: "boot-from-fixup",
    title: "boot from the fixup disk at scsi0:15",
    timeoutS: 120,
    async run(ctx) {
      await (await ctx.vm()).setBootOrder([{ kind: "disk", unit: FIXUP_UNIT }]);
    },
  },
  {
    name: "power-on-fixup",
    title: "power on into the fixup disk",
    timeoutS: 300,
    async run(ctx) {
      await (await ctx.vm()).powerOn();
    },
  },
  {
    name: "wait-fixup-dir",
    title: `wait for the agent's ${DEFAULT_FIXUP_DIR}`,
    timeoutS: 900,
    async run(ctx) {
      await pollGuest(ctx, DEFAULT_FIXUP_DIR, DEFAULT_FIXUP_DIR);
    },
  },
  {
    name: "deliver-maps",
    title: `write the three maps, then ${FIXUP_FILES.begin}`,
    timeoutS: 300,
    async run(ctx) {
      const vm = await ctx.vm();
      // BEGIN starts stage 1: never write it twice (a resumed manager finds it there)
      if (await vm.guest.exists(fx("begin"))) {
        ctx.log.info(`${fx("begin")} is already in the guest: the maps were delivered before a restart`);
        return;
      }
      const maps = deriveMaps(ctx.state.spec);
      await vm.guest.writeFile(fx("systemConfiguration"), JSON.stringify(maps.system, null, 2) + "\n");
      await vm.guest.writeFile(fx("replicaDiskMap"), JSON.stringify(maps.disks, null, 2) + "\n");
      await vm.guest.writeFile(fx("networkInterfaceMap"), JSON.stringify(maps.network, null, 2) + "\n");
      await vm.guest.writeFile(fx("begin"), `${ctx.state.id} ${new Date().toISOString()}\n`);
      ctx.log.info(`delivered ${FIXUP_FILES.systemConfiguration}, ${FIXUP_FILES.replicaDiskMap}, ${FIXUP_FILES.networkInterfaceMap} and ${FIXUP_FILES.begin}`);
    },
  },
  {
    name: "wait-end",
    title: `wait for stage 1 to write ${FIXUP_FILES.end}`,
    timeoutS: 3600,
    async run(ctx) {
      await pollGuest(ctx, FIXUP_FILES.end, fx("end"));
    },
  },
  {
    name: "collect-logs",
    title: `copy ${FIXUP_FILES.log} and ${FIXUP_FILES.result} to the log directory`,
    timeoutS: 300,
    async run(ctx) {
      const vm = await ctx.vm();
      const dir = ctx.state.logDir;
      mkdirSync(dir, { recursive: true });
      const logTo = join(dir, collectedLogName(ctx.state.id, "log"));
      const resTo = join(dir, collectedLogName(ctx.state.id, "result"));
      try {
        await writeAtomic(logTo, await vm.guest.readFile(fx("log")));
      } catch (e) {
        if (!(e instanceof GuestFileNotFoundError)) throw e;
        ctx.log.warn(`${fx("log")} is missing in the guest`);
      }
      let raw: Buffer;
      try {
        raw = await vm.guest.readFile(fx("result"));
      } catch (e) {
        if (e instanceof GuestFileNotFoundError) throw new MigrationFailure(`stage 1 wrote ${FIXUP_FILES.end} but no ${FIXUP_FILES.result}`);
        throw e;
      }
      await writeAtomic(resTo, raw);
      let parsed: unknown;
      try {
        parsed = JSON.parse(raw.toString("utf8"));
      } catch (e) {
        throw new MigrationFailure(`${FIXUP_FILES.result} is not valid JSON: ${(e as Error).message}`);
      }
      const r = Result.safeParse(parsed);
      if (!r.success) throw new MigrationFailure(`${FIXUP_FILES.result} does not match the result schema: ${r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
      ctx.state.stage1 = { status: r.data.status, code: r.data.code, message: r.data.message, ...(r.data.step ? { step: r.data.step } : {}) };
      ctx.state.collected = { log: logTo, result: resTo };
      ctx.log.info(`collected ${logTo} and ${resTo}: stage 1 ${r.data.status} (code ${r.data.code})`);
    },
  },
  {
    name: "check-result",
    title: "stop here if stage 1 failed",
    timeoutS: 30,
    run(ctx) {
      const s = ctx.state.stage1;
      if (!s) return Promise.reject(new MigrationFailure("no stage-1 result was collected"));
      if (s.status !== "succeeded") return Promise.reject(new MigrationFailure(`stage 1 failed (code ${s.code}${s.step ? `, step ${s.step}` : ""}): ${s.message}`, s.code));
      return Promise.resolve();
    },
  },
  {
    name: "power-off-fixup",
    title: "power off the fixup VM",
    timeoutS: 300,
    async run(ctx) {
      await (await ctx.vm()).powerOff();
    },
  },
  {
    name: "boot-from-disk",
    title: "boot from the replica boot disk",
    timeoutS: 120,
    async run(ctx) {
      await (await ctx.vm()).setBootOrder([{ kind: "disk", unit: bootUnit(ctx.state.spec) }]);
    },
  },
  {
    name: "add-cdrom",
    title: "add a CD-ROM",
    timeoutS: 120,
    async run(ctx) {
      await (await ctx.vm()).addCdrom();
    },
  },
  {
    name: "power-on-stage2",
    title: "power on into the guest (stage 2)",
    timeoutS: 300,
    async run(ctx) {
      const vm = await ctx.vm();
      await markSerial(ctx, vm, "stage2SerialOffset");
      await vm.powerOn();
    },
  },
  {
    name: "insert-tools",
    title: "insert the tools ISO",
    timeoutS: 300,
    async run(ctx) {
      await (await ctx.vm()).insertMedia(ctx.state.spec.toolsIso);
    },
  },
  {
    name: "wait-stage2",
    title: "wait for the end of stage 2: the guest powers off, or its serial console reports a failure",
    timeoutS: 3600,
    run: waitStage2,
  },
  {
    name: "connect-nics",
    title: "connect the NICs",
    timeoutS: 120,
    async run(ctx) {
      const vm = await ctx.vm();
      for (let i = 0; i < ctx.state.spec.nics.length; i++) await vm.setNicConnected(i, true);
    },
  },
  {
    name: "power-on-first-boot",
    title: "power on into the restored guest (its first boot on the target)",
    timeoutS: 300,
    async run(ctx) {
      if (!verifiesFirstBoot(ctx.state.spec)) {
        ctx.log.info("the first boot is not verified (firstBoot.verify, options.verifyFirstBoot or options.installStage2 is false): the VM is left powered off");
        return;
      }
      const vm = await ctx.vm();
      await markSerial(ctx, vm, "firstBootSerialOffset");
      if ((await vm.powerState()) !== "on") await vm.powerOn();
    },
  },
  {
    name: "verify-first-boot",
    title: "wait for the guest's own check of its first boot (root, driver, NICs, addresses, route, DNS, target, units, tools)",
    timeoutS: 900,
    async run(ctx) {
      if (!verifiesFirstBoot(ctx.state.spec)) return;
      await waitVerification(ctx);
      if (ctx.state.spec.firstBoot?.leave === "off") {
        const vm = await ctx.vm();
        if ((await vm.powerState()) !== "off") await vm.powerOff();
      }
    },
  },
];

export const STEP_NAMES: readonly string[] = STEPS.map((s) => s.name);
