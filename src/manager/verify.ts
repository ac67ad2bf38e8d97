// The first-boot verification as the manager reads it: verification.json printed by the guest
// on its serial console between VERIFY_MARKERS (framing: console-blocks.ts).
import { VERIFY_MARKERS } from "../protocol/files.ts";
import { Verification } from "../protocol/schemas.ts";
import { parseConsoleBlocks } from "./console-blocks.ts";

export interface VerifyBlock {
  verification: Verification;
  /** The JSON line as printed. */
  raw: string;
}

/** Every intact verification block in console output, oldest first. */
export function parseVerifyBlocks(text: string): VerifyBlock[] {
  return parseConsoleBlocks(text, VERIFY_MARKERS, Verification).map((b) => ({ verification: b.value, raw: b.raw }));
}

/** The newest intact verification in console output, if any. */
export function lastVerification(text: string): VerifyBlock | undefined {
  return parseVerifyBlocks(text).at(-1);
}

/** The checks that failed, one line each: "nic eth1: NIC_MISSING: ...". */
export function failedChecks(v: Verification): string[] {
  return v.checks.filter((c) => c.status === "failed").map((c) => `${c.check} ${c.subject}: ${c.code}: ${c.detail} (expected ${c.expected}, found ${c.actual || "nothing"})`);
}

/** One line for a person: verified, or what differs. */
export function describeVerification(v: Verification): string {
  const ok = v.checks.filter((c) => c.status === "ok").length;
  const skipped = v.checks.filter((c) => c.status === "skipped").length;
  const counts = `${ok} check(s) ok${skipped ? `, ${skipped} skipped` : ""}`;
  if (v.verified) return `first boot verified on ${v.hypervisor}: ${counts}`;
  return `first boot NOT verified on ${v.hypervisor}: ${v.summary} (${counts}; failed: ${failedChecks(v).join("; ")})`;
}
