// Records, before any stage-2 change, the settings that the stage-2 sentinel puts back: the
// systemd default target, the inittab initdefault line, the SELinux mode and RHEL 6's
// single-user shell. Plain files under GUEST_DATA_DIR, one value each, that a person can read.
//
// Recording is idempotent. A re-run normally starts from the original guest (the engine
// rolls the previous run's journal back first), but when the journal is gone a state file
// that already exists holds the true original and is kept: the guest in front of us may be
// in the single-user state that stage 1 set itself.
import { posix } from "node:path";
import type { Change, StepPlan } from "../engine/changes.ts";
import type { GuestView } from "../guest/view.ts";
import type { GuestInfo } from "../guest/inspect.ts";
import type { Inputs } from "../protocol/inputs.ts";
import { ShellVars } from "../formats/shell-vars.ts";
import { GUEST_BACKUP_DIR, GUEST_DATA_DIR, GUEST_JOURNAL, SENTINEL_LOG, SENTINEL_SCRIPT, STAGE2_FILES, STAGE2_NONE, stage2Path } from "../protocol/files.ts";
import type { FixupStep } from "./types.ts";

export const DEFAULT_TARGET_LINK = "/etc/systemd/system/default.target";
export const INITTAB = "/etc/inittab";
export const SELINUX_CONFIG = "/etc/selinux/config";
export const SYSCONFIG_INIT = "/etc/sysconfig/init";
/** systemd's unit directories, the admin's first. */
export const UNIT_DIRS = ["/etc/systemd/system", "/lib/systemd/system", "/usr/lib/systemd/system"];

/** The stage-2 options of system-configuration.json, each true unless set to false, except requireTools (false unless true). */
export interface Stage2Options {
  singleUserMode: boolean;
  installStage2: boolean;
  removeForeignTools: boolean;
  requireTools: boolean;
}

export function stage2Options(inputs: Inputs): Stage2Options {
  const o = inputs.system.options ?? {};
  return {
    singleUserMode: o.singleUserMode !== false,
    installStage2: o.installStage2 !== false,
    removeForeignTools: o.removeForeignTools !== false,
    requireTools: o.requireTools === true,
  };
}

export function usesSystemd(info: GuestInfo): boolean {
  return info.init === "systemd";
}

export async function usesSysv(view: GuestView, info: GuestInfo): Promise<boolean> {
  return info.init === "sysv" || (info.init === "unknown" && (await view.exists(INITTAB)));
}

// ---- inittab ----

const INITDEFAULT = /^([^#:]*):([0-9Ss]*):initdefault:(.*)$/;

/** The first initdefault line of an inittab, or undefined. */
export function initdefaultLine(inittab: string): string | undefined {
  return inittab.split("\n").find((l) => INITDEFAULT.test(l));
}

/** The inittab with its initdefault runlevel set (every initdefault line; one added if none). */
export function setInitdefault(inittab: string, level: string): string {
  let found = false;
  const lines = inittab.split("\n").map((l) => {
    const m = INITDEFAULT.exec(l);
    if (!m) return l;
    found = true;
    return `${m[1]}:${level}:initdefault:${m[3]}`;
  });
  if (found) return lines.join("\n");
  const body = inittab === "" || inittab.endsWith("\n") ? inittab : inittab + "\n";
  return `${body}id:${level}:initdefault:\n`;
}

// ---- state files ----

const HEADERS: Record<"defaultTarget" | "initdefault" | "selinuxMode" | "sysconfigSingle", string> = {
  defaultTarget: `the link target of ${DEFAULT_TARGET_LINK} before osam-fixup stage 1`,
  initdefault: `the initdefault line of ${INITTAB} before osam-fixup stage 1`,
  selinuxMode: `SELINUX= in ${SELINUX_CONFIG} before osam-fixup stage 1`,
  sysconfigSingle: `the SINGLE= line of ${SYSCONFIG_INIT} before osam-fixup stage 1`,
};

export type StateName = keyof typeof HEADERS;

export function stateText(name: StateName, value: string): string {
  return `# ${HEADERS[name]}\n# (the stage-2 sentinel puts it back; ${STAGE2_NONE} means there was none)\n${value}\n`;
}

/** The value of a state file: its first line that is not a comment (as the sentinel reads it). */
export function parseState(text: string): string | undefined {
  return text.split("\n").find((l) => !l.startsWith("#"))?.trim() || undefined;
}

/** True when stage 1 already left its stage-2 marks in this guest (a re-run without journal). */
async function hasOurMarks(view: GuestView): Promise<boolean> {
  return (await view.exists(SENTINEL_SCRIPT)) || (await view.exists(stage2Path("manifest")));
}

export interface CurrentState {
  name: StateName;
  /** The value to record (STAGE2_NONE when the setting does not exist). */
  value: string;
  warning?: string;
}

/** What the guest has now, for every setting the sentinel may have to put back. */
export async function currentState(view: GuestView, info: GuestInfo): Promise<CurrentState[]> {
  const out: CurrentState[] = [];
  const ours = await hasOurMarks(view);
  if (usesSystemd(info)) {
    const link = await view.readlink(DEFAULT_TARGET_LINK);
    let value = link ?? STAGE2_NONE;
    let warning: string | undefined;
    if (link && posix.basename(link) === "rescue.target" && ours) {
      value = STAGE2_NONE;
      warning = `${DEFAULT_TARGET_LINK} points at rescue.target and a previous stage 1 left no record of the original: recording '${STAGE2_NONE}' (the distribution's default target applies after stage 2)`;
    }
    out.push({ name: "defaultTarget", value, ...(warning ? { warning } : {}) });
  }
  // systemd ignores /etc/inittab (RHEL 7 keeps one of comments only)
  const inittab = (await usesSysv(view, info)) ? await view.readText(INITTAB) : undefined;
  if (inittab !== undefined) {
    const line = initdefaultLine(inittab);
    let value = line ?? STAGE2_NONE;
    let warning: string | undefined;
    if (line && INITDEFAULT.exec(line)?.[2] === "1" && ours) {
      value = setInitdefault(line, "3");
      warning = `${INITTAB} is at runlevel 1 and a previous stage 1 left no record of the original: recording runlevel 3`;
    }
    out.push({ name: "initdefault", value, ...(warning ? { warning } : {}) });
  }
  const sel = await view.readText(SELINUX_CONFIG);
  const mode = sel === undefined ? undefined : new ShellVars(sel).get("SELINUX");
  if (mode) out.push({ name: "selinuxMode", value: mode });
  const sysinit = await view.readText(SYSCONFIG_INIT);
  if (sysinit !== undefined) {
    const line = sysinit.split("\n").find((l) => /^\s*SINGLE\s*=/.test(l));
    out.push({ name: "sysconfigSingle", value: line?.trim() ?? STAGE2_NONE });
  }
  return out;
}

function readme(): string {
  const f = STAGE2_FILES;
  return `osam-fixup: what stage 1 left in this directory for the migration onto VMware

${f.defaultTarget}, ${f.initdefault}, ${f.selinuxMode}, ${f.sysconfigSingle}
    the settings as they were before stage 1 (the stage-2 sentinel puts them back and
    removes these files)
${f.manifest}
    the files stage 1 installed for stage 2 (the sentinel removes them, then this list)
${f.foreignTools}
    foreign guest tools that stage 1 disabled (kept; not undone by stage 2)
${f.status}
    written by the sentinel: running, failed: <why>, or done
${posix.basename(GUEST_JOURNAL)}, ${posix.relative(GUEST_DATA_DIR, GUEST_BACKUP_DIR)}/
    stage 1's journal and the original of every file it changed, and of the boot code
    grub-install wrote to the boot disk (@disks/) (kept; 'osam-fixup rollback' uses them)
unrestored/
    if present: boot code a rollback could not write back (not the same disk), kept here

The sentinel logs to ${SENTINEL_LOG}.
`;
}

export const stage2State: FixupStep = {
  name: "stage2-state",
  title: "record the boot target, runlevel and SELinux mode that stage 2 restores",
  fatal: true,
  failCode: "STAGE2_FAILED",
  async plan({ view, info, inputs }): Promise<StepPlan> {
    const opts = stage2Options(inputs);
    if (!opts.singleUserMode && !opts.installStage2) return { changes: [], warnings: [], skipped: "options.singleUserMode and options.installStage2 are both false" };
    const changes: Change[] = [];
    const warnings: string[] = [];
    for (const s of await currentState(view, info)) {
      const path = stage2Path(s.name);
      const recorded = await view.readText(path);
      if (recorded !== undefined && parseState(recorded) !== undefined) continue; // the true original, from an earlier run
      if (s.warning) warnings.push(s.warning);
      changes.push({ action: "write", path, content: stateText(s.name, s.value), mode: 0o644, reason: `record for stage 2: ${HEADERS[s.name]}` });
    }
    const rd = `${GUEST_DATA_DIR}/${STAGE2_FILES.readme}`;
    changes.push({ action: "write", path: rd, content: readme(), mode: 0o644, reason: "explain the files stage 1 leaves for stage 2" });
    return { changes, warnings };
  },
};
