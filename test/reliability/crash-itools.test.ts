// Crash at every step of a full stage 1 on the Debian/initramfs-tools image (deb12-itools),
// boot loader included, on a real loop disk: a seeded sample of the change boundaries before
// the initramfs rebuild (OSAM_CRASH_SEED; always the last one before it), and a kill of the
// whole process group in the middle of the rebuild. See lib/crash.ts for what is checked.
// Every boundary before the rebuild took 26 of CI's 88 minutes on a new machine (63 crash
// points); OSAM_CRASH_FULL=1 (npm run test:crash) sweeps every boundary, those after the
// rebuild too (one rebuild each), and re-runs each boundary from a fresh disk.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { FAMILIES, FULL, familySweep } from "./lib/crash.ts";
import { execa } from "execa";
import { realDisks } from "../../src/bootloader/boot-area.ts";
import { assertRoot, removeBaseDisks, withGuestDisk } from "./lib/disk.ts";
import { INPUTS, agentProtocol, agentRun } from "./lib/failures.ts";
import { killedIn, rollback } from "./lib/run.ts";
import { diffPrints, fingerprint } from "./lib/tree.ts";

const say = (s: string) => process.stderr.write(`crash-itools: ${s}\n`);
after(removeBaseDisks);

test("deb12-itools: a SIGKILL at sampled change boundaries before the rebuild and mid-rebuild; re-runs converge, rollback restores the original", { timeout: (FULL ? 180 : 45) * 60_000 }, async () => {
  assertRoot();
  const { failed } = await familySweep(FAMILIES.itools, { boundaries: 12, midRebuildKill: true });
  assert.deepEqual(failed, []);
});

// the image completed by one more archive instead of the rebuild: CI kills at a seeded sample of
// boundaries that always holds the image's write and the change before it (every boundary
// with OSAM_CRASH_FULL=1: 61 crash points, 15 min on a loaded machine)
test("deb12-itools, initramfs completed by an archive: a SIGKILL at change boundaries, the image's write among them; re-runs converge, rollback restores the original", { timeout: 45 * 60_000 }, async () => {
  assertRoot();
  const { failed } = await familySweep(FAMILIES.itoolsAppend, { boundaries: 8, midRebuildKill: false });
  assert.deepEqual(failed, []);
});

/**
 * Agent mode on the guest's boot disk: the original tree and boot area (the MBR and the gap
 * before the first partition; sfdisk's fresh disk has no boot code yet), then `body`, then
 * `rollback`, which must give both back byte for byte.
 */
async function onBootDisk(what: string, body: (device: string, bootArea: () => Buffer, area0: Buffer) => Promise<void>): Promise<void> {
  await withGuestDisk(
    "deb12-itools",
    async ({ device, root }) => {
      const part = `${device}p1`;
      await execa("mount", [part, root]);
      const original = await fingerprint(root, "deb12-itools").finally(() => execa("umount", [root]));
      const bootArea = () => realDisks.read(device, [[0, 2048 * 512]]);
      const area0 = bootArea();
      await body(device, bootArea, area0);
      assert.ok(!bootArea().equals(area0), `${what}: no boot code was written`);
      await execa("mount", [part, root]);
      try {
        const rb = await rollback(root);
        assert.equal(rb.code, 0, rb.stderr);
        assert.deepEqual(diffPrints(original, await fingerprint(root, "deb12-itools")), [], `${what}: rollback did not restore the tree`);
      } finally {
        await execa("umount", [root]);
      }
      assert.ok(bootArea().equals(area0), `${what}: rollback did not restore the MBR and the embedding area byte for byte`);
    },
    { unmounted: true },
  );
}

test("deb12-itools in agent mode on its boot disk: after grub-install and grub-mkconfig, rollback restores the original", { timeout: 30 * 60_000 }, async () => {
  assertRoot();
  let ms = 0;
  await onBootDisk("grub-install", async (device) => {
    // the initramfs rebuild is left out (covered above): grub-install's own files are the point
    const p = await agentProtocol(INPUTS("deb12-itools", { bootDevice: device }), ["--skip", "initrd"]);
    assert.equal(p.result.status, "succeeded", `${p.result.message}\n${p.run.stderr.slice(-3000)}`);
    const bl = p.result.steps.find((s) => s.name === "bootloader");
    assert.ok(bl?.changes.some((c) => c.argv?.[0] === "grub-install"), "grub-install did not run");
    ms = p.run.ms;
  });
  say(`agent mode: grub-install run, rollback restored the original and the boot area (${Math.round(ms / 1000)} s)`);
});

// two crash points: grub-install half-way (its files, no boot sector yet), and just after the
// boot sector changed (grub-install done or nearly: the boot code is GRUB's, the journal says so)
for (const point of ["while grub-install runs", "once the boot sector has changed"] as const) {
  test(`deb12-itools in agent mode: a SIGKILL ${point}, a re-run, then rollback: boot code and tree as they were`, { timeout: 30 * 60_000 }, async () => {
    assertRoot();
    let report = "";
    await onBootDisk(`killed ${point}`, async (device, _bootArea, area0) => {
      const mbrChanged = () => !realDisks.read(device, [[0, 440]]).equals(area0.subarray(0, 440));
      const maps = INPUTS("deb12-itools", { bootDevice: device });
      const killed = await agentRun(maps, ["--skip", "initrd"], point === "while grub-install runs" ? { killDuringRebuild: { phase: "grub-install", delayMs: 150 } } : { killWhen: mbrChanged });
      assert.equal(killed.run.signal, "SIGKILL", `the agent was not killed ${point}: ${killed.run.stderr.slice(-2000)}`);
      // 150 ms after grub-install appeared, it must still be running: the kill landed in it
      if (point === "while grub-install runs") assert.ok(killedIn(killed.run, "grub-install"), `killed outside grub-install (running: ${killed.run.killedDuring?.join(", ") ?? "?"})`);
      const wrote = mbrChanged();
      if (point === "once the boot sector has changed") assert.ok(wrote, "killed before the boot sector changed");
      const again = await agentProtocol(maps, ["--skip", "initrd"]);
      assert.equal(again.result.status, "succeeded", `re-run after the kill: ${again.result.message}\n${again.run.stderr.slice(-3000)}`);
      report = `running: ${killed.run.killedDuring?.join(" ") ?? "?"}; boot sector ${wrote ? "already GRUB's" : "not yet written"}`;
    });
    say(`killed ${point} (${report}), re-run, rollback: tree and boot area restored`);
  });
}
