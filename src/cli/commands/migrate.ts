import { resolve } from "node:path";
import { createDriver } from "../../manager/drivers/index.ts";
import { Manager, type Job, type ManagerEvent } from "../../manager/manager.ts";
import { Progress } from "../../manager/progress.ts";
import { loadSpec, preflightGate, SpecError } from "../../manager/spec.ts";
import { StateError } from "../../manager/state.ts";
import { STEP_NAMES } from "../../manager/steps.ts";
import { type Command, UsageError, parse, str } from "../args.ts";
import { storeArg } from "./common.ts";
import { DRIVER_ARGS, DRIVER_USAGE, driverNameOf, driverOptionsOf } from "./driver-options.ts";
import { enqueueWave } from "./wave.ts";

export const DEFAULT_LOG_DIR = "/common/logs/admin";
export const DEFAULT_STATE_DIR = "/var/lib/osam-fixup/manager";

const usage = `Usage: osam-fixup migrate [options] SPEC.json...
       osam-fixup migrate --resume [options] [SPEC.json... | --id ID...]
       osam-fixup migrate --wave NAME --store postgres://… [options] SPEC.json...

Drives migrations from the VM side: creates each VM from its spec, boots the fixup disk at
scsi0:15, delivers the three maps and BEGIN, waits for END, copies the logs, switches the boot
to the replica disk with the tools ISO inserted, waits for stage 2 to power the guest off, and
connects the NICs. State is saved at every step; a killed manager continues with --resume.
With --wave, the migrations are only queued in PostgreSQL, for \`osam-fixup manager\` workers on
any number of hosts to run (see \`osam-fixup manager --help\`, \`osam-fixup status\`).
See docs/manager.md for the spec format.

  --driver NAME        qemu (default: local QEMU with VMware-like hardware) or vsphere
  --state-dir DIR      migration state (default ${DEFAULT_STATE_DIR})
  --log-dir DIR        where <id>_fixup.log and <id>_result.json go (default ${DEFAULT_LOG_DIR}),
                       with each migration's <id>_report.html and the wave's index.html
                       (osam-fixup report)
  --concurrency N      migrations at once (default 4)
  --resume             continue unfinished migrations (all of them without SPEC or --id)
  --id ID              with --resume: this migration (repeatable)
  --json               machine-readable events, one JSON object per line on stdout
  --poll SECONDS       how often to look at the guest (default 2; the waits for the
                       fixup disk and for END ask a local guest agent every 0.25 s)
  --store STORE        files (the default: state in --state-dir, on this host) or
                       postgres://user@host/db (or OSAM_STORE), which needs --wave
  --force              migrate a source whose spec carries a blocked preflight report
                       (its blockers are printed as warnings)
  --wave NAME          queue the specs as wave NAME in the PostgreSQL store and return
${DRIVER_USAGE}

Steps: ${STEP_NAMES.join(", ")}

Exit status: 0 every migration succeeded, 1 one or more failed, 2 bad usage or a bad spec.`;

export const migrateCommand: Command = {
  name: "migrate",
  summary: "drive migrations from the VM side (local QEMU or vSphere), resumable",
  usage,
  async run(argv) {
    const { values, positionals, help } = parse(
      argv,
      {
        ...DRIVER_ARGS,
        "state-dir": { type: "string" },
        "log-dir": { type: "string" },
        concurrency: { type: "string" },
        resume: { type: "boolean" },
        id: { type: "string", multiple: true },
        json: { type: "boolean" },
        poll: { type: "string" },
        store: { type: "string" },
        wave: { type: "string" },
        force: { type: "boolean" },
      },
      usage,
    );
    if (help) {
      console.log(usage);
      return 0;
    }
    const driverName = driverNameOf(values, usage);
    const concurrency = Number(str(values.concurrency) ?? "4");
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new UsageError(`--concurrency must be a positive integer\n\n${usage}`);
    const poll = Number(str(values.poll) ?? "2");
    if (!(poll > 0)) throw new UsageError(`--poll must be a positive number of seconds\n\n${usage}`);
    const stateDir = resolve(str(values["state-dir"]) ?? DEFAULT_STATE_DIR);
    const logDir = resolve(str(values["log-dir"]) ?? DEFAULT_LOG_DIR);
    const ids = (values.id as string[] | undefined) ?? [];
    if (ids.length && !values.resume) throw new UsageError(`--id goes with --resume\n\n${usage}`);
    if (!values.resume && positionals.length === 0) throw new UsageError(`give at least one migration spec, or --resume\n\n${usage}`);
    const store = storeArg(values.store, usage);
    if (!values.resume) {
      // a spec that carries a blocked preflight report is refused before anything starts
      const refusals: string[] = [];
      for (const p of positionals) {
        let spec;
        try {
          spec = await loadSpec(resolve(p));
        } catch (e) {
          if (e instanceof SpecError) throw new UsageError(`bad migration spec: ${e.message}`);
          throw e;
        }
        const gate = preflightGate(spec, Boolean(values.force));
        for (const w of gate.warnings) process.stderr.write(`osam-fixup migrate: ${w}\n`);
        if (gate.refusal) refusals.push(gate.refusal);
      }
      if (refusals.length) throw new UsageError(refusals.join("\n"));
    }
    const wave = str(values.wave);
    if (wave !== undefined || store.kind === "postgres") {
      if (store.kind !== "postgres") throw new UsageError(`--wave needs a PostgreSQL store: --store postgres://… or OSAM_STORE\n\n${usage}`);
      if (!wave) throw new UsageError(`with a PostgreSQL store, migrate queues a wave: give --wave NAME (workers run it: osam-fixup manager)\n\n${usage}`);
      if (values.resume || ids.length) throw new UsageError(`--wave does not go with --resume or --id: workers resume by themselves\n\n${usage}`);
      return enqueueWave({ url: store.url, wave, driver: driverName, logDir, specPaths: positionals.map((p) => resolve(p)), json: Boolean(values.json) });
    }

    const jobs: Job[] = [];
    try {
      for (const p of positionals) {
        const spec = await loadSpec(resolve(p));
        jobs.push(values.resume ? { resumeId: spec.migrationId } : { spec, specPath: resolve(p) });
      }
    } catch (e) {
      if (e instanceof SpecError) throw new UsageError(`bad migration spec: ${e.message}`);
      throw e;
    }
    for (const id of ids) jobs.push({ resumeId: id });

    const opts = await driverOptionsOf(driverName, values, stateDir, usage);
    let driver;
    try {
      driver = await createDriver(driverName, opts);
    } catch (e) {
      process.stderr.write(`osam-fixup migrate: ${(e as Error).message}\n`);
      return 1;
    }
    const progress = new Progress(values.json ? process.stdout : process.stderr, Boolean(values.json));
    const mgr = new Manager({ driver, stateDir, logDir, concurrency, pollMs: poll * 1000 });
    mgr.on("event", (e: ManagerEvent) => progress.onEvent(e));
    if (values.resume && jobs.length === 0) {
      for (const id of await mgr.unfinished()) jobs.push({ resumeId: id });
      if (jobs.length === 0) {
        progress.stop();
        process.stderr.write(`osam-fixup migrate: nothing to resume in ${stateDir}\n`);
        await driver.close();
        return 0;
      }
    }
    let outcomes;
    try {
      outcomes = await mgr.runAll(jobs);
    } catch (e) {
      if (e instanceof StateError) throw new UsageError(e.message);
      throw e;
    } finally {
      progress.stop();
      await driver.close();
    }
    const failed = outcomes.filter((o) => o.status !== "succeeded");
    if (!values.json) {
      const warned = outcomes.filter((o) => o.status === "succeeded" && o.warnings?.length);
      process.stderr.write(`osam-fixup migrate: ${outcomes.length} migration(s): ${outcomes.length - failed.length} succeeded${warned.length ? ` (${warned.length} with warnings)` : ""}, ${failed.length} failed\n`);
      for (const w of warned) process.stderr.write(`  ${w.id}: succeeded with warnings: ${w.warnings!.join("; ")}\n`);
      for (const f of failed) process.stderr.write(`  ${f.id}: ${f.message}\n`);
    }
    return failed.length ? 1 : 0;
  },
};
