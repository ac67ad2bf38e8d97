// Puts the guest in single-user mode for its first boot on VMware, where the stage-2 sentinel
// runs: systemd default.target -> rescue.target, SysV initdefault 1. Nothing must wait at a
// password prompt before the sentinel has run, so sulogin is bypassed for rescue and emergency
// mode: a drop-in for rescue.service and emergency.service on systemd, and RHEL 6's
// SINGLE=/sbin/sushell. That root shell without a password is bounded: the sentinel closes it
// first thing and on every way out (a failed stage 2 asks for the root password), and the
// console watchdog the sentinel step installs closes it after a bounded time even if the
// sentinel never runs. The sentinel puts the recorded originals back.
import type { Change, StepPlan } from "../engine/changes.ts";
import type { GuestView } from "../guest/view.ts";
import { ShellVars } from "../formats/shell-vars.ts";
import { CONSOLE_WATCHDOG_SECONDS, NO_PASSWORD_DROPINS, SENTINEL_LOG } from "../protocol/files.ts";
import type { FixupStep } from "./types.ts";
import { DEFAULT_TARGET_LINK, INITTAB, SYSCONFIG_INIT, UNIT_DIRS, initdefaultLine, setInitdefault, stage2Options, usesSystemd, usesSysv } from "./stage2-state.ts";

/** RHEL 6's single-user shell without a password. */
export const SUSHELL = "/sbin/sushell";

/**
 * systemd >= 240 runs systemd-sulogin-shell, which honours SYSTEMD_SULOGIN_FORCE only when
 * root is locked; systemd 219 (RHEL 7) runs sulogin from sh -c. Replacing ExecStart with a
 * plain login shell works on both. No '$' in it: systemd would expand it.
 */
export function noPasswordDropin(unit: "rescue" | "emergency"): string {
  return `# osam-fixup stage 2: ${unit} mode opens a root shell on the console without a password
# while the guest is being migrated, so that nothing waits at a password prompt and a person
# can read ${SENTINEL_LOG}. The stage-2 sentinel removes this file when it starts, and
# osam-console-watchdog.timer ${CONSOLE_WATCHDOG_SECONDS} s after boot if the sentinel never ran.
[Service]
Environment=SYSTEMD_SULOGIN_FORCE=1
ExecStart=
ExecStart=-/bin/sh -c 'echo "osam-fixup: ${unit} mode during the migration; see ${SENTINEL_LOG}"; exec /bin/sh -l'
`;
}

async function rescueTarget(view: GuestView): Promise<string> {
  // the vendor unit directories (not /etc)
  for (const d of UNIT_DIRS.slice(1)) {
    if (await view.exists(`${d}/rescue.target`)) return `${d}/rescue.target`;
  }
  return "/lib/systemd/system/rescue.target";
}

/** Kernel command-line words that would override the default target or runlevel. */
async function cmdlineOverrides(view: GuestView): Promise<string[]> {
  const t = await view.readText("/etc/default/grub");
  if (t === undefined) return [];
  const v = new ShellVars(t);
  const words = [v.get("GRUB_CMDLINE_LINUX") ?? "", v.get("GRUB_CMDLINE_LINUX_DEFAULT") ?? ""].join(" ").split(/\s+/);
  return words.filter((w) => /^(systemd\.unit|init)=/.test(w) || /^([0-6]|single|emergency|rescue|-s|S)$/.test(w));
}

export const singleUser: FixupStep = {
  name: "single-user",
  title: "boot the guest into single-user mode for stage 2, without a password prompt",
  fatal: true,
  failCode: "STAGE2_FAILED",
  async plan({ view, info, inputs }): Promise<StepPlan> {
    if (!stage2Options(inputs).singleUserMode) return { changes: [], warnings: [], skipped: "options.singleUserMode is false" };
    const changes: Change[] = [];
    const warnings: string[] = [];
    const systemd = usesSystemd(info);
    const sysv = await usesSysv(view, info);
    if (!systemd && !sysv) return { changes, warnings: ["neither systemd nor /etc/inittab found: the guest's boot mode was left as it is"], skipped: "no known init system" };
    if (systemd) {
      const target = await rescueTarget(view);
      changes.push({ action: "symlink", path: DEFAULT_TARGET_LINK, target, reason: "boot into rescue.target (single-user) where the stage-2 sentinel runs" });
      for (const [i, unit] of (["rescue", "emergency"] as const).entries()) {
        changes.push({ action: "write", path: NO_PASSWORD_DROPINS[i]!, content: noPasswordDropin(unit), mode: 0o644, reason: `${unit} mode without a root password prompt while stage 2 lasts` });
      }
    }
    const inittab = sysv ? await view.readText(INITTAB) : undefined;
    if (inittab !== undefined) {
      const next = setInitdefault(inittab, "1");
      if (next !== inittab || !initdefaultLine(inittab)) changes.push({ action: "write", path: INITTAB, content: next, reason: "initdefault 1: single-user mode where the stage-2 sentinel runs" });
    }
    const sysinit = await view.readText(SYSCONFIG_INIT);
    if (sysinit !== undefined) {
      const v = new ShellVars(sysinit);
      const single = v.get("SINGLE");
      if (single !== undefined && single !== SUSHELL) {
        v.set("SINGLE", SUSHELL);
        changes.push({ action: "write", path: SYSCONFIG_INIT, content: v.toString(), reason: "single-user mode opens a shell without a root password (SINGLE=/sbin/sushell) while stage 2 lasts" });
      }
    }
    if (!stage2Options(inputs).installStage2 && changes.some((c) => c.action === "write" && ((NO_PASSWORD_DROPINS as readonly string[]).includes(c.path) || c.path === SYSCONFIG_INIT))) {
      warnings.push("options.installStage2 is false: nothing of osam-fixup closes the root shell without a password that single-user mode opens; your own stage 2 must remove it");
    }
    const over = await cmdlineOverrides(view);
    if (over.length) warnings.push(`the kernel command line in /etc/default/grub has ${over.join(" ")}, which overrides the default target/runlevel: the guest may not enter single-user mode for stage 2`);
    return { changes, warnings };
  },
};
