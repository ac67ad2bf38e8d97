// End-to-end through the product's own entry point: `osam-fixup migrate` (run from source as a
// child process) migrates the default Debian 12 image on QEMU from a spec built out of the
// image's facts (the same facts the e2e harness derives its maps from). Then the collected logs
// must be under --log-dir with their contract names. The manager's last steps boot the migrated
// guest once more and collect its own verification, which must say verified; in that same boot
// the test image's marker prints the test's own evidence: root on PVSCSI, exactly eth0 with the
// mapped MAC and the source's address, the default target restored, nothing of stage 2 left, a
// clean boot (running, no failed unit) and vmtoolsd running. The run directory is kept and printed.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execa } from "execa";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createDriver } from "../../src/manager/drivers/index.ts";
import { Result, Verification } from "../../src/protocol/schemas.ts";
import { lastVerification } from "../../src/manager/verify.ts";
import { assertVerified } from "./lib/verification.ts";
import { ensureDisk, ensureRootfs, DEFAULT_VARIANT, sourceAddresses } from "../helpers/images.ts";
import { ensureFixupDisk, ensureToolsIso } from "./lib/artifacts.ts";
import { buildMaps, defaultTargetOf } from "./lib/maps.ts";
import { assertCleanBoot, assertStage2Gone, assertToolsRun, parseMarker } from "./lib/marker.ts";
import { tail } from "./lib/migration.ts";
import { newRunDir, REPO } from "./lib/paths.ts";

const MIN = 60_000;
const variant = DEFAULT_VARIANT;

test(`osam-fixup migrate drives the ${variant} migration end to end on QEMU`, { timeout: 120 * MIN }, async (t) => {
  const img = await ensureDisk(variant);
  const rootfs = await ensureRootfs(variant);
  const fixup = await ensureFixupDisk();
  const toolsIso = await ensureToolsIso(img.meta.suite);
  assert.ok(toolsIso, "scripts/build-tools-iso.sh is missing: the manager needs a tools ISO for stage 2");

  const runDir = newRunDir(`${variant}-cli`);
  const at = `(run directory ${runDir})`;
  t.diagnostic(`run directory ${runDir}`);
  const migrationId = `cli-${variant}-${runDir.slice(-15).replace(/[^0-9]/g, "")}`;
  const defaultTarget = defaultTargetOf(rootfs);
  // the maps the harness would deliver itself; the spec carries the same facts to the manager
  const maps = buildMaps(img, migrationId, defaultTarget);
  const src = maps.systemConfiguration.source;

  const replica = join(runDir, "replica.qcow2");
  await execa("qemu-img", ["create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", img.disk.disk, replica]);

  const spec = {
    migrationId,
    source: {
      hostname: src.hostname,
      hypervisor: src.hypervisor,
      firmware: img.meta.boot,
      cpus: 2,
      memoryMiB: 1024,
      os: src.os,
      defaultTarget,
      blockDevices: src.blockDevices,
    },
    nics: maps.networkInterfaceMap.interfaces.map((n, i) => ({
      sourceMac: n.sourceMac,
      sourceName: n.sourceName,
      targetMac: n.targetMac,
      targetName: n.targetName,
      addresses: [img.meta.nics[i]!.ipv4],
      ...(img.meta.nics[i]!.gateway ? { gateway: img.meta.nics[i]!.gateway } : {}),
      model: "vmxnet3",
    })),
    disks: [{ path: replica, sourceDevice: "/dev/vda", boot: true, format: "qcow2" }],
    fixupDisk: { path: fixup.iso, kind: "cdrom" },
    toolsIso,
    target: { firmware: img.meta.boot },
    options: { singleUserMode: true, installStage2: true, renameNics: true },
  };
  const specPath = join(runDir, "spec.json");
  writeFileSync(specPath, JSON.stringify(spec, null, 2) + "\n");
  const stateDir = join(runDir, "state");
  const logDir = join(runDir, "logs");
  const vmDir = join(runDir, "vms");

  const t0 = Date.now();
  const r = await execa("node", [join(REPO, "src/cli/main.ts"), "migrate", specPath, "--state-dir", stateDir, "--log-dir", logDir, "--vm-dir", vmDir, "--json"], {
    cwd: REPO,
    env: { PATH: `${join(REPO, "node_modules/.bin")}:${process.env.PATH ?? ""}` },
    stdin: "ignore",
    reject: false,
    timeout: 90 * MIN,
    all: true,
  });
  const migrateSeconds = Math.round((Date.now() - t0) / 1000);
  writeFileSync(join(runDir, "migrate.out"), String(r.all ?? ""));
  t.diagnostic(`migrate: exit ${r.exitCode ?? "?"} after ${migrateSeconds}s; output ${join(runDir, "migrate.out")}, manager log ${join(stateDir, `${migrationId}.log`)}`);
  const vmSerial = join(vmDir, migrationId, "serial.log");
  assert.equal(r.exitCode, 0, `osam-fixup migrate exited ${r.exitCode ?? "?"}${r.timedOut ? " (timed out)" : ""} ${at}:\n${tail(String(r.all ?? ""), 30)}\nserial ${vmSerial}`);

  const fixupLog = join(logDir, `${migrationId}_fixup.log`);
  const resultJson = join(logDir, `${migrationId}_result.json`);
  assert.ok(existsSync(fixupLog), `${fixupLog} missing ${at}`);
  assert.ok(existsSync(resultJson), `${resultJson} missing ${at}`);
  const result = Result.parse(JSON.parse(readFileSync(resultJson, "utf8")));
  assert.equal(result.status, "succeeded", `code ${result.code} at step ${result.step ?? "?"}: ${result.message} ${at}`);

  // the manager booted the migrated guest once more (NICs connected) and read its
  // verification; the test image's marker printed its facts in that same boot, then powered off
  const state = JSON.parse(readFileSync(join(stateDir, `${migrationId}.json`), "utf8")) as { firstBootSerialOffset?: number; verification?: { verified: boolean } };
  assert.equal(typeof state.firstBootSerialOffset, "number", `the manager recorded no first boot ${at}`);
  const vmDriver = await createDriver("qemu", { qemu: { stateDir: vmDir, accel: "tcg" } });
  const t3 = Date.now();
  let off = false;
  try {
    const vm = await vmDriver.openVm({ driver: "qemu", name: migrationId, id: join(vmDir, migrationId) });
    // the marker powers the guest off right after the verification: give it the time to
    await vm.waitPoweredOff({ timeoutMs: 5 * MIN }).then(() => (off = true), () => undefined);
    await vm.powerOff().catch(() => undefined);
    await vm.close();
  } finally {
    await vmDriver.close();
  }
  const serial = readFileSync(vmSerial).subarray(state.firstBootSerialOffset ?? 0).toString("utf8");
  const markerSerial = join(runDir, "first-boot.serial");
  writeFileSync(markerSerial, serial);
  t.diagnostic(`timings (s): migrate ${migrateSeconds} (first boot included); after it, the guest ${off ? "powered itself off" : "was still on and was powered off"} within ${Math.round((Date.now() - t3) / 1000)} s`);

  const verifyJson = join(logDir, `${migrationId}_verify.json`);
  assert.ok(existsSync(verifyJson), `${verifyJson} missing ${at}`);
  const verification = Verification.parse(JSON.parse(readFileSync(verifyJson, "utf8")));
  assert.deepEqual(verification, lastVerification(serial)?.verification, `the collected verification is the one the guest printed ${at}`);
  assert.equal(state.verification?.verified, true, `state.verification ${at}`);
  assertVerified(verification, { rootDriver: "vmw_pvscsi", nics: maps.networkInterfaceMap.interfaces.map((n) => ({ name: n.targetName ?? "", mac: n.targetMac })), addresses: sourceAddresses(img.meta).map((a) => a.ipv4) }, at);
  const outcome = off ? "powered off by the marker" : "still running";
  const m = parseMarker(serial);
  assert.ok(m, `the migrated guest printed no E2E-MARKER (${outcome}) ${at}; ${markerSerial}:\n${tail(serial, 30)}`);
  assert.equal(m.rootDriver, "vmw_pvscsi", `root ${m.root} (${m.rootBlock}) hangs off ${m.rootDriver || "no PCI driver"} ${at}`);
  assert.match(m.rootHctl, /^\d+:0:0:0$/, `root disk SCSI address ${m.rootHctl} is not target 0 lun 0 ${at}`);
  assert.doesNotMatch(m.root, /^\/dev\/vd/, `root still named ${m.root} ${at}`);
  const wantLinks = maps.networkInterfaceMap.interfaces.map((n) => ({ name: n.targetName, mac: n.targetMac, driver: "vmxnet3" }));
  assert.deepEqual(wantLinks.map((l) => l.name), ["eth0"], "the default image has one NIC");
  assert.deepEqual([...m.links].sort((a, b) => a.name.localeCompare(b.name)), wantLinks, `links ${at}`);
  assert.deepEqual(m.ipv4, { eth0: [img.meta.nics[0]!.ipv4] }, `addresses ${at}`);
  assert.equal(m.defaultTarget, defaultTarget, `default target ${at}`);
  assertStage2Gone(m, at);
  assertCleanBoot(m, at, "qemu");
  assertToolsRun(m, at, "qemu");
});
