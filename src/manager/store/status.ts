// `osam-fixup status`: what a wave (or the embedded store) holds, from either store: counts per
// state and per step, the failures with their codes, and which worker holds what.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type pg from "pg";
import { StateStore } from "../state.ts";
import { rowStatus, type RowStatus } from "./postgres.ts";
import { MIGRATIONS_TABLE, SCHEMA } from "./schema.ts";

export interface StatusRow {
  id: string;
  wave: string | null;
  status: RowStatus;
  step: string | null;
  worker: string | null;
  leaseExpiresAt: string | null;
  leaseLive: boolean;
  error: { step: string | null; code: number | null; message: string | null } | null;
}

export interface WorkerRow {
  name: string;
  host: string | null;
  pid: number | null;
  live: boolean;
  heartbeatAt: string | null;
  stoppedAt: string | null;
}

export interface StatusReport {
  store: string;
  wave: string | null;
  total: number;
  states: Record<RowStatus, number>;
  /** Unfinished migrations by the step they are at. */
  steps: Record<string, number>;
  failures: { id: string; wave: string | null; step: string | null; code: number | null; message: string | null }[];
  workers: (WorkerRow & { holding: { id: string; step: string | null; leaseExpiresAt: string | null; leaseLive: boolean }[] })[];
}

export function report(store: string, wave: string | null, rows: StatusRow[], workers: WorkerRow[]): StatusReport {
  const states: Record<RowStatus, number> = { queued: 0, running: 0, succeeded: 0, failed: 0 };
  const steps: Record<string, number> = {};
  for (const r of rows) {
    states[r.status]++;
    if ((r.status === "queued" || r.status === "running") && r.step) steps[r.step] = (steps[r.step] ?? 0) + 1;
  }
  const byWorker = new Map<string, WorkerRow>(workers.map((w) => [w.name, w]));
  for (const r of rows) if (r.worker && !byWorker.has(r.worker)) byWorker.set(r.worker, { name: r.worker, host: null, pid: null, live: r.leaseLive, heartbeatAt: null, stoppedAt: null });
  return {
    store,
    wave,
    total: rows.length,
    states,
    steps,
    failures: rows.filter((r) => r.status === "failed").map((r) => ({ id: r.id, wave: r.wave, step: r.error?.step ?? null, code: r.error?.code ?? null, message: r.error?.message ?? null })),
    workers: [...byWorker.values()].map((w) => ({
      ...w,
      holding: rows.filter((r) => r.worker === w.name).map((r) => ({ id: r.id, step: r.step, leaseExpiresAt: r.leaseExpiresAt, leaseLive: r.leaseLive })),
    })),
  };
}

export async function pgStatus(pool: pg.Pool, store: string, wave: string | null): Promise<StatusReport> {
  const r = await pool.query<{ id: string; wave: string; status: RowStatus; step: string | null; worker: string | null; lease: string | null; live: boolean | null; error_step: string | null; error_code: number | null; error_message: string | null }>(
    `SELECT id, wave, status, step, worker, lease_expires_at::text AS lease, lease_expires_at > now() AS live, error_step, error_code, error_message
     FROM ${MIGRATIONS_TABLE} WHERE $1::text IS NULL OR wave = $1 ORDER BY id`,
    [wave],
  );
  const w = await pool.query<{ name: string; host: string; pid: number; live: boolean; heartbeat_at: string; stopped_at: string | null }>(
    `SELECT name, host, pid, heartbeat_at::text, stopped_at::text, stopped_at IS NULL AND heartbeat_at > now() - make_interval(secs => lease_s) AS live
     FROM ${SCHEMA}.workers WHERE stopped_at IS NULL OR stopped_at > now() - interval '1 day' ORDER BY name`,
  );
  return report(
    store,
    wave,
    r.rows.map((x) => ({ id: x.id, wave: x.wave, status: x.status, step: x.step, worker: x.worker, leaseExpiresAt: x.lease, leaseLive: Boolean(x.live), error: x.status === "failed" ? { step: x.error_step, code: x.error_code, message: x.error_message } : null })),
    w.rows.map((x) => ({ name: x.name, host: x.host, pid: x.pid, live: x.live, heartbeatAt: x.heartbeat_at, stoppedAt: x.stopped_at })),
  );
}

/** The embedded store: one host, so a "worker" is the pid in a migration's lock file. */
export async function fileStatus(dir: string): Promise<StatusReport> {
  const store = new StateStore(dir);
  const rows: StatusRow[] = [];
  for (const id of store.ids()) {
    const st = await store.load(id).catch(() => undefined);
    if (!st) continue;
    const lock = join(dir, `${id}.lock`);
    const pid = existsSync(lock) ? readFileSync(lock, "utf8").trim() : "";
    const at = st.status === "failed" ? (st.error?.step ?? null) : (st.steps.find((s) => s.status !== "done")?.name ?? null);
    rows.push({
      id,
      wave: null,
      status: rowStatus(st),
      step: at,
      worker: pid ? `pid ${pid}` : null,
      leaseExpiresAt: null,
      leaseLive: Boolean(pid),
      error: st.error ? { step: st.error.step, code: st.error.code ?? null, message: st.error.message } : null,
    });
  }
  return report(`files in ${dir}`, null, rows, []);
}

export function renderStatus(r: StatusReport): string {
  const out: string[] = [];
  out.push(`${r.wave ? `wave ${r.wave}` : "all migrations"} (${r.store}): ${r.total} migration(s)`);
  out.push(`  ${(Object.keys(r.states) as RowStatus[]).map((k) => `${k} ${r.states[k]}`).join(", ")}`);
  const steps = Object.entries(r.steps);
  if (steps.length) out.push(`at step: ${steps.map(([k, v]) => `${k} ${v}`).join(", ")}`);
  if (r.failures.length) {
    out.push(`failures (${r.failures.length}):`);
    for (const f of r.failures) out.push(`  ${f.id}${f.wave && !r.wave ? ` [${f.wave}]` : ""}: step ${f.step ?? "?"}${f.code !== null ? `, code ${f.code}` : ""}: ${f.message ?? ""}`);
  }
  if (r.workers.length) {
    out.push("workers:");
    for (const w of r.workers) {
      const state = w.stoppedAt ? `stopped ${w.stoppedAt}` : w.live ? "live" : `silent since ${w.heartbeatAt ?? "?"}`;
      const held = w.holding.map((h) => `${h.id} (${h.step ?? "-"}${h.leaseLive ? "" : ", lease expired"})`);
      out.push(`  ${w.name}: ${state}; holding ${held.length}${held.length ? `: ${held.slice(0, 20).join(", ")}${held.length > 20 ? ", …" : ""}` : ""}`);
    }
  }
  return out.join("\n");
}
