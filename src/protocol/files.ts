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
} as const;

/** The value a state file holds when the setting did not exist before stage 1. */
export const STAGE2_NONE = "(none)";

/** The stage-2 sentinel script stage 1 installs, and the log it writes in the guest. */
export const SENTINEL_SCRIPT = "/opt/vmware/hcx/osam/bin/osam-sentinel";
export const SENTINEL_LOG = "/var/log/osam-sentinel.log";

export function stage2Path(name: keyof typeof STAGE2_FILES): string {
  return `${GUEST_DATA_DIR}/${STAGE2_FILES[name]}`;
}

/** Names the manager gives to the collected logs: <log-dir>/<mig-id>_fixup.log, ..._result.json. */
export function collectedLogName(migrationId: string, which: "log" | "result"): string {
  return which === "log" ? `${migrationId}_fixup.log` : `${migrationId}_result.json`;
}
