import { resolve } from "node:path";
import { createDriver, DRIVER_NAMES, type DriverName, type DriverOptions } from "../../manager/drivers/index.ts";
import { vsphereOptionsFromEnv } from "../../manager/drivers/vsphere/config.ts";
import { Manager, type Job, type ManagerEvent } from "../../manager/manager.ts";
import { Progress } from "../../manager/progress.ts";
import { loadSpec, SpecError } from "../../manager/spec.ts";
import { StateError } from "../../manager/state.ts";
import { STEP_NAMES } from "../../manager/steps.ts";
import { type Command, UsageError, parse, str } from "../args.ts";

export const DEFAULT_LOG_DIR = "/common/logs/admin";
export const DEFAULT_STATE_DIR = "/var/lib/osam-fixup/manager";

const usage = `Usage: osam-fixup migrate [options] SPEC.json...
       osam-fixup migrate --resume [options] [SPEC.json... | --id ID...]

Drives migrations from the VM side: creates each VM from its spec, boots the fixup disk at
scsi0:15, delivers the three maps and BEGIN, waits for END, copies the logs, switches the boot
to the replica disk with the tools ISO inserted, waits for stage 2 to power the guest off, and
connects the NICs. State is saved at every step; a killed manager continues with --resume.
See docs/manager.md for the spec format.

  --driver NAME        qemu (default: local QEMU with VMware-like hardware) or vsphere
  --state-dir DIR      migration state (default ${DEFAULT_STATE_DIR})
  --log-dir DIR        where <id>_fixup.log and <id>_result.json go (default ${DEFAULT_LOG_DIR})
  --concurrency N      migrations at once (default 4)
  --resume             continue unfinished migrations (all of them without SPEC or --id)
  --id ID              with --resume: this migration (repeatable)
  --json               machine-readable events, one JSON object per line on stdout
  --poll SECONDS       how often to look at the guest (default 2)
qemu driver:
  --vm-dir DIR         VM directories (default <state-dir>/vms)
  --accel tcg|kvm      QEMU accelerator (default tcg)
vsphere driver (credentials only from the environment or a file, never from arguments):
  --vsphere-url URL            https://vcenter/sdk (or OSAM_VSPHERE_URL)
  --vsphere-credentials FILE   JSON {"user","password","guestUser","guestPassword"}
                               (or OSAM_VSPHERE_USER/_PASSWORD, OSAM_GUEST_USER/_PASSWORD)
  --vsphere-datacenter NAME    (or OSAM_VSPHERE_DATACENTER; default: the first one)
  --vsphere-pool PATH          resource pool inventory path (default: the first cluster's)
  --vsphere-folder PATH        VM folder inventory path (default: <datacenter>/vm)
  --vsphere-datastore NAME     datastore for the VM's files (default: the first one)
  --insecure                   do not verify the server's TLS certificate

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
        driver: { type: "string" },
        "state-dir": { type: "string" },
        "log-dir": { type: "string" },
        concurrency: { type: "string" },
        resume: { type: "boolean" },
        id: { type: "string", multiple: true },
        json: { type: "boolean" },
        poll: { type: "string" },
        "vm-dir": { type: "string" },
        accel: { type: "string" },
        "vsphere-url": { type: "string" },
        "vsphere-credentials": { type: "string" },
        "vsphere-datacenter": { type: "string" },
        "vsphere-pool": { type: "string" },
        "vsphere-folder": { type: "string" },
        "vsphere-datastore": { type: "string" },
        insecure: { type: "boolean" },
      },
      usage,
    );
    if (help) {
      console.log(usage);
      return 0;
    }
    const driverName = (str(values.driver) ?? "qemu") as DriverName;
    if (!DRIVER_NAMES.includes(driverName)) throw new UsageError(`--driver must be one of ${DRIVER_NAMES.join(", ")}\n\n${usage}`);
    const concurrency = Number(str(values.concurrency) ?? "4");
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new UsageError(`--concurrency must be a positive integer\n\n${usage}`);
    const poll = Number(str(values.poll) ?? "2");
    if (!(poll > 0)) throw new UsageError(`--poll must be a positive number of seconds\n\n${usage}`);
    const accel = str(values.accel) ?? "tcg";
    if (accel !== "tcg" && accel !== "kvm") throw new UsageError(`--accel must be tcg or kvm\n\n${usage}`);
    const stateDir = resolve(str(values["state-dir"]) ?? DEFAULT_STATE_DIR);
    const logDir = resolve(str(values["log-dir"]) ?? DEFAULT_LOG_DIR);
    const ids = (values.id as string[] | undefined) ?? [];
    if (ids.length && !values.resume) throw new UsageError(`--id goes with --resume\n\n${usage}`);
    if (!values.resume && positionals.length === 0) throw new UsageError(`give at least one migration spec, or --resume\n\n${usage}`);

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

    const opts: DriverOptions = {};
    if (driverName === "qemu") opts.qemu = { stateDir: resolve(str(values["vm-dir"]) ?? `${stateDir}/vms`), accel };
    else {
      try {
        opts.vsphere = await vsphereOptionsFromEnv(process.env, {
          url: str(values["vsphere-url"]),
          credentialsFile: str(values["vsphere-credentials"]),
          datacenter: str(values["vsphere-datacenter"]),
          pool: str(values["vsphere-pool"]),
          folder: str(values["vsphere-folder"]),
          datastore: str(values["vsphere-datastore"]),
          insecure: Boolean(values.insecure),
        });
      } catch (e) {
        throw new UsageError((e as Error).message);
      }
    }
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
