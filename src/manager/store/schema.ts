// The manager's tables in PostgreSQL, versioned. Every worker applies the missing versions at
// start, one at a time under an advisory lock, each in the transaction that records it; a
// database already at a version this binary does not know is refused (an older worker must
// not write rows a newer schema means differently).
import type pg from "pg";

export const SCHEMA = "osam";
export const MIGRATIONS_TABLE = `${SCHEMA}.migrations`;

interface SchemaMigration {
  version: number;
  title: string;
  sql: string;
}

export const SCHEMA_MIGRATIONS: readonly SchemaMigration[] = [
  {
    version: 1,
    title: "migrations, step events, workers",
    sql: `
CREATE TABLE ${SCHEMA}.migrations (
  id               text PRIMARY KEY,
  wave             text NOT NULL,
  driver           text NOT NULL,
  status           text NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
  step             text,
  step_index       int NOT NULL DEFAULT 0,
  state            jsonb NOT NULL,
  rev              int NOT NULL DEFAULT 0,
  epoch            int NOT NULL DEFAULT 0,
  worker           text,
  lease_expires_at timestamptz,
  error_step       text,
  error_code       int,
  error_message    text,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  finished_at      timestamptz
);
CREATE INDEX migrations_wave_status ON ${SCHEMA}.migrations (wave, status);
CREATE INDEX migrations_worker ON ${SCHEMA}.migrations (worker) WHERE worker IS NOT NULL;
CREATE TABLE ${SCHEMA}.step_events (
  id           bigserial PRIMARY KEY,
  migration_id text NOT NULL REFERENCES ${SCHEMA}.migrations (id) ON DELETE CASCADE,
  epoch        int NOT NULL,
  worker       text NOT NULL,
  step         text NOT NULL,
  status       text NOT NULL,
  attempt      int NOT NULL,
  error        text,
  at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX step_events_migration ON ${SCHEMA}.step_events (migration_id);
CREATE TABLE ${SCHEMA}.workers (
  name         text PRIMARY KEY,
  host         text NOT NULL,
  pid          int NOT NULL,
  driver       text NOT NULL,
  concurrency  int NOT NULL,
  lease_s      int NOT NULL,
  version      text NOT NULL,
  started_at   timestamptz NOT NULL DEFAULT now(),
  heartbeat_at timestamptz NOT NULL DEFAULT now(),
  stopped_at   timestamptz
);`,
  },
];

export const SCHEMA_VERSION = Math.max(...SCHEMA_MIGRATIONS.map((m) => m.version));

export class SchemaTooNewError extends Error {
  constructor(found: number, known: number) {
    super(`the database's osam-fixup schema is at version ${found}, newer than this osam-fixup knows (${known}): upgrade osam-fixup on this host rather than run an older one against it`);
    this.name = "SchemaTooNewError";
  }
}

/** Brings the schema to SCHEMA_VERSION; returns the version found and the version now. */
export async function migrateSchema(pool: pg.Pool, appliedBy: string): Promise<{ from: number; to: number }> {
  const c = await pool.connect();
  try {
    await c.query("BEGIN");
    // two workers starting together: the second waits, then finds the work done
    await c.query("SELECT pg_advisory_xact_lock(hashtext('osam-fixup schema'))");
    await c.query(`CREATE SCHEMA IF NOT EXISTS ${SCHEMA}`);
    await c.query(`CREATE TABLE IF NOT EXISTS ${SCHEMA}.schema_version (version int PRIMARY KEY, title text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now(), applied_by text NOT NULL)`);
    const r = await c.query<{ v: number }>(`SELECT coalesce(max(version), 0)::int AS v FROM ${SCHEMA}.schema_version`);
    const from = r.rows[0]?.v ?? 0;
    if (from > SCHEMA_VERSION) throw new SchemaTooNewError(from, SCHEMA_VERSION);
    for (const m of SCHEMA_MIGRATIONS) {
      if (m.version <= from) continue;
      await c.query(m.sql);
      await c.query(`INSERT INTO ${SCHEMA}.schema_version (version, title, applied_by) VALUES ($1, $2, $3)`, [m.version, m.title, appliedBy]);
    }
    await c.query("COMMIT");
    return { from, to: SCHEMA_VERSION };
  } catch (e) {
    await c.query("ROLLBACK").catch(() => undefined);
    throw e;
  } finally {
    c.release();
  }
}
