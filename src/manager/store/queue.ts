// The wave's queue: pg-boss on the same PostgreSQL (its own schema, osam_queue). One queue per
// driver, one job per migration, carrying only the migration's id. pg-boss claims jobs with
// SKIP LOCKED, keeps a per-job heartbeat while a worker runs one, and hands a job whose
// heartbeat stopped (its worker died) to another worker; the state itself is in osam.migrations
// (postgres.ts), where the lease and epoch decide who may write.
import { hostname } from "node:os";
import type pg from "pg";
import { PgBoss } from "pg-boss";
import type { MigrationState } from "../state.ts";
import { retrying, rowStatus } from "./postgres.ts";
import { MIGRATIONS_TABLE } from "./schema.ts";

export const QUEUE_SCHEMA = "osam_queue";
export const queueName = (driver: string) => `osam-migrate-${driver}`;

export interface QueueOptions {
  url: string;
  /** Seconds without a heartbeat after which a job goes to another worker (pg-boss's minimum is 10). */
  leaseS: number;
  /** Whether this instance runs pg-boss's supervision (heartbeat expiry, retries): workers do. */
  supervise: boolean;
  onError?: (e: Error) => void;
}

export async function startQueue(o: QueueOptions): Promise<PgBoss> {
  const boss = new PgBoss({
    connectionString: o.url,
    schema: QUEUE_SCHEMA,
    max: 4,
    application_name: `osam-fixup queue ${hostname()}:${process.pid}`,
    supervise: o.supervise,
    schedule: false,
    // a dead worker's jobs are noticed within a few seconds of their heartbeat lapsing
    superviseIntervalSeconds: Math.max(2, Math.round(o.leaseS / 3)),
    monitorIntervalSeconds: Math.max(2, Math.round(o.leaseS / 3)),
  });
  boss.on("error", (e: Error) => o.onError?.(e));
  await retrying(() => boss.start(), 30_000);
  return boss;
}

export async function ensureQueue(boss: PgBoss, driver: string, leaseS: number): Promise<void> {
  const name = queueName(driver);
  if (await boss.getQueue(name)) return;
  await boss.createQueue(name, {
    heartbeatSeconds: Math.max(10, leaseS),
    // a migration may run for hours: the heartbeat, not this bound, notices a dead worker
    expireInSeconds: 24 * 3600,
    retryLimit: 1000,
    retryDelay: 2,
    retryBackoff: true,
    retryDelayMax: 60,
    deleteAfterSeconds: 7 * 24 * 3600,
  });
}

export interface EnqueueResult {
  queued: string[];
  /** Already queued or running (in this wave or another): left as they are. */
  already: string[];
  /** Already finished: refused, as `migrate` refuses a finished migration. */
  finished: { id: string; status: string }[];
}

/** Adds migrations to a wave: each row and its job in one transaction, so neither exists without the other. */
export async function enqueue(pool: pg.Pool, boss: PgBoss, wave: string, states: MigrationState[]): Promise<EnqueueResult> {
  const out: EnqueueResult = { queued: [], already: [], finished: [] };
  const c = await pool.connect();
  try {
    await c.query("BEGIN");
    const db = { executeSql: (text: string, values?: unknown[]) => c.query(text, values) };
    for (const st of states) {
      const ins = await c.query(
        `INSERT INTO ${MIGRATIONS_TABLE} (id, wave, driver, status, step, step_index, state) VALUES ($1, $2, $3, $4, $5, 1, $6)
         ON CONFLICT (id) DO NOTHING RETURNING id`,
        [st.id, wave, st.driver, rowStatus(st), st.steps[0]?.name ?? null, JSON.stringify(st)],
      );
      if (ins.rowCount === 1) {
        await boss.send(queueName(st.driver), { id: st.id }, { db });
        out.queued.push(st.id);
        continue;
      }
      const cur = await c.query<{ status: string }>(`SELECT status FROM ${MIGRATIONS_TABLE} WHERE id = $1`, [st.id]);
      const s = cur.rows[0]?.status ?? "?";
      if (s === "succeeded" || s === "failed") out.finished.push({ id: st.id, status: s });
      else out.already.push(st.id);
    }
    await c.query("COMMIT");
    return out;
  } catch (e) {
    await c.query("ROLLBACK").catch(() => undefined);
    throw e;
  } finally {
    c.release();
  }
}
