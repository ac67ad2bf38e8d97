// A migration's state before its first step, the same for both stores.
import type { MigrationSpec } from "../spec.ts";
import type { MigrationState } from "../state.ts";
import { STEPS } from "../steps.ts";

export function initialState(o: { spec: MigrationSpec; specPath?: string; driver: string; logDir: string }): MigrationState {
  const now = new Date();
  return {
    version: 1,
    id: o.spec.migrationId,
    driver: o.driver,
    spec: o.spec,
    ...(o.specPath ? { specPath: o.specPath } : {}),
    logDir: o.logDir,
    status: "running",
    createdAt: now.toISOString(),
    updatedAt: now.toISOString(),
    startedAtMs: now.getTime(),
    steps: STEPS.map((s) => ({ name: s.name, status: "pending", attempts: 0 })),
  };
}
