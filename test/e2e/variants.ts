// Which variants an e2e run covers: OSAM_E2E_VARIANTS=all, a comma list, or (unset) what CI
// runs (npm run test:e2e). CI migrates the three most different guests: deb12-itools through
// `osam-fixup migrate` itself (migrate-cli.test.ts), deb12-netplan and deb12-dracut-lvm here,
// so the default guest is not migrated twice in the 90-minute budget.
import { VARIANTS, type Variant } from "../helpers/images.ts";

export const CI_VARIANTS: Variant[] = ["deb12-netplan", "deb12-dracut-lvm"];

export function selectedVariants(env = process.env.OSAM_E2E_VARIANTS): Variant[] {
  if (!env) return CI_VARIANTS;
  if (env === "all") return [...VARIANTS];
  return env.split(",").map((v) => {
    const t = v.trim();
    if (!(VARIANTS as readonly string[]).includes(t)) throw new Error(`OSAM_E2E_VARIANTS: unknown variant ${t} (known: ${VARIANTS.join(", ")})`);
    return t as Variant;
  });
}
