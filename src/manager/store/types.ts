// The one interface behind which a manager keeps its migrations' state: the embedded default
// (state.ts, one JSON file per migration on this host) or PostgreSQL (postgres.ts, shared by
// any number of workers on any number of hosts).
import type { MigrationState } from "../state.ts";

export type Unlock = () => void | Promise<void>;

export interface MigrationStore {
  /** Local directory of the per-migration manager logs (<dir>/<id>.log); the embedded store keeps the state there too. */
  readonly dir: string;
  /** Where a migration's state lives, for messages. */
  file(id: string): string;
  logFile(id: string): string;
  load(id: string): Promise<MigrationState | undefined>;
  /** Persists the whole state at a step boundary, atomically: the step statuses with the step's results. */
  save(st: MigrationState): Promise<void>;
  ids(): string[] | Promise<string[]>;
  /** Takes the migration for this manager (a lock file, or a lease); throws StateError when another holds it. */
  lock(id: string): Unlock | Promise<Unlock>;
}
