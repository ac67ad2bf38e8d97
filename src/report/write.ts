// Writes report pages next to the logs they are made from: <id>_report.html per migration,
// index.html for the wave (the log directory).
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { writeAtomic } from "../util/fs.ts";
import { filesIn, loadMigration, migrationIds, reportFileName, type ManagerView, type MigrationInput } from "./load.ts";
import { renderMigrationPage } from "./migration-page.ts";
import { renderWavePage } from "./wave-page.ts";

export const WAVE_PAGE = "index.html";

export async function writeMigrationPage(m: MigrationInput, out: string, o: { waveLink?: string } = {}): Promise<string> {
  await writeAtomic(out, renderMigrationPage(m, o));
  return out;
}

/**
 * The wave's page for a log directory, and every migration's page beside it. States (the
 * manager's view) add migrations that stopped before their logs were collected.
 */
export async function writeWavePages(dir: string, o: { states?: Map<string, ManagerView>; out?: string; title?: string } = {}): Promise<{ page: string; migrations: number }> {
  await mkdir(dir, { recursive: true });
  const ids = new Set([...migrationIds(dir), ...(o.states?.keys() ?? [])]);
  const ms = [...ids].sort().map((id) => loadMigration(id, filesIn(dir, id), o.states?.get(id)));
  for (const m of ms) await writeMigrationPage(m, join(dir, reportFileName(m.id)), { waveLink: WAVE_PAGE });
  const page = o.out ?? join(dir, WAVE_PAGE);
  await writeAtomic(page, renderWavePage(ms, { title: o.title ?? `Wave ${dir}` }));
  return { page, migrations: ms.length };
}

/** For the manager: one migration's page when it ends, beside its logs (index.html links back once the wave is written). */
export async function writeMigrationReport(logDir: string, id: string, state: ManagerView | undefined): Promise<string> {
  await mkdir(logDir, { recursive: true });
  return writeMigrationPage(loadMigration(id, filesIn(logDir, id), state), join(logDir, reportFileName(id)), { waveLink: WAVE_PAGE });
}
