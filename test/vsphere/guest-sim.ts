// The guest side of a migration on vcsim, simulated: every VM that runs a guest container
// (its files are $guestRoot/<container id>/...) behaves like the fixup disk when it is
// powered on booting from scsi0:15 (creates /tmp/fixup, answers BEGIN with fixup.log,
// result.json and END), and like the stage-2 sentinel when it boots from another disk with an
// ISO in its CD-ROM (powers itself off). A hostname "fail-stage1" in the maps makes stage 1
// fail with code 200. Run in-process (startGuestSim) or as a process:
//   node test/vsphere/guest-sim.ts URL USER PASSWORD GUEST_ROOT
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { arr, text, toRef, VimClient, xsiType } from "../../src/manager/drivers/vsphere/soap.ts";

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

function writeAtomic(path: string, data: string): void {
  writeFileSync(path + ".tmp", data);
  renameSync(path + ".tmp", path);
}

export async function startGuestSim(url: string, user: string, password: string, guestRoot: string, o: { intervalMs?: number } = {}): Promise<{ stats: GuestSimStats; stop: () => Promise<void> }> {
  const c = new VimClient(url, { insecure: true });
  await c.connect(user, password);
  const stats: GuestSimStats = { stage1: new Map(), stage2: new Map(), begin: new Map(), errors: [] };
  const poweringOff = new Set<string>();
  let stopped = false;
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
        if (iso && !poweringOff.has(obj.value)) {
          poweringOff.add(obj.value);
          stats.stage2.set(name, (stats.stage2.get(name) ?? 0) + 1);
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
