// The PostgreSQL store: a migration is a row of osam.migrations holding the whole state (JSON)
// beside the columns `status` reads. A worker takes a migration with a lease (worker name,
// expiry, an epoch bumped at every take) and renews it while it works. Every save is one
// statement, fenced by the epoch and the state's revision, that writes the state with the
// step's result and appends the step transitions to osam.step_events: a worker whose lease was
// taken over cannot write again, and a save retried after a lost connection is applied once.
import { hostname } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { StateError, type MigrationState } from "../state.ts";
import { STEP_NAMES } from "../steps.ts";
import { migrateSchema, MIGRATIONS_TABLE as T, SCHEMA } from "./schema.ts";
import type { MigrationStore, Unlock } from "./types.ts";

export class LeaseLostError extends StateError {
  constructor(message: string) {
    super(message);
    this.name = "LeaseLostError";
  }
}

/** Errors of a database that is restarting or unreachable: worth waiting out. */
export function isTransient(e: unknown): boolean {
  const x = e as { code?: string; message?: string };
  const code = x.code ?? "";
  if (code.startsWith("08") || ["57P01", "57P02", "57P03", "53300"].includes(code)) return true;
  if (["ECONNREFUSED", "ECONNRESET", "ENOENT", "EPIPE", "ETIMEDOUT", "EHOSTUNREACH"].includes(code)) return true;
  return /Connection terminated|connection (is )?(closed|ended)|Client has encountered a connection error|timeout exceeded when trying to connect/i.test(x.message ?? "");
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs fn, waiting out a database restart (transient errors) for up to `forMs`. */
export async function retrying<R>(fn: () => Promise<R>, forMs: number, onRetry?: (e: Error) => void): Promise<R> {
  const until = Date.now() + forMs;
  let wait = 200;
  for (;;) {
    try {
      return await fn();
    } catch (e) {
      if (!isTransient(e) || Date.now() > until) throw e;
      onRetry?.(e as Error);
      await sleep(wait);
      wait = Math.min(wait * 2, 3000);
    }
  }
}

/** A pool that survives the server going away: idle clients that error are dropped, not thrown. */
export function createPool(url: string, max: number, onError?: (e: Error) => void): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max, connectionTimeoutMillis: 10_000, application_name: "osam-fixup" });
  pool.on("error", (e) => onError?.(e));
  return pool;
}

export type RowStatus = "queued" | "running" | "succeeded" | "failed";

/** The status column: queued until a worker starts the first step. */
export function rowStatus(st: MigrationState): RowStatus {
  if (st.status !== "running") return st.status;
  return st.steps.some((s) => s.attempts > 0) ? "running" : "queued";
}

function currentStep(st: MigrationState): { step: string | null; index: number } {
  if (st.status === "failed") return { step: st.error?.step ?? null, index: STEP_NAMES.indexOf(st.error?.step ?? "") + 1 };
  const i = st.steps.findIndex((s) => s.status !== "done");
  return i < 0 ? { step: null, index: st.steps.length } : { step: st.steps[i]?.name ?? null, index: i + 1 };
}

export interface PgStoreOptions {
  url: string;
  /** Local directory for the per-migration manager logs (made by whoever runs migrations). */
  dir: string;
  /** This worker's name in leases and events (default host:pid). */
  worker?: string;
  /** Seconds a lease lasts without renewal (renewed every third of it). */
  leaseS?: number;
  /** How long a save waits for a restarting database before the migration gives up on this worker. */
  retryForMs?: number;
  poolSize?: number;
  warn?: (msg: string) => void;
}

interface Held {
  epoch: number;
}

export class PgStore implements MigrationStore {
  readonly dir: string;
  readonly worker: string;
  readonly pool: pg.Pool;
  readonly leaseS: number;
  private readonly retryForMs: number;
  private readonly warn: (msg: string) => void;
  /** The revision and step statuses last read or written, per migration. */
  private readonly seen = new Map<string, { rev: number; steps: string[] }>();
  private readonly held = new Map<string, Held>();
  private renewTimer: NodeJS.Timeout | undefined;

  private constructor(o: PgStoreOptions) {
    this.dir = o.dir;
    this.worker = o.worker ?? `${hostname()}:${process.pid}`;
    this.leaseS = o.leaseS ?? 30;
    this.retryForMs = o.retryForMs ?? 10 * 60_000;
    this.warn = o.warn ?? (() => undefined);
    this.pool = createPool(o.url, o.poolSize ?? 10, (e) => this.warn(`database connection: ${e.message}`));
  }

  /** Connects and brings the schema up to date (refusing a newer one). */
  static async open(o: PgStoreOptions): Promise<PgStore> {
    const s = new PgStore(o);
    try {
      await retrying(() => migrateSchema(s.pool, s.worker), 30_000);
    } catch (e) {
      await s.pool.end().catch(() => undefined);
      throw e;
    }
    return s;
  }

  file(id: string): string {
    return `${T} id=${id}`;
  }

  logFile(id: string): string {
    return join(this.dir, `${id}.log`);
  }

  private q<R extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<pg.QueryResult<R>> {
    return retrying(() => this.pool.query<R>(text, values), this.retryForMs, (e) => this.warn(`database: ${e.message}; retrying`));
  }

  async load(id: string): Promise<MigrationState | undefined> {
    const r = await this.q<{ state: MigrationState; rev: number; status: RowStatus }>(`SELECT state, rev, status FROM ${T} WHERE id = $1`, [id]);
    const row = r.rows[0];
    if (!row) return undefined;
    this.seen.set(id, { rev: row.rev, steps: row.state.steps.map((s) => s.status) });
    // the elapsed time of a migration counts from its first step, not from when it was queued
    if (row.status === "queued") row.state.startedAtMs = Date.now();
    return row.state;
  }

  async save(st: MigrationState): Promise<void> {
    const held = this.held.get(st.id);
    const seen = this.seen.get(st.id);
    if (!held || !seen) throw new LeaseLostError(`migration ${st.id}: this worker holds no lease on it`);
    st.updatedAt = new Date().toISOString();
    const events = st.steps.flatMap((s, i) => (s.status !== seen.steps[i] ? [{ step: s.name, status: s.status, attempt: s.attempts, error: s.error ?? null }] : []));
    const { step, index } = currentStep(st);
    const status = rowStatus(st);
    const rev = seen.rev;
    const r = await this.q<{ n: number }>(
      `WITH u AS (
         UPDATE ${T} SET state = $4, rev = rev + 1, status = $5, step = $6, step_index = $7,
           error_step = $8, error_code = $9, error_message = $10, updated_at = now(),
           finished_at = CASE WHEN $5 IN ('succeeded', 'failed') THEN now() END,
           lease_expires_at = now() + make_interval(secs => $11)
         WHERE id = $1 AND epoch = $2 AND rev = $3 AND worker = $16
         RETURNING id, epoch, worker),
       e AS (
         INSERT INTO ${SCHEMA}.step_events (migration_id, epoch, worker, step, status, attempt, error)
         SELECT u.id, u.epoch, u.worker, x.step, x.status, x.attempt, x.error
         FROM u, unnest($12::text[], $13::text[], $14::int[], $15::text[]) AS x(step, status, attempt, error))
       SELECT count(*)::int AS n FROM u`,
      [
        st.id, held.epoch, rev, JSON.stringify(st), status, step, index,
        st.error?.step ?? null, st.error?.code ?? null, st.error?.message ?? null, this.leaseS,
        events.map((e) => e.step), events.map((e) => e.status), events.map((e) => e.attempt), events.map((e) => e.error), this.worker,
      ],
    );
    if (r.rows[0]?.n !== 1) {
      // a retried statement whose first attempt committed before the connection dropped
      const now = await this.q<{ epoch: number; rev: number; worker: string | null }>(`SELECT epoch, rev, worker FROM ${T} WHERE id = $1`, [st.id]);
      const cur = now.rows[0];
      if (!(cur && cur.epoch === held.epoch && cur.rev === rev + 1 && cur.worker === this.worker)) {
        this.held.delete(st.id);
        throw new LeaseLostError(`migration ${st.id}: lease lost (now held by ${cur?.worker ?? "nobody"}, epoch ${cur?.epoch ?? "?"}); another worker goes on with it`);
      }
    }
    this.seen.set(st.id, { rev: rev + 1, steps: st.steps.map((s) => s.status) });
  }

  async ids(): Promise<string[]> {
    const r = await this.q<{ id: string }>(`SELECT id FROM ${T} ORDER BY id`);
    return r.rows.map((x) => x.id);
  }

  /** Takes the lease: free, expired, or already this worker's; bumps the epoch so an earlier holder is fenced off. */
  async lock(id: string): Promise<Unlock> {
    const seen = this.seen.get(id);
    const r = await this.q<{ epoch: number; rev: number }>(
      `UPDATE ${T} SET epoch = epoch + 1, worker = $2, lease_expires_at = now() + make_interval(secs => $3)
       WHERE id = $1 AND (worker IS NULL OR worker = $2 OR lease_expires_at < now()) RETURNING epoch, rev`,
      [id, this.worker, this.leaseS],
    );
    const row = r.rows[0];
    if (!row) {
      const cur = (await this.q<{ worker: string | null; until: string | null }>(`SELECT worker, lease_expires_at::text AS until FROM ${T} WHERE id = $1`, [id])).rows[0];
      throw new StateError(cur ? `migration ${id} is held by worker ${cur.worker ?? "?"} (lease until ${cur.until ?? "?"})` : `no migration ${id} in ${T}`);
    }
    if (seen && seen.rev !== row.rev) {
      await this.release(id, row.epoch);
      throw new StateError(`migration ${id} changed while this worker took it (revision ${seen.rev} → ${row.rev}); it is read again`);
    }
    this.held.set(id, { epoch: row.epoch });
    this.startRenewing();
    return () => this.release(id, row.epoch);
  }

  private async release(id: string, epoch: number): Promise<void> {
    if (this.held.get(id)?.epoch === epoch) this.held.delete(id);
    this.seen.delete(id);
    // best effort: a lease that is not released lapses by itself
    await retrying(() => this.pool.query(`UPDATE ${T} SET worker = NULL, lease_expires_at = NULL WHERE id = $1 AND epoch = $2`, [id, epoch]), 15_000).catch((e: unknown) =>
      this.warn(`migration ${id}: could not release the lease: ${(e as Error).message}`),
    );
  }

  /** Ids this worker holds a lease on. */
  holding(): string[] {
    return [...this.held.keys()];
  }

  private startRenewing(): void {
    if (this.renewTimer) return;
    this.renewTimer = setInterval(() => void this.renew(), Math.max(1000, (this.leaseS * 1000) / 3));
    this.renewTimer.unref();
  }

  /** Renews every lease this worker holds (one statement) and its own heartbeat. */
  async renew(): Promise<void> {
    const ids = [...this.held.keys()];
    const epochs = ids.map((i) => this.held.get(i)?.epoch ?? 0);
    try {
      if (ids.length) {
        const r = await this.pool.query<{ id: string }>(
          `UPDATE ${T} m SET lease_expires_at = now() + make_interval(secs => $2)
           FROM unnest($3::text[], $4::int[]) AS h(id, epoch)
           WHERE m.id = h.id AND m.epoch = h.epoch AND m.worker = $1 RETURNING m.id`,
          [this.worker, this.leaseS, ids, epochs],
        );
        const kept = new Set(r.rows.map((x) => x.id));
        for (const id of ids) if (!kept.has(id)) this.warn(`migration ${id}: lease taken over by another worker`);
      }
      await this.pool.query(`UPDATE ${SCHEMA}.workers SET heartbeat_at = now() WHERE name = $1`, [this.worker]);
    } catch (e) {
      this.warn(`lease renewal: ${(e as Error).message}`);
    }
  }

  async registerWorker(o: { driver: string; concurrency: number; version: string }): Promise<void> {
    await this.q(
      `INSERT INTO ${SCHEMA}.workers (name, host, pid, driver, concurrency, lease_s, version) VALUES ($1, $2, $3, $4, $5, $6, $7)
       ON CONFLICT (name) DO UPDATE SET host = $2, pid = $3, driver = $4, concurrency = $5, lease_s = $6, version = $7, started_at = now(), heartbeat_at = now(), stopped_at = NULL`,
      [this.worker, hostname(), process.pid, o.driver, o.concurrency, this.leaseS, o.version],
    );
    this.startRenewing();
  }

  async workerStopped(): Promise<void> {
    await this.pool.query(`UPDATE ${SCHEMA}.workers SET stopped_at = now() WHERE name = $1`, [this.worker]).catch(() => undefined);
  }

  /** Migrations of a driver (and a wave) still queued or running. */
  async unfinishedCount(driver: string, wave?: string): Promise<number> {
    const r = await this.q<{ n: number }>(`SELECT count(*)::int AS n FROM ${T} WHERE status IN ('queued', 'running') AND driver = $1 AND ($2::text IS NULL OR wave = $2)`, [driver, wave ?? null]);
    return r.rows[0]?.n ?? 0;
  }

  /** Stops renewing the leases (they lapse unless released): at close, or a worker left for dead. */
  stopRenewing(): void {
    clearInterval(this.renewTimer);
    this.renewTimer = undefined;
  }

  async close(): Promise<void> {
    this.stopRenewing();
    await this.pool.end().catch(() => undefined);
  }
}
