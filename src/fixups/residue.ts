// The last check before the initramfs is built: every reference to a source disk or NIC that
// the earlier steps left in the would-be guest. Blockers stop the run before the slow part,
// and a fatal step's failure restores every original, so the guest is fixed or as it was.
import { auditResidue, describeLeftover } from "../audit/residue.ts";
import { FixupError } from "../protocol/codes.ts";
import { resolveNics } from "../network/mapping.ts";
import type { FixupStep } from "./types.ts";

export const residueAudit: FixupStep = {
  name: "residue-audit",
  title: "Find references to source disks and NICs left in the guest",
  fatal: true,
  failCode: "GUEST_LEFTOVER",
  async plan(ctx) {
    const nics = resolveNics(ctx.info.network, ctx.inputs).nics;
    const r = await auditResidue({ view: ctx.view, inputs: ctx.inputs, nics, accept: ctx.inputs.system.options?.acceptLeftovers });
    const warnings = r.leftovers.filter((l) => l.severity === "warning" || l.severity === "accepted").map(describeLeftover);
    const harmless = r.leftovers.filter((l) => l.severity === "harmless").length;
    ctx.log.info(`residue audit: ${r.filesRead} files read, ${r.leftovers.length} references (${harmless} harmless: comments and backup copies)`);
    for (const p of r.passedOver) warnings.push(`${p} was not audited (too large or too many files); check it for source device and NIC names by hand`);
    const blockers = r.leftovers.filter((l) => l.severity === "blocker");
    if (blockers.length) {
      const where = blockers.map(describeLeftover).join("; ");
      throw new FixupError(
        "GUEST_LEFTOVER",
        `${blockers.length} boot-critical reference(s) to the source's disks or NICs would stop the boot or the network on the target, and no step rewrites them: ${where}. ` +
          `Nothing was changed. Fix them on the source (use UUID=, add nofail for a disk that is not migrated, map the NIC), or accept them on purpose with options.acceptLeftovers: [${blockers.map((b) => JSON.stringify(`${b.file}:${b.line}`)).join(", ")}]`,
      );
    }
    return { changes: [], warnings };
  },
};
