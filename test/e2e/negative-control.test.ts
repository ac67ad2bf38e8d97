// The negative control: the same source image, without the fixup, on the same emulated VMware
// hardware, must fail to boot (its host-only initramfs has no PVSCSI driver and its root is
// /dev/vda1). This is what makes the migration tests prove that the fixup made the difference.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { runUnfixedBoot, tail } from "./lib/migration.ts";

test("negative control: deb12-itools without the fixup does not boot on PVSCSI", { timeout: 30 * 60_000 }, async () => {
  const r = await runUnfixedBoot("deb12-itools");
  assert.equal(r.marker, undefined, `the unfixed guest booted to its marker (root ${r.marker?.root}); see ${r.serialPath}`);
  assert.equal(r.outcome, "failed", `expected a boot failure on the console, got ${r.outcome} after ${r.seconds}s; ${r.serialPath}:\n${tail(readFileSync(r.serialPath, "utf8"))}`);
  assert.match(r.failure ?? "", /Gave up waiting for root|ALERT/, `failed differently (${r.failure}); see ${r.serialPath}`);
});
