// The PostgreSQL store on a real throwaway PostgreSQL (test/vsphere/postgres.ts): the schema
// applied once and a newer one refused (by the store and by the binary's commands), leases
// (taken, refused while live, taken over when lapsed, the old holder fenced off), saves that
// write the step events with the state, a wave queued once, and status.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { promisify } from "node:util";
import { parseSpec } from "../../src/manager/spec.ts";
import { initialState } from "../../src/manager/store/initial.ts";
import { LeaseLostError, PgStore } from "../../src/manager/store/postgres.ts";
import { SchemaTooNewError, SCHEMA_VERSION } from "../../src/manager/store/schema.ts";
import { StateError } from "../../src/manager/state.ts";
import type { StatusReport } from "../../src/manager/store/status.ts";
import { startPostgres, type Postgres } from "./postgres.ts";

const MAIN = join(import.meta.dirname, "../../src/cli/main.ts");
const run = promisify(execFile);
let pg: Postgres;
const dir = mkdtempSync(join(tmpdir(), "osam-store-"));

const spec = (id: string) =>
  ({
    migrationId: id,
    source: { firmware: "bios", cpus: 1, memoryMiB: 512 },
    nics: [{ sourceMac: "52:54:00:00:00:01", targetMac: "00:50:56:00:00:01" }],
    disks: [{ path: `[LocalDS_0] rep/${id}.vmdk`, sourceDevice: "/dev/vda" }],
    fixupDisk: { path: `[LocalDS_0] osam/fixup-${id}.vmdk`, kind: "disk" },
    toolsIso: "[LocalDS_0] osam/tools.iso",
  }) as const;

function specFiles(ids: string[]): string[] {
  return ids.map((id) => {
    const p = join(dir, `${id}.json`);
    writeFileSync(p, JSON.stringify(spec(id)));
    return p;
  });
}

before(() => {
  pg = startPostgres();
});
after(() => {
  pg.stop();
  rmSync(dir, { recursive: true, force: true });
});

test("store: migrate --wave queues each migration once, in the table and the queue", async () => {
  const files = specFiles(["q-1", "q-2", "q-3"]);
  const a = await run(process.execPath, [MAIN, "migrate", "--wave", "wq", "--store", pg.url, "--driver", "vsphere", "--json", ...files]);
  assert.deepEqual(JSON.parse(a.stdout), { type: "wave-queued", wave: "wq", queued: ["q-1", "q-2", "q-3"], already: [], finished: [] });
  const b = await run(process.execPath, [MAIN, "migrate", "--wave", "wq", "--store", pg.url, "--driver", "vsphere", "--json", ...files.slice(0, 2)]);
  assert.deepEqual((JSON.parse(b.stdout) as { already: string[] }).already, ["q-1", "q-2"]);
  assert.equal(pg.psql("SELECT count(*) FROM osam.migrations WHERE wave = 'wq' AND status = 'queued'"), "3");
  assert.equal(pg.psql("SELECT count(*) FROM osam_queue.job WHERE name = 'osam-migrate-vsphere'"), "3");
  assert.equal(pg.psql("SELECT max(version) FROM osam.schema_version"), String(SCHEMA_VERSION));
  const st = JSON.parse((await run(process.execPath, [MAIN, "status", "--store", pg.url, "--wave", "wq", "--json"])).stdout) as StatusReport;
  assert.deepEqual(st.states, { queued: 3, running: 0, succeeded: 0, failed: 0 });
  assert.deepEqual(st.steps, { "create-vm": 3 });
});

test("store: --wave needs PostgreSQL, and a worker needs it too (usage errors)", async () => {
  const [f] = specFiles(["u-1"]);
  const e1 = await run(process.execPath, [MAIN, "migrate", "--wave", "x", "--state-dir", dir, f as string]).then(() => undefined, (e: { code: number; stderr: string }) => e);
  assert.equal(e1?.code, 2);
  assert.match(e1?.stderr ?? "", /--wave needs a PostgreSQL store/);
  const e2 = await run(process.execPath, [MAIN, "manager"], { env: { ...process.env, OSAM_STORE: "" } }).then(() => undefined, (e: { code: number; stderr: string }) => e);
  assert.equal(e2?.code, 2);
  assert.match(e2?.stderr ?? "", /a worker needs a PostgreSQL store/);
});

test("store: leases: refused while live, taken over when lapsed, the old holder fenced off", async () => {
  const a = await PgStore.open({ url: pg.url, dir, worker: "A", leaseS: 2 });
  const b = await PgStore.open({ url: pg.url, dir, worker: "B", leaseS: 2 });
  try {
    const st = await a.load("q-1");
    assert.ok(st);
    await a.lock("q-1");
    // a save writes the state and the step transitions in one statement
    const s0 = st.steps[0];
    assert.ok(s0);
    s0.status = "running";
    s0.attempts = 1;
    await a.save(st);
    assert.equal(pg.psql("SELECT status || ' ' || step || ' ' || worker FROM osam.migrations WHERE id = 'q-1'"), "running create-vm A");
    assert.equal(pg.psql("SELECT string_agg(step || ':' || status || ':' || worker, ',') FROM osam.step_events WHERE migration_id = 'q-1'"), "create-vm:running:A");

    await b.load("q-1");
    await assert.rejects(b.lock("q-1"), (e: Error) => e instanceof StateError && /held by worker A/.test(e.message));
    // A stops renewing (as a dead worker does): the lease lapses and B takes it
    a.stopRenewing();
    await new Promise((r) => setTimeout(r, 2500));
    const stB = await b.load("q-1");
    assert.ok(stB);
    await b.lock("q-1");
    assert.equal(stB.steps[0]?.status, "running"); // B resumes from the last persisted step
    s0.status = "done";
    await assert.rejects(a.save(st), LeaseLostError);
    assert.equal(pg.psql("SELECT count(*) FROM osam.step_events WHERE migration_id = 'q-1'"), "1");
    const w = JSON.parse((await run(process.execPath, [MAIN, "status", "--store", pg.url, "--json"])).stdout) as StatusReport;
    assert.deepEqual(w.workers.find((x) => x.name === "B")?.holding.map((h) => h.id), ["q-1"]);
  } finally {
    await a.close();
    await b.close();
  }
});

test("store: a database whose schema is newer than the binary is refused", async () => {
  pg.psql(`INSERT INTO osam.schema_version (version, title, applied_by) VALUES (${SCHEMA_VERSION + 1}, 'from the future', 'test')`);
  try {
    await assert.rejects(PgStore.open({ url: pg.url, dir }), SchemaTooNewError);
    const m = await run(process.execPath, [MAIN, "manager", "--store", pg.url, "--driver", "vsphere", "--state-dir", dir, "--vsphere-url", "http://127.0.0.1:1/sdk"], {
      env: { ...process.env, OSAM_VSPHERE_USER: "u", OSAM_VSPHERE_PASSWORD: "p" },
    }).then(() => undefined, (e: { code: number; stderr: string }) => e);
    assert.equal(m?.code, 1);
    assert.match(m?.stderr ?? "", new RegExp(`schema is at version ${SCHEMA_VERSION + 1}, newer than this osam-fixup knows \\(${SCHEMA_VERSION}\\)`));
    const s = await run(process.execPath, [MAIN, "status", "--store", pg.url]).then(() => undefined, (e: { code: number; stderr: string }) => e);
    assert.equal(s?.code, 1);
    assert.match(s?.stderr ?? "", /newer than this osam-fixup knows/);
  } finally {
    pg.psql(`DELETE FROM osam.schema_version WHERE version > ${SCHEMA_VERSION}`);
  }
});

test("store: initial state is the same for both stores", () => {
  const st = initialState({ spec: parseSpec(spec("i-1")), driver: "vsphere", logDir: "/l" });
  assert.equal(st.status, "running");
  assert.ok(st.steps.every((s) => s.status === "pending" && s.attempts === 0));
});
