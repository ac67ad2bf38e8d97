// End to end, the stage-2 policy of issue 18, through the product's Manager on QEMU: the
// default Debian 12 image migrated with a tools ISO that holds no package for it (RPMs only).
// - default options: the migration succeeds with warnings, the collected <id>_stage2.json says
//   the tools are missing and why, and the replica, booted once more, is in its original target;
// - options.requireTools: the migration fails with the sentinel's reason as soon as the guest
//   prints it (not at the step's timeout), and the console then asks for the root password.
// Slow (two migrations under TCG): only in `npm run test:e2e:all` (OSAM_E2E_VARIANTS=all).
import { test } from "node:test";
import assert from "node:assert/strict";
import { execa } from "execa";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createDriver, type Driver } from "../../src/manager/drivers/index.ts";
import { Manager, type MigrationOutcome } from "../../src/manager/manager.ts";
import { parseSpec } from "../../src/manager/spec.ts";
import { collectedLogName } from "../../src/protocol/files.ts";
import { Stage2Result } from "../../src/protocol/schemas.ts";
import { ensureDisk, ensureRootfs, DEFAULT_VARIANT, type DiskImage } from "../helpers/images.ts";
import { ensureFixupDisk } from "./lib/artifacts.ts";
import { buildMaps, defaultTargetOf } from "./lib/maps.ts";
import { parseMarker } from "./lib/marker.ts";
import { tail, vmSpec, waitBoot } from "./lib/migration.ts";
import { newRunDir } from "./lib/paths.ts";

const MIN = 60_000;
const variant = DEFAULT_VARIANT;
const ALL = process.env.OSAM_E2E_VARIANTS === "all";
const skip = ALL ? false : "two slow migrations: run with npm run test:e2e:all (OSAM_E2E_VARIANTS=all)";

/** A tools ISO that a Debian guest cannot use: open-vm-tools as an RPM for EL9 only, no tarball. */
async function foreignToolsIso(dir: string): Promise<string> {
  const content = join(dir, "iso-content");
  mkdirSync(join(content, "rpm/el9"), { recursive: true });
  writeFileSync(join(content, "rpm/el9/open-vm-tools-12.3.5-1.el9.x86_64.rpm"), "not for this guest\n");
  const iso = join(dir, "rpm-only-tools.iso");
  await execa("xorriso", ["-as", "mkisofs", "-quiet", "-V", "OSAM_TOOLS", "-J", "-R", "-o", iso, content]);
  return iso;
}

/** A migration spec for the image, as migrate-cli.test.ts builds it, with these stage-2 options. */
function specFor(img: DiskImage, rootfs: string, migrationId: string, replica: string, fixupIso: string, toolsIso: string, options: Record<string, boolean>) {
  const defaultTarget = defaultTargetOf(rootfs);
  const maps = buildMaps(img, migrationId, defaultTarget);
  const src = maps.systemConfiguration.source;
  return {
    defaultTarget,
    spec: parseSpec({
      migrationId,
      source: { hostname: src.hostname, hypervisor: src.hypervisor, firmware: img.meta.boot, cpus: 2, memoryMiB: 1024, os: src.os, defaultTarget, blockDevices: src.blockDevices },
      nics: maps.networkInterfaceMap.interfaces.map((n, i) => ({ sourceMac: n.sourceMac, sourceName: n.sourceName, targetMac: n.targetMac, targetName: n.targetName, addresses: [img.meta.nics[i]!.ipv4], model: "vmxnet3" })),
      disks: [{ path: replica, sourceDevice: "/dev/vda", boot: true, format: "qcow2" }],
      fixupDisk: { path: fixupIso, kind: "cdrom" },
      toolsIso,
      target: { firmware: img.meta.boot },
      options: { singleUserMode: true, installStage2: true, renameNics: true, ...options },
      // the test boots the replica once more itself: the manager powers it off after its verified first boot
      firstBoot: { leave: "off" },
    }),
  };
}

interface Run {
  runDir: string;
  id: string;
  outcome: MigrationOutcome;
  seconds: number;
  logDir: string;
  serial: string;
  defaultTarget: string;
  replica: string;
  driver: Driver;
}

async function migrate(label: string, options: Record<string, boolean>): Promise<Run> {
  const img = await ensureDisk(variant);
  const rootfs = await ensureRootfs(variant);
  const fixup = await ensureFixupDisk();
  const runDir = newRunDir(`${variant}-${label}`);
  const id = `${label}-${runDir.slice(-15).replace(/[^0-9]/g, "")}`;
  const replica = join(runDir, "replica.qcow2");
  await execa("qemu-img", ["create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", img.disk.disk, replica]);
  const { spec, defaultTarget } = specFor(img, rootfs, id, replica, fixup.iso, await foreignToolsIso(runDir), options);
  const logDir = join(runDir, "logs");
  const driver = await createDriver("qemu", { qemu: { stateDir: join(runDir, "vms"), accel: "tcg" } });
  const mgr = new Manager({ driver, stateDir: join(runDir, "state"), logDir, pollMs: 2000 });
  const t0 = Date.now();
  const [outcome] = await mgr.runAll([{ spec }]);
  const seconds = Math.round((Date.now() - t0) / 1000);
  const serial = join(runDir, "vms", id, "serial.log");
  return { runDir, id, outcome: outcome!, seconds, logDir, serial, defaultTarget, replica, driver };
}

function stage2Of(run: Run): Stage2Result {
  const p = join(run.logDir, collectedLogName(run.id, "stage2"));
  assert.ok(existsSync(p), `${p} was not collected (run directory ${run.runDir})`);
  return Stage2Result.parse(JSON.parse(readFileSync(p, "utf8")));
}

test("tools ISO without a package for the guest: succeeded with warnings, tools reported missing, the guest in its original target", { skip, timeout: 120 * MIN }, async (t) => {
  const run = await migrate("s2warn", {});
  t.diagnostic(`run directory ${run.runDir}; migration ${run.seconds}s: ${run.outcome.status}: ${run.outcome.message}`);
  try {
    const at = `(run directory ${run.runDir}; serial ${run.serial})`;
    assert.equal(run.outcome.status, "succeeded", `${run.outcome.message} ${at}`);
    assert.match(run.outcome.message, /^migrated with warnings: .*stage 2 succeeded-with-warnings \(TOOLS_MISSING\)/, at);
    assert.equal(run.outcome.warnings?.length, 1, at);
    const r = stage2Of(run);
    assert.deepEqual([r.status, r.code, r.tools.installed, r.tools.code, r.tools.required, r.targetRestored, r.consoleSecured, r.guestState, r.powerOff], ["succeeded-with-warnings", "TOOLS_MISSING", false, "NO_PACKAGE", false, true, true, "restored", "requested"], at);
    // boot the replica once more: the marker service prints the default target
    const img = await ensureDisk(variant);
    const vm = await run.driver.createVm(vmSpec(`${run.id}-marker`, img, run.replica, undefined, {}));
    let serial = "";
    try {
      await vm.setBootOrder([{ kind: "disk", unit: 0 }]);
      await vm.powerOn();
      serial = (await waitBoot(vm, 0, 10 * MIN)).serial;
    } finally {
      await vm.powerOff().catch(() => undefined);
      await vm.close();
    }
    writeFileSync(join(run.runDir, "marker.serial"), serial);
    const m = parseMarker(serial);
    assert.ok(m, `no marker ${at}:\n${tail(serial, 30)}`);
    assert.equal(m.defaultTarget, run.defaultTarget, `default target ${at}`);
  } finally {
    await run.driver.close();
  }
});

test("requireTools: the migration fails at once with the sentinel's reason, and the console asks for the root password", { skip, timeout: 120 * MIN }, async (t) => {
  const run = await migrate("s2strict", { requireTools: true });
  t.diagnostic(`run directory ${run.runDir}; migration ${run.seconds}s: ${run.outcome.status}: ${run.outcome.message}`);
  try {
    const at = `(run directory ${run.runDir}; serial ${run.serial})`;
    assert.equal(run.outcome.status, "failed", at);
    assert.equal(run.outcome.step, "wait-stage2", at);
    assert.match(run.outcome.message, /stage 2 failed \(TOOLS_MISSING\): VMware Tools are required \(options\.requireTools\) and were not installed: the medium has no packages for this guest/, at);
    const r = stage2Of(run);
    assert.deepEqual([r.status, r.guestState, r.consoleSecured, r.powerOff], ["failed", "single-user", true, "not-attempted"], at);
    // the guest waits in rescue mode: sulogin asks for the password (no root shell opens by itself)
    const vm = await run.driver.openVm((await run.driver.findVm(run.id))!);
    let text = "";
    try {
      const t0 = Date.now();
      while (Date.now() - t0 < 5 * MIN) {
        text = readFileSync(run.serial, "utf8");
        if (/Give root password for maintenance|Enter root password/.test(text.slice(text.lastIndexOf("stage-2 result end")))) break;
        await new Promise((res) => setTimeout(res, 2000));
      }
      assert.equal(await vm.powerState(), "on", `a failed stage 2 leaves the guest up for a person ${at}`);
    } finally {
      await vm.powerOff().catch(() => undefined);
      await vm.close();
    }
    const after = text.slice(text.lastIndexOf("stage-2 result end"));
    assert.match(after, /Give root password for maintenance|Enter root password/, `${at}:\n${tail(after, 30)}`);
    assert.doesNotMatch(after, /rescue mode during the migration/, "the password-less shell of stage 1 did not open");
  } finally {
    await run.driver.close();
  }
});
