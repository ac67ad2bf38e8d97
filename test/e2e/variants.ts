// Which variants an e2e run covers: OSAM_E2E_VARIANTS=all, a comma list, or (unset) what CI
// runs (npm run test:e2e). CI migrates the three most different guests: deb12-itools through
// `osam-fixup migrate` itself (migrate-cli.test.ts), deb12-netplan and deb12-dracut-lvm here,
// so the default guest is not migrated twice in the 90-minute budget.
import { VARIANTS, type Variant } from "../helpers/images.ts";

export const CI_VARIANTS: Variant[] = ["deb12-netplan", "deb12-dracut-lvm"];

/** Variants whose initramfs is generic (MODULES=most) and already has the target drivers: stage 1 keeps it. */
export const KEEPS_INITRAMFS: Variant[] = ["deb12-generic"];
/** Variants whose initramfs stage 1 rebuilds with the guest's own tool: dracut images are never completed by an archive. */
export const REBUILDS_INITRAMFS: Variant[] = ["deb12-dracut-lvm"];

export type InitramfsOutcome = "kept" | "appended" | "rebuilt";

/** How stage 1 must bring a variant's initramfs up to date; initramfs-tools images that lack drivers get one more archive. */
export function initramfsOutcome(variant: Variant): InitramfsOutcome {
  return KEEPS_INITRAMFS.includes(variant) ? "kept" : REBUILDS_INITRAMFS.includes(variant) ? "rebuilt" : "appended";
}

/** What result.json must say about the initramfs of a variant: kept with a note, completed by an archive with a note, or rebuilt. */
export function initramfsVerdictProblem(variant: Variant, step: { changes: { action: string; path?: string }[]; notes?: string[] } | undefined): string | undefined {
  if (!step) return "result.json has no initrd step";
  const rebuilds = step.changes.filter((c) => c.action === "exec").length;
  const images = step.changes.filter((c) => c.action === "write" && /^\/boot\/initrd/.test(c.path ?? "")).length;
  const notes = JSON.stringify(step.notes ?? []);
  switch (initramfsOutcome(variant)) {
    case "kept":
      if (rebuilds || images) return `the generic initramfs was ${rebuilds ? `rebuilt (${rebuilds} command(s))` : "rewritten"} instead of kept; notes: ${notes}`;
      if (!step.notes?.some((n) => / kept as it is: /.test(n))) return `no note says the initramfs was kept: ${notes}`;
      return undefined;
    case "appended":
      if (rebuilds) return `the initramfs was rebuilt (${rebuilds} command(s)) instead of completed by an archive; notes: ${notes}`;
      if (!images || !step.notes?.some((n) => / completed by one more archive instead of a rebuild: /.test(n))) return `the initramfs was not completed by an archive; notes: ${notes}`;
      return undefined;
    case "rebuilt":
      return rebuilds ? undefined : `the host-only initramfs was not rebuilt; notes: ${notes}`;
  }
}

export function selectedVariants(env = process.env.OSAM_E2E_VARIANTS): Variant[] {
  if (!env) return CI_VARIANTS;
  if (env === "all") return [...VARIANTS];
  return env.split(",").map((v) => {
    const t = v.trim();
    if (!(VARIANTS as readonly string[]).includes(t)) throw new Error(`OSAM_E2E_VARIANTS: unknown variant ${t} (known: ${VARIANTS.join(", ")})`);
    return t as Variant;
  });
}
