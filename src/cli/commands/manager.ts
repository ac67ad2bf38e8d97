import { mkdirSync } from "node:fs";
import { hostname } from "node:os";
import { resolve } from "node:path";
import { Manager, type ManagerEvent } from "../../manager/manager.ts";
import { Progress } from "../../manager/progress.ts";
import { describeUrl } from "../../manager/store/open.ts";
import { PgStore } from "../../manager/store/postgres.ts";
import { ensureQueue, queueName, startQueue } from "../../manager/store/queue.ts";
import { STEP_NAMES } from "../../manager/steps.ts";
import { VERSION } from "../../version.ts";
import { type Command, UsageError, noPositionals, parse, str } from "../args.ts";
import { storeArg } from "./common.ts";
import { createDriver, DRIVER_ARGS, DRIVER_USAGE, driverNameOf, driverOptionsOf } from "./driver-options.ts";
import { DEFAULT_LOG_DIR, DEFAULT_STATE_DIR } from "./migrate.ts";
import { DEFAULT_LEASE_S } from "./wave.ts";

const usage = `Usage: osam-fixup manager --store postgres://… [options]

Runs a worker for the waves queued in PostgreSQL (osam-fixup migrate --wave): takes up to
--concurrency migrations of its driver at a time and runs their steps as \`migrate\` does.
Start one on any number of hosts, against the same database and the same vCenter.

Each migration a worker takes is leased to it (--lease seconds, renewed every third of that)
and every step transition is written with the step's result in one transaction. A worker that
dies stops renewing: when its leases lapse, the other workers take its migrations over and go
on from the last step written, with the --resume rules (a step that may have half run is
checked against the VM before it is done again). Schema migrations of the database are
applied at start; a database newer than this binary is refused.

  --store URL          postgres://user@host:5432/db (or OSAM_STORE); a Unix socket:
                       postgres://user@/db?host=/run/postgresql
  --concurrency N      migrations at once in this worker (default 4)
  --worker NAME        this worker's name in leases and status (default <host>:<pid>)
  --lease SECONDS      how long a lease lasts without renewal (default ${DEFAULT_LEASE_S}, at least 10)
  --drain              exit once no migration of this driver is queued or running
  --state-dir DIR      this host's per-migration manager logs <id>.log (default ${DEFAULT_STATE_DIR})
  --json               machine-readable events, one JSON object per line on stdout
  --poll SECONDS       how often to look at the guest (default 2; the waits for the
                       fixup disk and for END ask a local guest agent every 0.25 s)
  --driver NAME        qemu (default) or vsphere: the worker runs that driver's migrations
${DRIVER_USAGE}

The collected logs go to the --log-dir given to \`migrate --wave\` (default ${DEFAULT_LOG_DIR}):
a directory every worker host must reach at the same path.
Stop: SIGTERM or SIGINT finishes the migrations in hand and takes no more; a second one
exits at once (the leases lapse and other workers go on).

Steps: ${STEP_NAMES.join(", ")}
Exit status: 0 stopped or drained, 1 could not start (database, schema, driver), 2 bad usage.`;

export const managerCommand: Command = {
  name: "manager",
  summary: "a worker for waves queued in PostgreSQL: run with --concurrency N on any number of hosts",
  usage,
  async run(argv) {
    const { values, positionals, help } = parse(
      argv,
      {
        ...DRIVER_ARGS,
        store: { type: "string" },
        concurrency: { type: "string" },
        worker: { type: "string" },
        lease: { type: "string" },
        drain: { type: "boolean" },
        "state-dir": { type: "string" },
        json: { type: "boolean" },
        poll: { type: "string" },
      },
      usage,
    );
    if (help) {
      console.log(usage);
      return 0;
    }
    noPositionals(positionals, usage);
    const store = storeArg(values.store, usage);
    if (store.kind !== "postgres") throw new UsageError(`a worker needs a PostgreSQL store: --store postgres://… or OSAM_STORE (one host without a database: osam-fixup migrate)\n\n${usage}`);
    const concurrency = Number(str(values.concurrency) ?? "4");
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new UsageError(`--concurrency must be a positive integer\n\n${usage}`);
    const leaseS = Number(str(values.lease) ?? String(DEFAULT_LEASE_S));
    if (!Number.isInteger(leaseS) || leaseS < 10) throw new UsageError(`--lease must be a whole number of seconds, at least 10\n\n${usage}`);
    const poll = Number(str(values.poll) ?? "2");
    if (!(poll > 0)) throw new UsageError(`--poll must be a positive number of seconds\n\n${usage}`);
    const stateDir = resolve(str(values["state-dir"]) ?? DEFAULT_STATE_DIR);
    const driverName = driverNameOf(values, usage);
    const opts = await driverOptionsOf(driverName, values, stateDir, usage);
    const workerName = str(values.worker) ?? `${hostname()}:${process.pid}`;
    const say = (m: string) => process.stderr.write(`osam-fixup manager ${workerName}: ${m}\n`);

    let pg: PgStore;
    try {
      pg = await PgStore.open({ url: store.url, dir: stateDir, worker: workerName, leaseS, warn: say });
    } catch (e) {
      say(`${describeUrl(store.url)}: ${(e as Error).message}`);
      return 1;
    }
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    let driver;
    try {
      driver = await createDriver(driverName, opts);
    } catch (e) {
      say((e as Error).message);
      await pg.close();
      return 1;
    }
    await pg.registerWorker({ driver: driverName, concurrency, version: VERSION });
    const boss = await startQueue({ url: store.url, leaseS, supervise: true, onError: (e) => say(`queue: ${e.message}`) });
    await ensureQueue(boss, driverName, leaseS);

    const progress = new Progress(values.json ? process.stdout : process.stderr, Boolean(values.json));
    const mgr = new Manager({ driver, stateDir, logDir: DEFAULT_LOG_DIR, concurrency, pollMs: poll * 1000, store: pg });
    mgr.on("event", (e: ManagerEvent) => progress.onEvent(e));
    let inHand = 0;
    const queue = queueName(driverName);
    await boss.work<{ id: string }>(queue, { batchSize: 1, localConcurrency: concurrency, pollingIntervalSeconds: 1 }, async ([job]) => {
      if (!job) return;
      inHand++;
      try {
        await mgr.runOne({ resumeId: job.data.id });
      } catch (e) {
        // not the migration's own failure (that is recorded and done): a lease taken over, a
        // database gone too long; pg-boss gives the job out again and the lease decides who runs it
        say(`migration ${job.data.id}: ${(e as Error).message}`);
        throw e;
      } finally {
        inHand--;
      }
    });
    say(`working on ${queue} with ${concurrency} at once, lease ${leaseS} s, ${describeUrl(store.url)}`);

    await new Promise<void>((done) => {
      let signals = 0;
      const onSignal = () => {
        if (++signals > 1) process.exit(130);
        say("stopping: finishing the migrations in hand");
        done();
      };
      process.on("SIGTERM", onSignal);
      process.on("SIGINT", onSignal);
      if (values.drain) {
        const t = setInterval(() => {
          void pg.unfinishedCount(driverName).then(
            (n) => {
              if (n === 0 && inHand === 0) {
                clearInterval(t);
                say("drained: nothing queued or running");
                done();
              }
            },
            () => undefined,
          );
        }, 2000);
      }
    });
    await boss.offWork(queue, { wait: true }).catch((e: unknown) => say(`stopping the queue: ${(e as Error).message}`));
    await boss.stop({ graceful: true, close: true }).catch(() => undefined);
    progress.stop();
    await driver.close();
    await pg.workerStopped();
    await pg.close();
    return 0;
  },
};
