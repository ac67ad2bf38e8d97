// The product's own first-boot verification, as the e2e tests read it: the block the guest
// printed on its serial console (read with the manager's parser), checked against what the
// test knows of the migration. The marker checks stay beside it: they are the test's own
// evidence, so a verification that says "verified" about a broken guest is caught.
import assert from "node:assert/strict";
import type { Verification } from "../../../src/protocol/schemas.ts";
import { failedChecks } from "../../../src/manager/verify.ts";

export interface VerifyExpect {
  /** The driver under the root's disk in the VM the test booted. */
  rootDriver: string;
  /**
   * The driver stage 1 prepared the root for (system-configuration's controller). When the
   * test's VM differs on purpose (a UEFI guest under QEMU boots from NVMe: Debian's OVMF has
   * no PVSCSI driver), the one failure wanted is ROOT_DRIVER naming both, everything else ok.
   */
  preparedFor?: string;
  /** target name -> target MAC */
  nics: { name: string; mac: string }[];
  /** addresses the source had, "10.0.2.15/24" */
  addresses: string[];
}

/** A verified first boot whose checks cover every NIC and address the migration maps. */
export function assertVerified(v: Verification | undefined, want: VerifyExpect, at: string): void {
  assert.ok(v, `the guest printed no first-boot verification on its serial console ${at}`);
  const ok = (check: string, subject?: string) => v.checks.some((c) => c.check === check && c.status === "ok" && (subject === undefined || c.subject.includes(subject) || c.expected.includes(subject)));
  if (want.preparedFor !== undefined && want.preparedFor !== want.rootDriver) {
    const failed = v.checks.filter((c) => c.status === "failed").map((c) => ({ check: c.check, code: c.code, expected: c.expected, actual: c.actual }));
    assert.deepEqual(failed, [{ check: "root-driver", code: "ROOT_DRIVER", expected: want.preparedFor, actual: want.rootDriver }], `the verification should fail on the root's driver alone (the VM has ${want.rootDriver}, stage 1 prepared ${want.preparedFor}): ${v.summary} ${at}`);
    assert.equal(v.verified, false, `verified, though the root is on ${want.rootDriver} and not ${want.preparedFor} ${at}`);
  } else {
    assert.equal(v.verified, true, `not verified: ${v.summary}; failed: ${failedChecks(v).join("; ")} ${at}`);
    assert.ok(ok("root-driver"), `no passing root-driver check ${at}`);
  }
  assert.ok(ok("root"), `no passing root check ${at}: ${JSON.stringify(v.checks)}`);
  assert.ok(v.checks.some((c) => c.check === "root-driver" && c.actual.includes(want.rootDriver)), `root-driver does not name ${want.rootDriver} ${at}: ${JSON.stringify(v.checks.filter((c) => c.check === "root-driver"))}`);
  for (const n of want.nics) assert.ok(ok("nic", n.name), `no passing nic check for ${n.name} ${at}`);
  for (const a of want.addresses) assert.ok(ok("address", a), `no passing address check for ${a} ${at}`);
  assert.ok(ok("target"), `no passing target check ${at}`);
  assert.ok(ok("failed-units"), `no passing failed-units check ${at}`);
}
