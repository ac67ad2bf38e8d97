// SELinux and files written from outside the guest: they carry no labels, and an enforcing
// guest denies access to unlabeled files. With a stage-2 sentinel, the guest runs stage 2 in
// permissive mode and the sentinel, when it restores the recorded mode, requests a relabel
// for the next boot (so one relabel covers what both stages wrote). Without a sentinel,
// stage 1 requests the relabel itself and leaves the mode alone.
import type { StepPlan } from "../engine/changes.ts";
import { ShellVars } from "../formats/shell-vars.ts";
import type { FixupStep } from "./types.ts";
import { SELINUX_CONFIG, stage2Options } from "./stage2-state.ts";

export const AUTORELABEL = "/.autorelabel";

export const selinux: FixupStep = {
  name: "selinux",
  title: "SELinux permissive for stage 2, relabel afterwards",
  fatal: false,
  failCode: "STAGE2_FAILED",
  async plan({ view, inputs }): Promise<StepPlan> {
    const text = await view.readText(SELINUX_CONFIG);
    if (text === undefined) return { changes: [], warnings: [], skipped: `no ${SELINUX_CONFIG}` };
    const vars = new ShellVars(text);
    const mode = vars.get("SELINUX");
    if (!mode || mode === "disabled") return { changes: [], warnings: [], skipped: `SELinux is ${mode ?? "not configured"}` };
    if (!stage2Options(inputs).installStage2) {
      return { changes: [{ action: "write", path: AUTORELABEL, content: "", reason: "files written from outside the guest carry no SELinux labels: relabel on the first boot" }], warnings: [] };
    }
    if (mode === "permissive") return { changes: [], warnings: [] };
    vars.set("SELINUX", "permissive");
    return {
      changes: [{ action: "write", path: SELINUX_CONFIG, content: vars.toString(), reason: `SELinux permissive for stage 2 (was ${mode}; the sentinel restores it and requests a relabel)` }],
      warnings: [],
    };
  },
};
