// The names of everything exchanged between the manager and the stage-1 agent, and the
// places inside the guest that stage 1 and stage 2 share. Both sides import them from here.

export const DEFAULT_FIXUP_DIR = "/tmp/fixup";

export const FIXUP_FILES = {
  systemConfiguration: "system-configuration.json",
  replicaDiskMap: "replica-disk-map.json",
  networkInterfaceMap: "network-interface-map.json",
  begin: "BEGIN",
  progress: "progress.txt",
  log: "fixup.log",
  result: "result.json",
  end: "END",
} as const;

/** Guest-side directory where stage 1 records state and backups for stage 2 and rollback. */
export const GUEST_DATA_DIR = "/opt/vmware/hcx/osam/data";
export const GUEST_BACKUP_DIR = `${GUEST_DATA_DIR}/backup`;
export const GUEST_JOURNAL = `${GUEST_DATA_DIR}/journal.jsonl`;

/**
 * Stage-2 files under GUEST_DATA_DIR. The state files hold, in plain text a person can read,
 * what stage 1 changed for the second stage and the sentinel puts back; the manifest lists
 * what stage 1 installed for the sentinel, which removes it when it has finished.
 */
export const STAGE2_FILES = {
  /** The link target of /etc/systemd/system/default.target before stage 1. */
  defaultTarget: "default-target",
  /** The initdefault line of /etc/inittab before stage 1. */
  initdefault: "inittab-initdefault",
  /** SELINUX= from /etc/selinux/config before stage 1. */
  selinuxMode: "selinux-mode",
  /** The SINGLE= line of /etc/sysconfig/init (RHEL 6 single-user shell) before stage 1. */
  sysconfigSingle: "sysconfig-init-single",
  /** The foreign guest tools stage 1 disabled (not restored; for the record). */
  foreignTools: "foreign-tools-disabled",
  /** Every path stage 1 installed for stage 2, one per line; the sentinel removes them. */
  manifest: "stage2-owned",
  /** Written by the sentinel: running, failed: <why>, done (kept as the record). */
  status: "stage2-status",
  /** Optional KEY=value overrides for the sentinel (tools source, CD-ROM wait, poweroff). */
  overrides: "sentinel.env",
  /** What the files in the data directory are, for a person who finds them. */
  readme: "README.txt",
  /** Written by the sentinel when it ends, however it ends (kept): the Stage2Result schema. */
  result: "stage2-result.json",
} as const;

/**
 * The lines around the stage-2 result that the sentinel prints on the consoles (/dev/console
 * and the first serial port), where the manager reads it without guest credentials. The end
 * line carries the byte count of the JSON line, so that a block cut by a kernel message is
 * recognised and ignored.
 */
export const STAGE2_RESULT_MARKERS = {
  begin: "==== osam-fixup stage-2 result begin ====",
  end: "==== osam-fixup stage-2 result end ====",
} as const;

/**
 * The first-boot verification. Stage 1 installs it beside the sentinel, with what it expects;
 * it runs once, on the first boot in the restored target (the boot after stage 2), checks the
 * guest from inside, keeps its result, prints it on the consoles between VERIFY_MARKERS, and
 * removes its script and units (not its result or its log).
 */
export const VERIFY_SCRIPT = "/opt/vmware/hcx/osam/bin/osam-verify";
export const VERIFY_LOG = "/var/log/osam-verify.log";
export const VERIFY_FILES = {
  /** What the checks expect: one "KEY value..." line each, written by stage 1 (format: src/sentinel/verify.sh). */
  expect: "verify-expect",
  /** Every path stage 1 installed for the verification, one per line; it removes them when it has run. */
  manifest: "verify-owned",
  /** Written by the verification when it has run (kept): the Verification schema. */
  result: "verification.json",
} as const;

export function verifyPath(name: keyof typeof VERIFY_FILES): string {
  return `${GUEST_DATA_DIR}/${VERIFY_FILES[name]}`;
}

/** The lines around the verification result on the consoles, as STAGE2_RESULT_MARKERS. */
export const VERIFY_MARKERS = {
  begin: "==== osam-fixup verification begin ====",
  end: "==== osam-fixup verification end ====",
} as const;

/**
 * Seconds after boot when the console watchdog that stage 1 installs removes the ways to a
 * root shell without a password, whether or not the sentinel ran (it removes them itself first).
 */
export const CONSOLE_WATCHDOG_SECONDS = 1800;

/** The root-shell-without-password drop-ins stage 1 installs for stage 2 (systemd). */
export const NO_PASSWORD_DROPINS = [
  "/etc/systemd/system/rescue.service.d/osam-no-password.conf",
  "/etc/systemd/system/emergency.service.d/osam-no-password.conf",
] as const;

/** The value a state file holds when the setting did not exist before stage 1. */
export const STAGE2_NONE = "(none)";

/** The stage-2 sentinel script stage 1 installs, and the log it writes in the guest. */
export const SENTINEL_SCRIPT = "/opt/vmware/hcx/osam/bin/osam-sentinel";
export const SENTINEL_LOG = "/var/log/osam-sentinel.log";

export function stage2Path(name: keyof typeof STAGE2_FILES): string {
  return `${GUEST_DATA_DIR}/${STAGE2_FILES[name]}`;
}

/** Names the manager gives to the collected logs: <log-dir>/<mig-id>_fixup.log, ..._result.json, ..._stage2.json, ..._verify.json. */
export function collectedLogName(migrationId: string, which: "log" | "result" | "stage2" | "verify"): string {
  return which === "log" ? `${migrationId}_fixup.log` : `${migrationId}_${which}.json`;
}
