// The sentinel's files as stage 1 installs them: the @@NAME@@ placeholders in the embedded
// scripts and unit filled in from src/protocol/files.ts, the one place for these names.
import { CONSOLE_WATCHDOG_SECONDS, GUEST_DATA_DIR, NO_PASSWORD_DROPINS, SENTINEL_LOG, SENTINEL_SCRIPT, STAGE2_FILES, STAGE2_NONE, STAGE2_RESULT_MARKERS, VERIFY_FILES, VERIFY_LOG, VERIFY_MARKERS, VERIFY_SCRIPT } from "../protocol/files.ts";
import { CONTROLLER_DRIVER, NIC_DRIVER } from "../initrd/drivers.ts";
import { MIN_FREE_BOOT, MIN_FREE_ROOT } from "../fixups/preflight.ts";
import { CODES } from "../protocol/codes.ts";
import { VERSION } from "../version.ts";
import { COLLECT_SH, PREFLIGHT_SH, SENTINEL_UNIT, STAGE2_SH, SYSV_INIT_SH, SYSV_VERIFY_SH, SYSV_WATCHDOG_SH, VERIFY_SH, VERIFY_UNIT, WATCHDOG_SERVICE, WATCHDOG_TIMER } from "./embedded.ts";

/** The first-boot verification's systemd unit, by name (its script removes it by path). */
export const VERIFY_UNIT_NAME = "osam-verify.service";

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
  RESULT: STAGE2_FILES.result,
  MARK_BEGIN: STAGE2_RESULT_MARKERS.begin,
  MARK_END: STAGE2_RESULT_MARKERS.end,
  DROPIN_RESCUE: NO_PASSWORD_DROPINS[0],
  DROPIN_EMERGENCY: NO_PASSWORD_DROPINS[1],
  WATCHDOG_SECONDS: String(CONSOLE_WATCHDOG_SECONDS),
  REQUIRE_TOOLS: "no",
  VERIFY_SCRIPT,
  VERIFY_LOG,
  VERIFY_EXPECT: VERIFY_FILES.expect,
  VERIFY_MANIFEST: VERIFY_FILES.manifest,
  VERIFY_RESULT: VERIFY_FILES.result,
  VERIFY_UNIT: VERIFY_UNIT_NAME,
  VERIFY_MARK_BEGIN: VERIFY_MARKERS.begin,
  VERIFY_MARK_END: VERIFY_MARKERS.end,
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

/** The sentinel with the guest's stage-2 policy (options.requireTools) built in. */
export function sentinelScript(opts: { requireTools?: boolean } = {}): string {
  return render(STAGE2_SH, { ...PLACEHOLDERS, REQUIRE_TOOLS: opts.requireTools ? "yes" : "no" });
}

export function sentinelUnit(): string {
  return render(SENTINEL_UNIT);
}

export function sysvInitScript(): string {
  return render(SYSV_INIT_SH);
}

/** The console watchdog: a systemd timer and service, and the SysV init script. */
export function watchdogTimer(): string {
  return render(WATCHDOG_TIMER);
}

export function watchdogService(): string {
  return render(WATCHDOG_SERVICE);
}

export function sysvWatchdogScript(): string {
  return render(SYSV_WATCHDOG_SH);
}

/** The first-boot verification: its script, systemd unit and SysV init script. */
export function verifyScript(): string {
  return render(VERIFY_SH);
}

export function verifyUnit(): string {
  return render(VERIFY_UNIT);
}

export function sysvVerifyScript(): string {
  return render(SYSV_VERIFY_SH);
}

/** The collect script has no placeholders: it runs on the source, before any of this. */
export function collectScript(): string {
  return COLLECT_SH;
}

/** "model=driver model=driver": a map as the preflight script looks it up. */
function pairs(map: Record<string, string>): string {
  return Object.entries(map).map(([k, v]) => `${k}=${v}`).join(" ");
}

/**
 * The preflight fallback for sources this binary cannot run on (glibc < 2.28), with the
 * target drivers, the space floors and the stage-1 code it reports filled in from the places
 * that hold them.
 */
export function preflightScript(): string {
  return render(PREFLIGHT_SH, {
    CONTROLLER_DRIVERS: pairs(CONTROLLER_DRIVER),
    NIC_DRIVERS: pairs(NIC_DRIVER),
    MIN_FREE_BOOT: String(MIN_FREE_BOOT),
    MIN_FREE_ROOT: String(MIN_FREE_ROOT),
    NO_SPACE_CODE: String(CODES.GUEST_NO_SPACE.code),
    PREFLIGHT_VERSION: `sh-fallback ${VERSION}`,
  });
}
