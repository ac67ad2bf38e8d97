// Which variants an e2e run covers: OSAM_E2E_VARIANTS=all, a comma list, or (unset) what CI
// runs (npm run test:e2e). CI migrates the three most different guests: deb12-itools through
// `osam-fixup migrate` itself (migrate-cli.test.ts), deb12-netplan and deb12-dracut-lvm here,
// so the default guest is not migrated twice in the 90-minute budget.
import { VARIANTS, type Variant } from "../helpers/images.ts";

export const CI_VARIANTS: Variant[] = ["deb12-netplan", "deb12-dracut-lvm"];

/** Variants whose initramfs is generic (MODULES=most) and already has the target drivers: stage 1 keeps it. */
export const KEEPS_INITRAMFS: Variant[] = ["deb12-generic"];

/** What result.json must say about the initramfs of a variant: kept with a note, or rebuilt. */
export function initramfsVerdictProblem(variant: Variant, step: { changes: { action: string }[]; notes?: string[] } | undefined): string | undefined {
  if (!step) return "result.json has no initrd step";
  const rebuilds = step.changes.filter((c) => c.action === "exec").length;
  if (KEEPS_INITRAMFS.includes(variant)) {
    if (rebuilds) return `the generic initramfs was rebuilt (${rebuilds} command(s)) instead of kept; notes: ${JSON.stringify(step.notes ?? [])}`;
    if (!step.notes?.some((n) => / kept as it is: /.test(n))) return `no note says the initramfs was kept: ${JSON.stringify(step.notes ?? [])}`;
    return undefined;
  }
  return rebuilds ? undefined : `the host-only initramfs was not rebuilt; notes: ${JSON.stringify(step.notes ?? [])}`;
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
