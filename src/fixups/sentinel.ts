// Installs the stage-2 sentinel (src/sentinel/): the POSIX sh script, a systemd unit wanted
// by rescue.target (and multi-user.target, so that it also finishes after a power cut that
// came after it had restored the default target), and a SysV init script linked S00 in rc1.d
// (before the single-user shell) and S99 in rc2-5.d. Last, the manifest: every path stage 1
// installed for stage 2, which the sentinel removes when it has finished.
import { posix } from "node:path";
import { SYSV_LAYOUTS, type SysvLayout } from "../distros/index.ts";
import type { Change, StepPlan } from "../engine/changes.ts";
import type { GuestView } from "../guest/view.ts";
import { GUEST_DATA_DIR, SENTINEL_SCRIPT, STAGE2_FILES, stage2Path } from "../protocol/files.ts";
import { sentinelScript, sentinelUnit, sysvInitScript } from "../sentinel/render.ts";
import type { FixupStep } from "./types.ts";
import { NO_PASSWORD_DROPINS } from "./single-user.ts";
import { stage2Options, usesSystemd, usesSysv } from "./stage2-state.ts";

export const SENTINEL_UNIT_NAME = "osam-sentinel.service";
export const SENTINEL_UNIT_PATH = `/etc/systemd/system/${SENTINEL_UNIT_NAME}`;
export const SENTINEL_WANTS = ["rescue.target", "multi-user.target"].map((t) => `/etc/systemd/system/${t}.wants/${SENTINEL_UNIT_NAME}`);
export const SENTINEL_SYSV_NAME = "osam-sentinel";

/**
 * The SysV layout the guest uses, read from its directories (src/distros names them):
 * /etc/init.d + /etc/rcN.d (Debian, RHEL through its links), /etc/rc.d/init.d + /etc/rc.d/rcN.d
 * (RHEL without the links), /etc/init.d + /etc/init.d/rcN.d (SUSE).
 */
async function sysvLayout(view: GuestView): Promise<SysvLayout> {
  const { flat, nested, rcd } = SYSV_LAYOUTS;
  if ((await view.kind(nested.rcDir(3))) === "dir" && !(await view.exists(flat.rcDir(3)))) return nested;
  if ((await view.exists(flat.initd)) || !(await view.exists(rcd.initd))) return flat;
  return rcd;
}

function parentDir(p: string): string {
  return p.slice(0, p.lastIndexOf("/")) + "/";
}

export const sentinel: FixupStep = {
  name: "sentinel",
  title: "install the stage-2 sentinel (VMware Tools, restore, power off)",
  fatal: true,
  failCode: "STAGE2_FAILED",
  async plan({ view, info, inputs }): Promise<StepPlan> {
    if (!stage2Options(inputs).installStage2) return { changes: [], warnings: [], skipped: "options.installStage2 is false" };
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
    add({ action: "write", path: SENTINEL_SCRIPT, content: sentinelScript(), mode: 0o755, reason: "the stage-2 sentinel script (POSIX sh)" });
    if (systemd) {
      add({ action: "write", path: SENTINEL_UNIT_PATH, content: sentinelUnit(), mode: 0o644, reason: "systemd unit that runs the sentinel in rescue.target" });
      for (const w of SENTINEL_WANTS) {
        add({ action: "symlink", path: w, target: SENTINEL_UNIT_PATH, reason: `enable the sentinel in ${w.split("/")[3]!.replace(/\.wants$/, "")}` });
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
