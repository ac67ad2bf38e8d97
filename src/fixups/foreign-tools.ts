// Guest tools of other hypervisors and clouds misbehave on VMware: they wait for devices
// that are not there, spin on missing channels or reach for metadata services. Stage 1
// disables them, best effort: systemd units are masked (a link to /dev/null in
// /etc/systemd/system), SysV start links become stop links. Nothing is uninstalled; the list
// of what was disabled stays in the data directory.
import { posix } from "node:path";
import { SYSV_LAYOUTS } from "../distros/index.ts";
import type { Change, StepPlan } from "../engine/changes.ts";
import type { GuestView } from "../guest/view.ts";
import { stage2Path } from "../protocol/files.ts";
import type { FixupStep } from "./types.ts";
import { UNIT_DIRS, stage2Options } from "./stage2-state.ts";

export interface ForeignTool {
  what: string;
  units: string[];
  /** SysV init script names. */
  sysv: string[];
  /** Installed trees that are not removed: a warning tells the person how. */
  leftovers?: { glob: RegExp; dir: string; hint: string }[];
}

/** The one list of foreign guest tools. */
export const FOREIGN_TOOLS: ForeignTool[] = [
  { what: "Hyper-V daemons", units: ["hv-kvp-daemon.service", "hv-vss-daemon.service", "hv-fcopy-daemon.service", "hypervkvpd.service", "hypervvssd.service", "hypervfcopyd.service"], sysv: ["hv-kvp-daemon", "hv-vss-daemon", "hv-fcopy-daemon", "hypervkvpd", "hypervvssd", "hypervfcopyd"] },
  { what: "QEMU guest agent", units: ["qemu-guest-agent.service", "qemu-ga.service"], sysv: ["qemu-guest-agent", "qemu-ga"] },
  {
    what: "VirtualBox Guest Additions",
    units: ["vboxadd.service", "vboxadd-service.service", "vboxadd-x11.service", "virtualbox-guest-utils.service"],
    sysv: ["vboxadd", "vboxadd-service", "vboxadd-x11", "virtualbox-guest-utils"],
    leftovers: [{ dir: "/opt", glob: /^VBoxGuestAdditions-/, hint: "uninstall with its uninstall.sh once the guest runs on VMware" }],
  },
  { what: "Xen guest tools", units: ["xe-linux-distribution.service", "xe-daemon.service", "xen-guest-agent.service"], sysv: ["xe-linux-distribution", "xe-daemon"] },
  { what: "Azure Linux agent", units: ["walinuxagent.service", "waagent.service"], sysv: ["walinuxagent", "waagent"] },
  { what: "Google guest agents", units: ["google-guest-agent.service", "google-osconfig-agent.service", "google-accounts-daemon.service", "google-clock-skew-daemon.service"], sysv: [] },
  { what: "AWS SSM agent", units: ["amazon-ssm-agent.service", "snap.amazon-ssm-agent.amazon-ssm-agent.service"], sysv: ["amazon-ssm-agent"] },
  { what: "Nutanix guest tools", units: ["ngt_guest_agent.service"], sysv: ["ngt_guest_agent"] },
];

const MASK_DIR = "/etc/systemd/system";
const RC_DIRS = [SYSV_LAYOUTS.rcd, SYSV_LAYOUTS.flat, SYSV_LAYOUTS.nested].flatMap((s) => [2, 3, 4, 5].map((l) => s.rcDir(l)));

async function unitExists(view: GuestView, unit: string): Promise<boolean> {
  for (const d of UNIT_DIRS) if (await view.exists(`${d}/${unit}`)) return true;
  return false;
}

export const foreignTools: FixupStep = {
  name: "foreign-tools",
  title: "disable other hypervisors' and clouds' guest tools (best effort)",
  fatal: false,
  failCode: "APPLY_FAILED",
  async plan({ view, inputs }): Promise<StepPlan> {
    if (!stage2Options(inputs).removeForeignTools) return { changes: [], warnings: [], skipped: "options.removeForeignTools is false" };
    const changes: Change[] = [];
    const warnings: string[] = [];
    const disabled: string[] = [];
    // /etc/rc3.d is a link to /etc/rc.d/rc3.d on RHEL: visit each real directory once
    // listed once: every SysV name of every tool is looked for in each of them
    const rcDirs = new Map<string, string[]>();
    for (const d of RC_DIRS) if ((await view.kind(d)) === "dir") rcDirs.set(d, await view.readdir(d));
    for (const t of FOREIGN_TOOLS) {
      for (const unit of t.units) {
        const mask = `${MASK_DIR}/${unit}`;
        if ((await view.readlink(mask)) === "/dev/null") continue;
        if (!(await unitExists(view, unit))) continue;
        changes.push({ action: "symlink", path: mask, target: "/dev/null", reason: `mask ${unit} (${t.what}): it misbehaves on VMware` });
        disabled.push(`${unit} (${t.what}): masked, ${mask} -> /dev/null`);
      }
      for (const name of t.sysv) {
        for (const [d, names] of rcDirs) {
          for (const n of names) {
            const m = /^S(\d\d)(.+)$/.exec(n);
            if (!m || m[2] !== name) continue;
            const to = posix.join(d, `K${m[1]}${name}`);
            changes.push({ action: "rename", path: posix.join(d, n), to, reason: `stop ${name} (${t.what}) from starting: it misbehaves on VMware` });
            disabled.push(`${name} (${t.what}): ${posix.join(d, n)} renamed to ${to}`);
          }
        }
      }
      for (const l of t.leftovers ?? []) {
        for (const n of await view.readdir(l.dir)) {
          if (l.glob.test(n)) warnings.push(`${t.what} are installed in ${posix.join(l.dir, n)}; their services were disabled, the files were left: ${l.hint}`);
        }
      }
    }
    if (disabled.length) {
      const path = stage2Path("foreignTools");
      const before = (await view.readText(path)) ?? "# foreign guest tools disabled by osam-fixup stage 1 (not undone by stage 2)\n";
      const have = new Set(before.split("\n"));
      const content = before + disabled.filter((l) => !have.has(l)).map((l) => l + "\n").join("");
      if (content !== before) changes.push({ action: "write", path, content, mode: 0o644, reason: "record the foreign guest tools that were disabled" });
    }
    return { changes, warnings };
  },
};
