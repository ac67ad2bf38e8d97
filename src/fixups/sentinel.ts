// Installs the stage-2 sentinel (src/sentinel/): the POSIX sh script, a systemd unit wanted
// by rescue.target (and multi-user.target, so that it also finishes after a power cut that
// came after it had restored the default target), and a SysV init script linked S00 in rc1.d
// (before the single-user shell) and S99 in rc2-5.d. Last, the manifest: every path stage 1
// installed for stage 2, which the sentinel removes when it has finished.
// With the sentinel comes the console watchdog, when single-user mode opens a root shell without
// a password: a systemd timer, or a SysV init script, that closes it after a bounded time even
// if the sentinel never runs or hangs (the sentinel itself closes it first thing).
import { posix } from "node:path";
import { SYSV_LAYOUTS, type SysvLayout } from "../distros/index.ts";
import type { Change, StepPlan } from "../engine/changes.ts";
import type { GuestView } from "../guest/view.ts";
import { CONSOLE_WATCHDOG_SECONDS, GUEST_DATA_DIR, NO_PASSWORD_DROPINS, SENTINEL_SCRIPT, STAGE2_FILES, stage2Path } from "../protocol/files.ts";
import { ShellVars } from "../formats/shell-vars.ts";
import { sentinelScript, sentinelUnit, sysvInitScript, sysvWatchdogScript, watchdogService, watchdogTimer } from "../sentinel/render.ts";
import type { FixupStep } from "./types.ts";
import { SUSHELL } from "./single-user.ts";
import { SYSCONFIG_INIT, stage2Options, usesSystemd, usesSysv } from "./stage2-state.ts";

export const SENTINEL_UNIT_NAME = "osam-sentinel.service";
export const SENTINEL_UNIT_PATH = `/etc/systemd/system/${SENTINEL_UNIT_NAME}`;
export const SENTINEL_WANTS = ["rescue.target", "multi-user.target"].map((t) => `/etc/systemd/system/${t}.wants/${SENTINEL_UNIT_NAME}`);
export const SENTINEL_SYSV_NAME = "osam-sentinel";
export const WATCHDOG_NAME = "osam-console-watchdog";
export const WATCHDOG_TIMER_PATH = `/etc/systemd/system/${WATCHDOG_NAME}.timer`;
export const WATCHDOG_SERVICE_PATH = `/etc/systemd/system/${WATCHDOG_NAME}.service`;
export const WATCHDOG_WANTS = ["rescue.target", "emergency.target", "multi-user.target"].map((t) => `/etc/systemd/system/${t}.wants/${WATCHDOG_NAME}.timer`);

/**
 * The SysV layout the guest uses, read from its directories (src/distros names them):
 * /etc/init.d + /etc/rcN.d (Debian, RHEL through its links), /etc/rc.d/init.d + /etc/rc.d/rcN.d
 * (RHEL without the links), /etc/init.d + /etc/init.d/rcN.d (SUSE).
 */
export async function sysvLayout(view: GuestView): Promise<SysvLayout> {
  const { flat, nested, rcd } = SYSV_LAYOUTS;
  if ((await view.kind(nested.rcDir(3))) === "dir" && !(await view.exists(flat.rcDir(3)))) return nested;
  if ((await view.exists(flat.initd)) || !(await view.exists(rcd.initd))) return flat;
  return rcd;
}

/** The directory of a path, with its trailing / (how a manifest names a directory). */
export function parentDir(p: string): string {
  return p.slice(0, p.lastIndexOf("/")) + "/";
}

export const sentinel: FixupStep = {
  name: "sentinel",
  title: "install the stage-2 sentinel (VMware Tools, restore, power off)",
  fatal: true,
  failCode: "STAGE2_FAILED",
  async plan({ view, info, inputs }): Promise<StepPlan> {
    const opts = stage2Options(inputs);
    if (!opts.installStage2) return { changes: [], warnings: [], skipped: "options.installStage2 is false" };
    const systemd = usesSystemd(info);
    const sysv = await usesSysv(view, info);
    if (!systemd && !sysv) return { changes: [], warnings: ["neither systemd nor SysV init found: the stage-2 sentinel was not installed; install VMware Tools by hand"], skipped: "no known init system" };
    const changes: Change[] = [];
    const owned: string[] = [];
    const dirs = new Set<string>([parentDir(SENTINEL_SCRIPT)]);
    const add = (c: Change & { path: string }) => {
      changes.push(c);
      owned.push(c.path);
    };
    add({ action: "write", path: SENTINEL_SCRIPT, content: sentinelScript({ requireTools: opts.requireTools }), mode: 0o755, reason: `the stage-2 sentinel script (POSIX sh); VMware Tools ${opts.requireTools ? "required (options.requireTools): a failed install fails stage 2" : "not required: a failed install is a warning"}` });
    if (systemd) {
      add({ action: "write", path: SENTINEL_UNIT_PATH, content: sentinelUnit(), mode: 0o644, reason: "systemd unit that runs the sentinel in rescue.target" });
      for (const w of SENTINEL_WANTS) {
        add({ action: "symlink", path: w, target: SENTINEL_UNIT_PATH, reason: `enable the sentinel in ${w.split("/")[4]!.replace(/\.wants$/, "")}` });
        dirs.add(parentDir(w));
      }
    }
    if (sysv) {
      const l = await sysvLayout(view);
      const init = `${l.initd}/${SENTINEL_SYSV_NAME}`;
      add({ action: "write", path: init, content: sysvInitScript(), mode: 0o755, reason: "SysV init script that runs the sentinel" });
      // the same relative target from every rcN.d directory of a layout
      const rel = posix.relative(l.rcDir(1), init);
      add({ action: "symlink", path: `${l.rcDir(1)}/S00${SENTINEL_SYSV_NAME}`, target: rel, reason: "run the sentinel in runlevel 1, before the single-user shell" });
      for (const lv of [2, 3, 4, 5]) add({ action: "symlink", path: `${l.rcDir(lv)}/S99${SENTINEL_SYSV_NAME}`, target: rel, reason: `run the sentinel in runlevel ${lv} (resume after a power cut)` });
    }
    const bound = `${CONSOLE_WATCHDOG_SECONDS} s after boot`;
    if (systemd && ((await view.exists(NO_PASSWORD_DROPINS[0])) || (await view.exists(NO_PASSWORD_DROPINS[1])))) {
      add({ action: "write", path: WATCHDOG_TIMER_PATH, content: watchdogTimer(), mode: 0o644, reason: `remove the drop-ins that open a root shell without a password ${bound}, even if the sentinel never runs` });
      add({ action: "write", path: WATCHDOG_SERVICE_PATH, content: watchdogService(), mode: 0o644, reason: "what the console watchdog timer runs: remove the drop-ins, reload, restart an open rescue or emergency shell" });
      for (const w of WATCHDOG_WANTS) {
        add({ action: "symlink", path: w, target: WATCHDOG_TIMER_PATH, reason: `start the console watchdog in ${w.split("/")[4]!.replace(/\.wants$/, "")}` });
        dirs.add(parentDir(w));
      }
    }
    const sysinit = sysv ? await view.readText(SYSCONFIG_INIT) : undefined;
    if (sysinit !== undefined && new ShellVars(sysinit).get("SINGLE") === SUSHELL && (await view.exists(stage2Path("sysconfigSingle")))) {
      const l = await sysvLayout(view);
      const init = `${l.initd}/${WATCHDOG_NAME}`;
      add({ action: "write", path: init, content: sysvWatchdogScript(), mode: 0o755, reason: `SysV console watchdog: put the recorded SINGLE= back ${bound}, even if the sentinel never runs` });
      const rel = posix.relative(l.rcDir(1), init);
      for (const lv of [1, 2, 3, 4, 5]) add({ action: "symlink", path: `${l.rcDir(lv)}/S00${WATCHDOG_NAME}`, target: rel, reason: `start the console watchdog in runlevel ${lv}` });
    }
    // Order of removal: the state it restored first; then the links that start it, before the
    // unit and scripts they point at (no dangling link at any moment); the script last.
    const stateFirst: string[] = [];
    for (const k of ["defaultTarget", "initdefault", "selinuxMode", "sysconfigSingle", "overrides"] as const) {
      if (k === "overrides" || (await view.exists(stage2Path(k)))) stateFirst.push(stage2Path(k));
    }
    for (const d of NO_PASSWORD_DROPINS) {
      if (await view.exists(d)) {
        stateFirst.push(d);
        dirs.add(parentDir(d));
      }
    }
    const links = changes.flatMap((c) => (c.action === "symlink" ? [c.path] : []));
    const startersLast = [...links, ...owned.filter((p) => p !== SENTINEL_SCRIPT && !links.includes(p)), SENTINEL_SCRIPT];
    const manifest = [
      `# paths osam-fixup stage 1 installed for stage 2; the sentinel removes them (directories, ending in /, only when empty), then this file`,
      ...stateFirst,
      ...startersLast,
      ...[...dirs].filter((d) => d !== GUEST_DATA_DIR + "/"),
      "",
    ].join("\n");
    changes.push({ action: "write", path: stage2Path("manifest"), content: manifest, mode: 0o644, reason: `the list of what the sentinel removes when it has finished (${STAGE2_FILES.manifest})` });
    return { changes, warnings: [] };
  },
};
