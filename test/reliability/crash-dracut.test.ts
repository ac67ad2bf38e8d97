// Crash at every step of a full stage 1 on the RHEL-style storage image (deb12-dracut-lvm: dracut, LVM root, separate /boot), boot loader included, on a real loop disk:
// a seeded sample of change boundaries (OSAM_CRASH_SEED) and a kill of the whole process
// group in the middle of the initramfs rebuild. See lib/crash.ts for what is checked.
// OSAM_CRASH_FULL=1 (npm run test:crash) sweeps every boundary, each also from a fresh disk.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { FAMILIES, FULL, familySweep } from "./lib/crash.ts";
import { assertRoot, removeBaseDisks } from "./lib/disk.ts";

after(removeBaseDisks);

test("deb12-dracut-lvm: a SIGKILL at sampled change boundaries and mid-rebuild; re-runs converge, rollback restores the original", { timeout: (FULL ? 240 : 45) * 60_000 }, async () => {
  assertRoot();
  const { failed } = await familySweep(FAMILIES.dracut, { boundaries: 5, midRebuildKill: true });
  assert.deepEqual(failed, []);
});
