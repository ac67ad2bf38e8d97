// The sentinel's files as stage 1 installs them: the @@NAME@@ placeholders in the embedded
// scripts and unit filled in from src/protocol/files.ts, the one place for these names.
import { GUEST_DATA_DIR, SENTINEL_LOG, SENTINEL_SCRIPT, STAGE2_FILES, STAGE2_NONE } from "../protocol/files.ts";
import { COLLECT_SH, SENTINEL_UNIT, STAGE2_SH, SYSV_INIT_SH } from "./embedded.ts";

export const PLACEHOLDERS: Record<string, string> = {
  DATA_DIR: GUEST_DATA_DIR,
  SCRIPT: SENTINEL_SCRIPT,
  LOG_FILE: SENTINEL_LOG,
  MANIFEST: STAGE2_FILES.manifest,
  STATUS: STAGE2_FILES.status,
  OVERRIDES: STAGE2_FILES.overrides,
  ST_DEFAULT_TARGET: STAGE2_FILES.defaultTarget,
  ST_INITDEFAULT: STAGE2_FILES.initdefault,
  ST_SELINUX: STAGE2_FILES.selinuxMode,
  ST_SYSCONFIG_SINGLE: STAGE2_FILES.sysconfigSingle,
  NONE: STAGE2_NONE,
};

/** Fills in every @@NAME@@; an unknown or unfilled name is a bug, not something to ship. */
export function render(template: string, values: Record<string, string> = PLACEHOLDERS): string {
  const out = template.replace(/@@([A-Z0-9_]+)@@/g, (m, name: string) => {
    const v = values[name];
    if (v === undefined) throw new Error(`sentinel template: no value for ${m}`);
    // the values land inside single-quoted shell words and unit-file lines
    if (/['\n\\]/.test(v)) throw new Error(`sentinel template: unsafe value for ${m}: ${JSON.stringify(v)}`);
    return v;
  });
  return out;
}

export function sentinelScript(): string {
  return render(STAGE2_SH);
}

export function sentinelUnit(): string {
  return render(SENTINEL_UNIT);
}

export function sysvInitScript(): string {
  return render(SYSV_INIT_SH);
}

/** The collect script has no placeholders: it runs on the source, before any of this. */
export function collectScript(): string {
  return COLLECT_SH;
}
