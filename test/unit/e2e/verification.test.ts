// How the e2e judges the product's first-boot verification, on the result a real deb12-uefi
// run printed (2026-11-30): under UEFI the test's VM boots from NVMe (Debian's OVMF has no
// PVSCSI driver) while stage 1 prepared PVSCSI, so the verification rightly fails on the
// root's driver and on nothing else. The e2e once wanted "verified" there, and failed a run
// in which the product had told the truth.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { Verification } from "../../../src/protocol/schemas.ts";
import { assertVerified } from "../../e2e/lib/verification.ts";

const UEFI = Verification.parse(JSON.parse(readFileSync(new URL("fixtures/deb12-uefi-verification.json", import.meta.url), "utf8")));
const want = { rootDriver: "nvme", preparedFor: "vmw_pvscsi", nics: [{ name: "eth0", mac: "00:50:56:aa:10:01" }], addresses: ["10.0.2.15/24"] };

test("a VM on another controller than stage 1 prepared: ROOT_DRIVER alone is what the verification must say", () => {
  assertVerified(UEFI, want, "");
});

test("...and a verification that says verified there, or fails on more, is caught", () => {
  const lying: Verification = { ...UEFI, verified: true, checks: UEFI.checks.map((c) => (c.check === "root-driver" ? { ...c, status: "ok", code: "OK" } : c)) };
  assert.throws(() => assertVerified(lying, want, ""), /fail on the root's driver alone/);
  const more: Verification = { ...UEFI, checks: UEFI.checks.map((c) => (c.check === "address" ? { ...c, status: "failed", code: "ADDRESS_MISSING" } : c)) };
  assert.throws(() => assertVerified(more, want, ""), /fail on the root's driver alone/);
});

test("on the controller stage 1 prepared, the same result is not verified and fails the check", () => {
  assert.throws(() => assertVerified(UEFI, { ...want, rootDriver: "vmw_pvscsi" }, ""), /not verified/);
  assert.throws(() => assertVerified(UEFI, { ...want, rootDriver: "nvme", preparedFor: undefined }, ""), /not verified/);
});
