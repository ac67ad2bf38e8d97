import { resolve } from "node:path";
import { describeUrl } from "../../manager/store/open.ts";
import { createPool } from "../../manager/store/postgres.ts";
import { fileStatus, pgStatus, renderStatus, type StatusReport } from "../../manager/store/status.ts";
import { SchemaTooNewError, SCHEMA_VERSION } from "../../manager/store/schema.ts";
import { type Command, UsageError, noPositionals, parse, str } from "../args.ts";
import { storeArg } from "./common.ts";
import { DEFAULT_STATE_DIR } from "./migrate.ts";

const usage = `Usage: osam-fixup status [--store STORE] [--wave NAME] [--json]

Shows the migrations of a store: how many are queued, running, succeeded and failed, how many
are at each step, every failure with its step and code, and which worker holds which
migration (with its lease: live or expired, i.e. the worker died and another will take over).

  --store STORE    files (default: the embedded store in --state-dir) or postgres://… (or OSAM_STORE)
  --state-dir DIR  the embedded store (default ${DEFAULT_STATE_DIR})
  --wave NAME      this wave only (PostgreSQL)
  --json           one JSON object: {store, wave, total, states, steps, failures, workers}

Exit status: 0 shown, 1 the store could not be read, 2 bad usage.`;

export const statusCommand: Command = {
  name: "status",
  summary: "counts per state and step, failures with codes, which worker holds what",
  usage,
  async run(argv) {
    const { values, positionals, help } = parse(argv, { store: { type: "string" }, "state-dir": { type: "string" }, wave: { type: "string" }, json: { type: "boolean" } }, usage);
    if (help) {
      console.log(usage);
      return 0;
    }
    noPositionals(positionals, usage);
    const store = storeArg(values.store, usage);
    const wave = str(values.wave) ?? null;
    let r: StatusReport;
    if (store.kind === "files") {
      if (wave) throw new UsageError(`--wave needs a PostgreSQL store (waves live there)\n\n${usage}`);
      r = await fileStatus(resolve(str(values["state-dir"]) ?? DEFAULT_STATE_DIR));
    } else {
      const pool = createPool(store.url, 1);
      try {
        const v = await pool.query<{ v: number | null }>(`SELECT (SELECT max(version) FROM osam.schema_version)::int AS v`).catch((e: unknown) => {
          if ((e as { code?: string }).code === "42P01") return { rows: [{ v: null }] };
          throw e;
        });
        const found = v.rows[0]?.v ?? null;
        if (found === null) {
          process.stderr.write(`osam-fixup status: ${describeUrl(store.url)} holds no osam-fixup tables yet (queue a wave first)\n`);
          return 1;
        }
        if (found > SCHEMA_VERSION) throw new SchemaTooNewError(found, SCHEMA_VERSION);
        r = await pgStatus(pool, `PostgreSQL ${describeUrl(store.url)}`, wave);
      } catch (e) {
        process.stderr.write(`osam-fixup status: ${(e as Error).message}\n`);
        return 1;
      } finally {
        await pool.end().catch(() => undefined);
      }
    }
    console.log(values.json ? JSON.stringify(r) : renderStatus(r));
    return 0;
  },
};
