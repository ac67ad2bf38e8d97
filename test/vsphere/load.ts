// The load test: N migrations at once through the manager and the vSphere driver against
// vcsim, the guest side simulated in a separate process (so its memory is not counted).
// Used by test/vsphere/load.test.ts and bench/manager.ts.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { VsphereDriver } from "../../src/manager/drivers/vsphere/driver.ts";
import { Manager, type MigrationOutcome } from "../../src/manager/manager.ts";
import { parseSpec } from "../../src/manager/spec.ts";
import { createDisk, startVcsim, testClient } from "./vcsim.ts";
import { onceEach, type GuestSimReport } from "./guest-sim.ts";

export interface LoadStats {
  migrations: number;
  concurrency: number;
  succeeded: number;
  failures: string[];
  wallS: number;
  perMinute: number;
  medianS: number;
  maxS: number;
  baselineRssMiB: number;
  peakRssMiB: number;
  stage1: number;
  stage2: number;
  /** Per VM: stage 1 and 2 not once each, BEGIN rewritten; and the simulator's errors. */
  onceEach: string[];
}

export async function runLoad(n = 50, concurrency = 50): Promise<LoadStats> {
  const vc = await startVcsim();
  const dir = mkdtempSync(join(tmpdir(), "osam-load-"));
  const sim = spawn(process.execPath, [join(import.meta.dirname, "guest-sim.ts"), vc.url, vc.user, vc.password, vc.guestRoot], { stdio: ["ignore", "pipe", "inherit"] });
  let simOut = "";
  sim.stdout.on("data", (d: Buffer) => (simOut += d.toString()));
  let drv: VsphereDriver | undefined;
  try {
    const c = await testClient(vc);
    const ids = Array.from({ length: n }, (_, i) => `load-${String(i).padStart(3, "0")}`);
    for (const id of ids) {
      await createDisk(c, `[LocalDS_0] rep/${id}.vmdk`);
      await createDisk(c, `[LocalDS_0] osam/fixup-${id}.vmdk`);
    }
    await c.logout();
    drv = await VsphereDriver.connect({ url: vc.url, user: vc.user, password: vc.password, guestUser: "root", guestPassword: "load", pollMs: 100, extraConfig: { "RUN.container": '["busybox"]' } });
    const mgr = new Manager({ driver: drv, stateDir: join(dir, "state"), logDir: join(dir, "logs"), concurrency, pollMs: 250 });
    const jobs = ids.map((id) => ({
      spec: parseSpec({
        migrationId: id,
        source: { firmware: "bios", cpus: 1, memoryMiB: 512, hostname: id },
        nics: [{ sourceMac: "52:54:00:00:00:01", sourceName: "ens3", targetMac: "00:50:56:00:00:01" }],
        disks: [{ path: `[LocalDS_0] rep/${id}.vmdk`, sourceDevice: "/dev/vda" }],
        fixupDisk: { path: `[LocalDS_0] osam/fixup-${id}.vmdk`, kind: "disk" },
        toolsIso: "[LocalDS_0] osam/tools.iso",
        timeouts: { "wait-end": 600, "wait-stage2": 600, "wait-fixup-dir": 600 },
      }),
    }));
    global.gc?.();
    const baseline = process.memoryUsage().rss;
    let peak = baseline;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50);
    const t0 = Date.now();
    let out: MigrationOutcome[];
    try {
      out = await mgr.runAll(jobs);
    } finally {
      clearInterval(sampler);
    }
    const wall = (Date.now() - t0) / 1000;
    if (out.some((o) => o.status !== "succeeded") && process.env.OSAM_DEBUG) console.error(vc.stderr());
    const durs = out.map((o) => o.elapsedMs / 1000).sort((a, b) => a - b);
    sim.kill("SIGTERM");
    await new Promise((r) => sim.once("exit", r));
    const simStats = JSON.parse(simOut.trim() || '{"stage1":{},"stage2":{},"begin":{},"errors":["the guest simulator printed no report"]}') as GuestSimReport;
    return {
      migrations: n,
      concurrency,
      succeeded: out.filter((o) => o.status === "succeeded").length,
      failures: out.filter((o) => o.status !== "succeeded").map((o) => `${o.id}: ${o.message}`),
      wallS: Math.round(wall * 10) / 10,
      perMinute: Math.round((n / wall) * 60 * 10) / 10,
      medianS: Math.round((durs[Math.floor(durs.length / 2)] ?? 0) * 10) / 10,
      maxS: Math.round((durs.at(-1) ?? 0) * 10) / 10,
      baselineRssMiB: Math.round(baseline / 1048576),
      peakRssMiB: Math.round(peak / 1048576),
      stage1: Object.values(simStats.stage1).reduce((a, b) => a + b, 0),
      stage2: Object.values(simStats.stage2).reduce((a, b) => a + b, 0),
      onceEach: onceEach(simStats, ids, vc.guestRoot),
    };
  } finally {
    if (sim.exitCode === null) sim.kill("SIGKILL");
    await drv?.close().catch(() => undefined);
    await vc.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
