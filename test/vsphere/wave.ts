// A wave against vcsim with the PostgreSQL store: N migrations queued by `migrate --wave`, run
// by W `osam-fixup manager` processes, the guest side simulated in another process. Optional
// chaos mid-wave: SIGKILL one worker when it starts a given step, or restart PostgreSQL.
// Counts everything that must happen once. Used by wave.test.ts and bench/waves.ts.
import { spawn, execFile, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { createInterface } from "node:readline";
import { promisify } from "node:util";
import { text } from "../../src/manager/drivers/vsphere/soap.ts";
import { STEP_NAMES } from "../../src/manager/steps.ts";
import { prng } from "../helpers/fuzz.ts";
import type { StatusReport } from "../../src/manager/store/status.ts";
import { startPostgres } from "./postgres.ts";
import { createDisk, startVcsim, testClient } from "./vcsim.ts";
import { onceEach, type GuestSimReport } from "./guest-sim.ts";

const MAIN = join(import.meta.dirname, "../../src/cli/main.ts");
const run = promisify(execFile);

export interface WaveOptions {
  migrations: number;
  workers: number;
  concurrency: number;
  chaos?: "kill" | "restart-db";
  /** Seed of the step the killed worker dies at (default: random). */
  seed?: number;
  leaseS?: number;
}

export interface WaveStats {
  migrations: number;
  workers: number;
  wallS: number;
  perMinute: number;
  status: StatusReport;
  /** Per worker: peak RSS (MiB), migrations it finished, how it ended. */
  perWorker: { name: string; peakRssMiB: number; finished: number; exit: string }[];
  chaos?: { kind: string; step?: string; seed?: number; atDone: number; inFlight: string[]; finishedByOthers: number };
  /** Problems found by counting (empty when every VM, stage and log happened once). */
  problems: string[];
  dbBytes: number;
  dbBytesPer1000: number;
  stepEvents: number;
}

function peakRssMiB(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m?.[1] ? Math.round(Number(m[1]) / 1024) : 0;
  } catch {
    return 0;
  }
}

export async function runWave(o: WaveOptions): Promise<WaveStats> {
  const seed = o.seed ?? Math.floor(Math.random() * 2 ** 31);
  const rnd = prng(seed);
  const vc = await startVcsim();
  const pg = startPostgres();
  const dir = mkdtempSync(join(tmpdir(), "osam-wave-"));
  const sim = spawn(process.execPath, [join(import.meta.dirname, "guest-sim.ts"), vc.url, vc.user, vc.password, vc.guestRoot], { stdio: ["ignore", "pipe", "inherit"] });
  let simOut = "";
  sim.stdout.on("data", (d: Buffer) => (simOut += d.toString()));
  const workers: { name: string; proc: ChildProcess; peak: number; finished: number; exit?: string; done: Promise<void> }[] = [];
  const problems: string[] = [];
  try {
    const c = await testClient(vc);
    const ids = Array.from({ length: o.migrations }, (_, i) => `wave-${String(i).padStart(4, "0")}`);
    mkdirSync(join(dir, "specs"));
    for (const id of ids) {
      await createDisk(c, `[LocalDS_0] rep/${id}.vmdk`);
      await createDisk(c, `[LocalDS_0] osam/fixup-${id}.vmdk`);
      writeFileSync(
        join(dir, "specs", `${id}.json`),
        JSON.stringify({
          migrationId: id,
          source: { firmware: "bios", cpus: 1, memoryMiB: 512, hostname: id },
          nics: [{ sourceMac: "52:54:00:00:00:01", sourceName: "ens3", targetMac: "00:50:56:00:00:01" }],
          disks: [{ path: `[LocalDS_0] rep/${id}.vmdk`, sourceDevice: "/dev/vda" }],
          fixupDisk: { path: `[LocalDS_0] osam/fixup-${id}.vmdk`, kind: "disk" },
          toolsIso: "[LocalDS_0] osam/tools.iso",
          timeouts: { "wait-end": 900, "wait-stage2": 900, "wait-fixup-dir": 900 },
        }),
      );
    }
    const logDir = join(dir, "logs");
    await run(process.execPath, [MAIN, "migrate", "--wave", "w1", "--store", pg.url, "--driver", "vsphere", "--log-dir", logDir, ...ids.map((id) => join(dir, "specs", `${id}.json`))]);

    const env = { ...process.env, OSAM_VSPHERE_URL: vc.url, OSAM_VSPHERE_USER: vc.user, OSAM_VSPHERE_PASSWORD: vc.password, OSAM_GUEST_PASSWORD: "wave", OSAM_VSPHERE_EXTRA_CONFIG: JSON.stringify({ "RUN.container": '["busybox"]' }) };
    let doneTotal = 0;
    const inFlight = new Map<string, Set<string>>();
    const killStep = STEP_NAMES[Math.floor(rnd() * STEP_NAMES.length)] as string;
    // a third of the way in, or at once when the whole wave fits in the workers' hands
    const chaosAt = Math.min(Math.floor(o.migrations / 3), Math.max(0, o.migrations - o.workers * o.concurrency));
    let chaos: WaveStats["chaos"];
    const t0 = Date.now();
    for (let w = 0; w < o.workers; w++) {
      const name = `worker-${w}`;
      const proc = spawn(
        process.execPath,
        [MAIN, "manager", "--store", pg.url, "--driver", "vsphere", "--concurrency", String(o.concurrency), "--json", "--poll", "0.25", "--lease", String(o.leaseS ?? 10), "--drain", "--worker", name, "--state-dir", join(dir, name)],
        { env, stdio: ["ignore", "pipe", "pipe"] },
      );
      const mine = new Set<string>();
      inFlight.set(name, mine);
      let err = "";
      proc.stderr?.on("data", (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
      const rec = { name, proc, peak: 0, finished: 0, exit: undefined as string | undefined, done: Promise.resolve() };
      rec.done = new Promise<void>((res) => {
        proc.once("exit", (code, sig) => {
          rec.exit = sig ?? `exit ${code}`;
          if (code !== 0 && sig !== "SIGKILL") problems.push(`${name} ended ${rec.exit}: ${err}`);
          res();
        });
      });
      createInterface({ input: proc.stdout as NodeJS.ReadableStream }).on("line", (line) => {
        let ev: { type?: string; id?: string; step?: string; status?: string };
        try {
          ev = JSON.parse(line) as typeof ev;
        } catch {
          return;
        }
        if (ev.type === "migration-start" && ev.id) mine.add(ev.id);
        if (ev.type === "migration-done" && ev.id) {
          mine.delete(ev.id);
          rec.finished++;
          doneTotal++;
        }
        if (!chaos && doneTotal >= chaosAt) {
          if (o.chaos === "kill" && w === 0 && ev.type === "step-start" && ev.step === killStep) {
            rec.peak = Math.max(rec.peak, peakRssMiB(proc.pid ?? 0));
            proc.kill("SIGKILL");
            chaos = { kind: "kill", step: killStep, seed, atDone: doneTotal, inFlight: [...mine], finishedByOthers: 0 };
          } else if (o.chaos === "restart-db") {
            chaos = { kind: "restart-db", atDone: doneTotal, inFlight: [], finishedByOthers: 0 };
            pg.restart(2000);
          }
        }
      });
      workers.push(rec);
    }
    // vcsim gone: stop at once (the workers would only fail everything against it)
    vc.proc.once("exit", () => {
      for (const wk of workers) if (wk.exit === undefined) wk.proc.kill("SIGKILL");
    });
    const sampler = setInterval(() => {
      for (const wk of workers) if (wk.exit === undefined) wk.peak = Math.max(wk.peak, peakRssMiB(wk.proc.pid ?? 0));
    }, 500);
    try {
      await Promise.all(workers.map((wk) => wk.done));
    } finally {
      clearInterval(sampler);
    }
    const wall = (Date.now() - t0) / 1000;
    if (vc.proc.exitCode !== null || vc.proc.signalCode !== null) {
      const err = vc.stderr();
      const at = err.search(/panic|fatal error/);
      throw new Error(`vcsim ended (${vc.proc.exitCode ?? vc.proc.signalCode}) during the wave: ${err.slice(Math.max(0, at), Math.max(0, at) + 3000)}`);
    }
    if (o.chaos && !chaos) problems.push(`the ${o.chaos} never happened (step ${killStep})`);

    const st = JSON.parse((await run(process.execPath, [MAIN, "status", "--store", pg.url, "--wave", "w1", "--json"])).stdout) as StatusReport;
    if (st.states.succeeded !== o.migrations) problems.push(`succeeded ${st.states.succeeded} of ${o.migrations}: ${JSON.stringify(st.states)} ${JSON.stringify(st.failures.slice(0, 5))}`);
    // once each: the VM, stage 1, stage 2, the collection, every step's completion
    const vms = await c.propsOfAll("VirtualMachine", ["name"]);
    const vmCount = new Map<string, number>();
    for (const v of vms) vmCount.set(text(v.props.name), (vmCount.get(text(v.props.name)) ?? 0) + 1);
    sim.kill("SIGTERM");
    await new Promise((r) => sim.once("exit", r));
    const simStats = JSON.parse(simOut.trim() || '{"stage1":{},"stage2":{},"begin":{},"errors":["the guest simulator printed no report"]}') as GuestSimReport;
    problems.push(...onceEach(simStats, ids, vc.guestRoot));
    const stepDone = new Map<string, number>();
    for (const line of pg.psql(`SELECT migration_id || ' ' || step || ' ' || count(*) FROM osam.step_events WHERE status = 'done' GROUP BY migration_id, step`).split("\n")) {
      const [id, step, n] = line.split(" ");
      if (id && step) stepDone.set(`${id} ${step}`, Number(n));
    }
    for (const id of ids) {
      if (vmCount.get(id) !== 1) problems.push(`${id}: ${vmCount.get(id) ?? 0} VMs`);
      for (const s of STEP_NAMES) if (stepDone.get(`${id} ${s}`) !== 1) problems.push(`${id}: step ${s} done ${stepDone.get(`${id} ${s}`) ?? 0} times`);
      if (!existsSync(join(logDir, `${id}_result.json`)) || !existsSync(join(logDir, `${id}_fixup.log`))) problems.push(`${id}: logs not collected`);
    }
    if (chaos?.kind === "kill") {
      const list = chaos.inFlight.map((i) => `'${i}'`).join(",") || "''";
      chaos.finishedByOthers = Number(pg.psql(`SELECT count(DISTINCT migration_id) FROM osam.step_events WHERE migration_id IN (${list}) AND worker <> 'worker-0' AND step = 'connect-nics' AND status = 'done'`));
      if (chaos.finishedByOthers !== chaos.inFlight.length) problems.push(`the killed worker held ${chaos.inFlight.length}, others finished ${chaos.finishedByOthers}`);
    }
    const queueLeft = Number(pg.psql(`SELECT count(*) FROM osam_queue.job WHERE state NOT IN ('completed')`));
    if (queueLeft !== 0) problems.push(`${queueLeft} queue job(s) not completed`);
    await c.logout();
    // what the wave stored: the manager's tables and the queue's, with their indexes and TOAST
    const dbBytes = Number(pg.psql(`SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname IN ('osam', 'osam_queue') AND c.relkind IN ('r', 'p')`));
    return {
      migrations: o.migrations,
      workers: o.workers,
      wallS: Math.round(wall * 10) / 10,
      perMinute: Math.round((o.migrations / wall) * 60 * 10) / 10,
      status: st,
      perWorker: workers.map((wk) => ({ name: wk.name, peakRssMiB: wk.peak, finished: wk.finished, exit: wk.exit ?? "?" })),
      ...(chaos ? { chaos } : {}),
      problems,
      dbBytes,
      dbBytesPer1000: Math.round((dbBytes / o.migrations) * 1000),
      stepEvents: Number(pg.psql("SELECT count(*) FROM osam.step_events")),
    };
  } finally {
    for (const wk of workers) if (wk.proc.exitCode === null && wk.proc.signalCode === null) wk.proc.kill("SIGKILL");
    if (sim.exitCode === null) sim.kill("SIGKILL");
    await vc.stop();
    pg.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  const s = await runWave({ migrations: Number(process.argv[2] ?? 6), workers: Number(process.argv[3] ?? 2), concurrency: Number(process.argv[4] ?? 4), ...(process.argv[5] ? { chaos: process.argv[5] as "kill" | "restart-db" } : {}) });
  console.log(JSON.stringify({ ...s, status: { states: s.status.states } }, null, 1));
}
