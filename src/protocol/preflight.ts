// The preflight report: what `osam-fixup preflight` finds on a source before anything is
// copied. The finding codes are stable: runbooks and the manager key on them.
import { z } from "zod";

export const FINDINGS = {
  INVENTORY_FAILED: "the source inventory could not be collected",
  STAGE1_WOULD_FAIL: "stage 1 would stop on this guest",
  NO_KERNEL_WITH_DRIVERS: "no installed kernel has the target's storage or NIC driver",
  DEFAULT_KERNEL_LACKS_DRIVERS: "the kernel that boots by default lacks a target driver",
  KERNEL_MODULES_UNKNOWN: "a kernel's module list could not be read",
  LUKS_ROOT: "the root filesystem is encrypted",
  LUKS_VOLUME: "an encrypted volume other than root",
  SPACE_LOW: "not enough free space for the rebuilt initramfs images and the backups",
  LEFTOVER_BLOCKER: "a boot-critical reference to a source disk or NIC that stage 1 does not rewrite",
  LEFTOVER: "a reference to a source disk or NIC that stage 1 does not rewrite",
  CLOUD_INIT_NETWORK: "cloud-init would render the network again on the first boot",
  NIC_NOT_CONFIGURED: "a NIC with addresses that no known configuration system configures",
  SELINUX_ENFORCING: "SELinux is enforcing",
  PLAN_WARNING: "stage 1 would succeed with a warning",
} as const;
export type FindingCode = keyof typeof FINDINGS;

export const FindingSeverity = z.enum(["blocker", "warning", "info"]);

export const Finding = z.strictObject({
  code: z.enum(Object.keys(FINDINGS) as [FindingCode, ...FindingCode[]]),
  severity: FindingSeverity,
  /** The file (and line) it is about, in the guest. */
  file: z.string().optional(),
  line: z.number().int().positive().optional(),
  /** What was found, and why it matters on the target. */
  why: z.string(),
  /** What to do about it. */
  todo: z.string(),
});
export type Finding = z.infer<typeof Finding>;

export const Verdict = z.enum(["ready", "ready with warnings", "blocked"]);
export type Verdict = z.infer<typeof Verdict>;

export const PreflightReport = z.strictObject({
  version: z.string(),
  /** "/" for a live source, or the tree given with --root. */
  root: z.string(),
  checkedAt: z.string(),
  durationMs: z.number().nonnegative(),
  target: z.strictObject({ scsiController: z.string(), nicModel: z.string(), firmware: z.string() }),
  verdict: Verdict,
  findings: z.array(Finding),
  /** Checks that did not run, and why (the sh fallback cannot inspect, for example). */
  skipped: z.array(z.string()),
  /** What stage 1 would do, step by step, as `plan` would say it. */
  plan: z.array(z.strictObject({ step: z.string(), status: z.string(), changes: z.number().int().nonnegative() })),
  guest: z.record(z.string(), z.unknown()),
});
export type PreflightReport = z.infer<typeof PreflightReport>;

export function verdictOf(findings: Pick<Finding, "severity">[]): Verdict {
  if (findings.some((f) => f.severity === "blocker")) return "blocked";
  if (findings.some((f) => f.severity === "warning")) return "ready with warnings";
  return "ready";
}
