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

/** Names the manager gives to the collected logs: <log-dir>/<mig-id>_fixup.log, ..._result.json. */
export function collectedLogName(migrationId: string, which: "log" | "result"): string {
  return which === "log" ? `${migrationId}_fixup.log` : `${migrationId}_result.json`;
}
