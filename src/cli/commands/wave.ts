// `migrate --wave NAME`: checks every spec, then queues them in PostgreSQL in one transaction.
import { loadSpec, SpecError } from "../../manager/spec.ts";
import { initialState } from "../../manager/store/initial.ts";
import { describeUrl } from "../../manager/store/open.ts";
import { PgStore } from "../../manager/store/postgres.ts";
import { enqueue, ensureQueue, startQueue } from "../../manager/store/queue.ts";
import type { MigrationState } from "../../manager/state.ts";
import { UsageError } from "../args.ts";

export const DEFAULT_LEASE_S = 30;

export async function enqueueWave(o: { url: string; wave: string; driver: string; logDir: string; specPaths: string[]; json: boolean }): Promise<number> {
  if (!/^[A-Za-z0-9._-]{1,80}$/.test(o.wave)) throw new UsageError(`--wave: 1-80 of A-Z a-z 0-9 . _ -`);
  const states: MigrationState[] = [];
  const seen = new Set<string>();
  for (const p of o.specPaths) {
    try {
      const spec = await loadSpec(p);
      if (seen.has(spec.migrationId)) throw new UsageError(`migration ${spec.migrationId} is given twice`);
      seen.add(spec.migrationId);
      states.push(initialState({ spec, specPath: p, driver: o.driver, logDir: o.logDir }));
    } catch (e) {
      if (e instanceof SpecError) throw new UsageError(`bad migration spec: ${e.message}`);
      throw e;
    }
  }
  const warn = (m: string) => process.stderr.write(`osam-fixup migrate: ${m}\n`);
  const store = await PgStore.open({ url: o.url, dir: "" /* queueing writes no manager log */, warn }).catch((e: unknown) => {
    throw new Error(`${describeUrl(o.url)}: ${(e as Error).message}`);
  });
  const boss = await startQueue({ url: o.url, leaseS: DEFAULT_LEASE_S, supervise: false, onError: (e) => warn(`queue: ${e.message}`) });
  try {
    await ensureQueue(boss, o.driver, DEFAULT_LEASE_S);
    const r = await enqueue(store.pool, boss, o.wave, states);
    if (o.json) process.stdout.write(JSON.stringify({ type: "wave-queued", wave: o.wave, ...r }) + "\n");
    else {
      process.stderr.write(`osam-fixup migrate: wave ${o.wave}: ${r.queued.length} queued, ${r.already.length} already queued or running, ${r.finished.length} refused (finished)\n`);
      for (const f of r.finished) process.stderr.write(`  ${f.id}: already ${f.status}\n`);
    }
    return r.finished.length ? 1 : 0;
  } finally {
    await boss.stop({ graceful: false, close: true }).catch(() => undefined);
    await store.close();
  }
}
