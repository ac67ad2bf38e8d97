// Proof that the first-boot verification can fail (issue 14): deb12-netplan (two NICs, each
// with a static address) migrated with its second NIC left out of network-interface-map.json.
// Stage 1 succeeds (the residue audit warns about the unmapped NIC), stage 2 runs, and the
// guest's own verification on its first boot must say "not verified", naming the source NIC
// ens4 and its address, while the mapped NIC eth0 passes. Slow (one more migration under TCG):
// only in `npm run test:e2e:all` (OSAM_E2E_VARIANTS=all).
import { test } from "node:test";
import assert from "node:assert/strict";
import { runE2eMigration } from "./lib/migration.ts";
import { assertPreflightMatches } from "./lib/preflight-boot.ts";

const MIN = 60_000;
const ALL = process.env.OSAM_E2E_VARIANTS === "all";

test("a NIC missing from the map: the migrated guest's first boot is not verified, naming the NIC", { skip: ALL ? false : "one more slow migration: run with npm run test:e2e:all (OSAM_E2E_VARIANTS=all)", timeout: 90 * MIN }, async (t) => {
  const run = await runE2eMigration("deb12-netplan", { unmappedNics: [1], sourcePreflight: true });
  const at = `(run directory ${run.runDir})`;
  t.diagnostic(`timings (s): ${JSON.stringify(run.timings)}; run directory ${run.runDir}`);
  assert.equal(run.flowError, undefined, `${run.flowError ?? ""} ${at}`);
  assert.equal(run.result?.status, "succeeded", `stage 1: ${run.result?.message ?? "no result"} ${at}`);
  assert.ok(run.result.warnings.some((w) => /ens4/.test(w)), `stage 1 did not warn about the unmapped NIC ens4: ${JSON.stringify(run.result.warnings)} ${at}`);
  // preflight on the booted source, with the same map, names the NIC as stage 1 then does
  assertPreflightMatches(run.sourcePreflight, run.result, at);
  assert.ok(run.sourcePreflight?.report?.findings.some((f) => f.severity === "warning" && /\bens4\b/.test(f.why)), `preflight did not name the unmapped NIC ens4: ${JSON.stringify(run.sourcePreflight?.report?.findings)} ${at}`);
  assert.equal(run.stage2, "ran", `${run.stage2} ${at}`);
  const v = run.verification;
  assert.ok(v, `the guest printed no first-boot verification ${at}`);
  assert.equal(v.verified, false, `verified although ens4's network is gone: ${JSON.stringify(v.checks)} ${at}`);
  assert.match(v.summary, /ens4/, `the summary does not name the NIC ${at}`);
  const failed = v.checks.filter((c) => c.status === "failed");
  assert.ok(failed.some((c) => c.code === "NIC_NOT_MIGRATED" && c.subject.includes("ens4") && `${c.expected} ${c.subject}`.includes("10.0.3.15/24")), `no NIC_NOT_MIGRATED check for ens4 with 10.0.3.15/24: ${JSON.stringify(failed)} ${at}`);
  assert.ok(v.checks.some((c) => c.check === "nic" && c.subject.includes("eth0") && c.status === "ok"), `the mapped NIC eth0 did not pass ${at}`);
  assert.ok(v.checks.some((c) => c.check === "address" && `${c.subject} ${c.expected}`.includes("10.0.2.15/24") && c.status === "ok"), `eth0's address did not pass ${at}`);
});
