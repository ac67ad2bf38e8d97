// The vSphere driver through a whole migration against vcsim (govmomi's simulator built from
// Debian's source by scripts/build-vcsim.sh), the guest side simulated by guest-sim.ts. The
// guest's results reach the manager on the serial port's file (serial.test.ts).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { VsphereDriver, type VsphereVm } from "../../src/manager/drivers/vsphere/driver.ts";
import { DriverError, GuestFileNotFoundError, type DeviceDescription } from "../../src/manager/drivers/types.ts";
import { Manager, type ManagerEvent } from "../../src/manager/manager.ts";
import { parseSpec, type MigrationSpec } from "../../src/manager/spec.ts";
import { NetworkInterfaceMap, ReplicaDiskMap, Result, Stage2Result, SystemConfiguration, Verification } from "../../src/protocol/schemas.ts";
import { lastStage2Result } from "../../src/manager/stage2.ts";
import { createDisk, startVcsim, testClient, type Vcsim } from "./vcsim.ts";
import { onceEach, simReport, startGuestSim } from "./guest-sim.ts";

const RUN_CONTAINER = { "RUN.container": '["busybox"]' };
const GUEST_PASSWORD = "fixup-guest-secret";
let vc: Vcsim;
let sim: Awaited<ReturnType<typeof startGuestSim>>;

before(async () => {
  vc = await startVcsim();
  const c = await testClient(vc);
  // one fixup disk per VM: destroying a VM deletes the disks attached to it
  for (const p of [...["vs-a", "vs-f", "vs-ok", "vs-cli", "vs-s2f", "vs-vf"].map((id) => `[LocalDS_0] osam/fixup-${id}.vmdk`), ...["a-0", "a-1", "b-0", "c-0", "d-0", "e-0", "f-0", "g-0"].map((n) => `[LocalDS_0] rep/${n}.vmdk`)]) await createDisk(c, p);
  await c.logout();
  sim = await startGuestSim(vc.url, vc.user, vc.password, vc.guestRoot);
});

after(async () => {
  await sim?.stop();
  await vc?.stop();
});

function driverOpts() {
  return { url: vc.url, user: vc.user, password: vc.password, guestUser: "root", guestPassword: GUEST_PASSWORD, pollMs: 50, extraConfig: RUN_CONTAINER };
}

function spec(id: string, disks: string[], over: Record<string, unknown> = {}): MigrationSpec {
  return parseSpec({
    migrationId: id,
    source: { hostname: "web1", hypervisor: "kvm", firmware: "bios", cpus: 2, memoryMiB: 2048 },
    nics: [
      { sourceMac: "52:54:00:00:00:01", sourceName: "ens3", targetMac: "00:50:56:01:00:01", targetName: "ens192" },
      { sourceMac: "52:54:00:00:00:02", sourceName: "ens4", targetMac: "00:50:56:01:00:02", targetName: "ens224" },
    ],
    disks: disks.map((p, i) => ({ path: p, sourceDevice: `/dev/vd${"ab"[i]}` })),
    fixupDisk: { path: `[LocalDS_0] osam/fixup-${id}.vmdk`, kind: "disk" },
    toolsIso: "[LocalDS_0] osam/vmware-tools.iso",
    ...over,
  });
}

test("vsphere: a whole migration against vcsim: devices, boot order before/after, guest files, logs", { timeout: 180_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "osam-vs-"));
  const drv = await VsphereDriver.connect(driverOpts());
  try {
    const snaps = new Map<string, DeviceDescription>();
    const mgr = new Manager({
      driver: drv,
      stateDir: join(dir, "state"),
      logDir: join(dir, "logs"),
      pollMs: 100,
      afterStep: async (id, step) => {
        if (["boot-from-fixup", "power-on-fixup", "insert-tools", "connect-nics"].includes(step)) {
          const st = await mgr.store.load(id);
          snaps.set(step, await (await drv.openVm(st!.vm!)).describe());
        }
      },
    });
    const events: ManagerEvent[] = [];
    mgr.on("event", (e: ManagerEvent) => events.push(e));
    const [r] = await mgr.runAll([{ spec: spec("vs-a", ["[LocalDS_0] rep/a-0.vmdk", "[LocalDS_0] rep/a-1.vmdk"]) }]);
    assert.equal(r?.status, "succeeded", r?.message);
    // stage 2's result and the first boot's verification, read from the serial port's file
    assert.match(r?.message ?? "", /stage 2 succeeded \(OK\).*first boot verified on vmware/);
    assert.equal(Stage2Result.parse(JSON.parse(readFileSync(join(dir, "logs", "vs-a_stage2.json"), "utf8"))).status, "succeeded");
    assert.equal(Verification.parse(JSON.parse(readFileSync(join(dir, "logs", "vs-a_verify.json"), "utf8"))).verified, true);

    // the VM as created: PVSCSI, disks at 0:0, 0:1 and 0:15, NICs not connected, boot from 15
    const d0 = snaps.get("boot-from-fixup");
    assert.ok(d0);
    assert.equal(d0.controller, "pvscsi");
    assert.deepEqual(d0.disks.map((d) => [d.unit, d.path]), [
      [0, "[LocalDS_0] rep/a-0.vmdk"],
      [1, "[LocalDS_0] rep/a-1.vmdk"],
      [15, "[LocalDS_0] osam/fixup-vs-a.vmdk"],
    ]);
    assert.deepEqual(d0.nics.map((n) => [n.mac, n.model, n.connected]), [
      ["00:50:56:01:00:01", "vmxnet3", false],
      ["00:50:56:01:00:02", "vmxnet3", false],
    ]);
    assert.deepEqual(d0.bootOrder, [{ kind: "disk", unit: 15 }]);
    assert.equal(d0.cdrom, undefined);
    assert.equal(d0.cpus, 2);
    assert.equal(d0.memoryMiB, 2048);
    // the NICs stay disconnected while the fixup disk runs
    assert.deepEqual(snaps.get("power-on-fixup")?.nics.map((n) => n.connected), [false, false]);
    // stage 2: boot from the replica, CD-ROM with the tools ISO
    const d1 = snaps.get("insert-tools");
    assert.deepEqual(d1?.bootOrder, [{ kind: "disk", unit: 0 }]);
    assert.deepEqual(d1?.cdrom, { present: true, media: "[LocalDS_0] osam/vmware-tools.iso", connected: true });
    // at the end: NICs connected, the VM running its first boot (left running by default)
    assert.deepEqual(snaps.get("connect-nics")?.nics.map((n) => n.connected), [true, true]);
    const st = await mgr.store.load("vs-a");
    const vm = await drv.openVm(st!.vm!);
    assert.equal(await vm.powerState(), "on");
    assert.equal(lastStage2Result((await vm.serialOutput()).toString("utf8"))?.result.status, "succeeded");

    // files written into the guest (by transfer to guest), as the guest sees them
    const cid = readdirSync(vc.guestRoot).find((x) => existsSync(join(vc.guestRoot, x, "tmp/fixup/BEGIN")) && readFileSync(join(vc.guestRoot, x, "tmp/fixup/fixup.log"), "utf8").includes("vs-a"));
    assert.ok(cid, "the guest container holding vs-a's fixup directory");
    const fx = join(vc.guestRoot, cid, "tmp/fixup");
    assert.equal(SystemConfiguration.parse(JSON.parse(readFileSync(join(fx, "system-configuration.json"), "utf8"))).migrationId, "vs-a");
    assert.deepEqual(ReplicaDiskMap.parse(JSON.parse(readFileSync(join(fx, "replica-disk-map.json"), "utf8"))).disks.map((d) => d.target.unit), [0, 1]);
    assert.equal(NetworkInterfaceMap.parse(JSON.parse(readFileSync(join(fx, "network-interface-map.json"), "utf8"))).interfaces[1]?.targetName, "ens224");
    // files read from the guest (by transfer from guest): the collected logs
    assert.equal(readFileSync(join(dir, "logs", "vs-a_fixup.log"), "utf8"), readFileSync(join(fx, "fixup.log"), "utf8"));
    assert.equal(Result.parse(JSON.parse(readFileSync(join(dir, "logs", "vs-a_result.json"), "utf8"))).status, "succeeded");
    assert.deepEqual(onceEach(simReport(sim.stats), ["vs-a"], vc.guestRoot), []);
    // the guest password never reaches the manager's log or state
    assert.ok(!readFileSync(join(dir, "state", "vs-a.log"), "utf8").includes(GUEST_PASSWORD));
    assert.ok(!readFileSync(join(dir, "state", "vs-a.json"), "utf8").includes(GUEST_PASSWORD));
    assert.ok(!readFileSync(join(dir, "state", "vs-a.json"), "utf8").includes(vc.password + '"'));
    await vm.destroy();
  } finally {
    await drv.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("vsphere guest ops: list, exists, read/write round trip, not-found; power state guards", { timeout: 60_000 }, async () => {
  const drv = await VsphereDriver.connect(driverOpts());
  let vm: VsphereVm | undefined;
  try {
    vm = await drv.createVm({ name: "vs-g", cpus: 1, memoryMiB: 512, firmware: "uefi", nics: [], disks: [{ unit: 0, path: "[LocalDS_0] rep/b-0.vmdk" }] });
    assert.equal((await drv.createVm({ name: "vs-g", cpus: 8, memoryMiB: 8192, firmware: "bios", nics: [], disks: [] })).ref.id, vm.ref.id, "createVm is idempotent by name");
    assert.equal((await vm.describe()).firmware, "uefi");
    await assert.rejects(vm.guest.ready({ timeoutMs: 300 }), /VMware Tools not running/);
    await vm.powerOn();
    await vm.powerOn(); // no-op
    await vm.guest.ready({ timeoutMs: 10_000 });
    const data = Buffer.from(Array.from({ length: 70_000 }, (_, i) => i % 251));
    await vm.guest.writeFile("/tmp/x.bin", data);
    assert.ok((await vm.guest.readFile("/tmp/x.bin")).equals(data));
    assert.equal(await vm.guest.exists("/tmp/x.bin"), true);
    assert.equal(await vm.guest.exists("/tmp/x.bi"), false, "matchPattern is anchored");
    assert.equal(await vm.guest.exists("/nodir/x"), false);
    assert.deepEqual((await vm.guest.listDir("/tmp")).find((f) => f.name === "x.bin"), { name: "x.bin", type: "file", size: 70_000 });
    await assert.rejects(vm.guest.listDir("/nodir"), GuestFileNotFoundError);
    await assert.rejects(vm.guest.readFile("/tmp/none"), GuestFileNotFoundError);
    await assert.rejects(vm.setBootOrder([{ kind: "disk", unit: 9 }]), (e: unknown) => e instanceof DriverError && /no disk at scsi0:9/.test(e.message));
    await vm.powerOff();
    await vm.powerOff(); // no-op
    await assert.rejects(vm.guest.listDir("/tmp"), DriverError, "guest operations need a running VM");
  } finally {
    await vm?.destroy();
    await drv.close();
  }
});

test("vsphere: stage-1 failure stops the migration with its code; one failure does not disturb the others", { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "osam-vs-"));
  const drv = await VsphereDriver.connect(driverOpts());
  try {
    const mgr = new Manager({ driver: drv, stateDir: join(dir, "state"), logDir: join(dir, "logs"), pollMs: 100 });
    const out = await mgr.runAll([
      { spec: spec("vs-f", ["[LocalDS_0] rep/c-0.vmdk"], { source: { hostname: "fail-stage1", firmware: "bios", cpus: 1, memoryMiB: 512 } }) },
      { spec: spec("vs-ok", ["[LocalDS_0] rep/d-0.vmdk"]) },
    ]);
    assert.equal(out[0]?.status, "failed");
    assert.equal(out[0]?.code, 200, out[0]?.message);
    assert.match(out[0]?.message ?? "", /^step check-result failed: stage 1 failed \(code 200\)/);
    assert.ok(existsSync(join(dir, "logs", "vs-f_result.json")));
    assert.equal(out[1]?.status, "succeeded", out[1]?.message);
    for (const id of ["vs-f", "vs-ok"]) await (await drv.openVm((await mgr.store.load(id))!.vm!)).destroy();
  } finally {
    await drv.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("vsphere: the manager learns from the serial port that stage 2 failed or that the first boot is not verified, and says why", { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "osam-vs-"));
  const drv = await VsphereDriver.connect(driverOpts());
  try {
    const mgr = new Manager({ driver: drv, stateDir: join(dir, "state"), logDir: join(dir, "logs"), pollMs: 100 });
    const t0 = Date.now();
    // the failing guest stays on in single-user mode: without the serial port the manager would wait out this timeout
    const out = await mgr.runAll([
      { spec: spec("vs-s2f", ["[LocalDS_0] rep/f-0.vmdk"], { source: { hostname: "fail-stage2", firmware: "bios", cpus: 1, memoryMiB: 512 }, timeouts: { "wait-stage2": 600 } }) },
      { spec: spec("vs-vf", ["[LocalDS_0] rep/g-0.vmdk"], { source: { hostname: "fail-verify", firmware: "bios", cpus: 1, memoryMiB: 512 } }) },
    ]);
    assert.ok(Date.now() - t0 < 90_000);
    assert.equal(out[0]?.status, "failed");
    assert.match(out[0]?.message ?? "", /stage 2 failed \(RESTORE_FAILED\): the boot target could not be put back; the guest waits in single-user mode/);
    assert.equal(Stage2Result.parse(JSON.parse(readFileSync(join(dir, "logs", "vs-s2f_stage2.json"), "utf8"))).guestState, "single-user");
    assert.equal(out[1]?.status, "failed");
    assert.match(out[1]?.message ?? "", /the first boot was not verified: not verified: NIC ens224 is missing/);
    assert.equal(Verification.parse(JSON.parse(readFileSync(join(dir, "logs", "vs-vf_verify.json"), "utf8"))).verified, false);
    for (const id of ["vs-s2f", "vs-vf"]) {
      const vm = await drv.openVm((await mgr.store.load(id))!.vm!);
      assert.equal(await vm.powerState(), "on", `${id} is left running for a person`);
      await vm.destroy();
    }
  } finally {
    await drv.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("vsphere: TLS is verified by default; --insecure turns it off explicitly", { timeout: 60_000 }, async () => {
  const tls = await startVcsim({ tls: true });
  try {
    await assert.rejects(VsphereDriver.connect({ url: tls.url, user: tls.user, password: tls.password, guestUser: "root", guestPassword: "x" }), /certificate|self[- ]signed|unable to verify/i);
    const d = await VsphereDriver.connect({ url: tls.url, user: tls.user, password: tls.password, guestUser: "root", guestPassword: "x", insecure: true });
    await d.close();
  } finally {
    await tls.stop();
  }
});

test("migrate --driver vsphere: credentials from the environment, never on the command line", { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "osam-vs-cli-"));
  try {
    const specPath = join(dir, "spec.json");
    const { writeFileSync } = await import("node:fs");
    writeFileSync(specPath, JSON.stringify({ ...spec("vs-cli", ["[LocalDS_0] rep/e-0.vmdk"]), nics: [{ sourceMac: "52:54:00:00:00:09", targetMac: "00:50:56:01:00:09" }] }));
    const main = join(import.meta.dirname, "../../src/cli/main.ts");
    const env = { ...process.env, OSAM_VSPHERE_URL: vc.url, OSAM_VSPHERE_USER: vc.user, OSAM_VSPHERE_PASSWORD: vc.password, OSAM_GUEST_PASSWORD: GUEST_PASSWORD, OSAM_VSPHERE_EXTRA_CONFIG: JSON.stringify(RUN_CONTAINER) };
    const r = await promisify(execFile)(process.execPath, [main, "migrate", "--driver", "vsphere", "--state-dir", join(dir, "state"), "--log-dir", join(dir, "logs"), "--poll", "0.1", "--json", specPath], { env, encoding: "utf8", timeout: 100_000 });
    const last = JSON.parse(r.stdout.trim().split("\n").pop() ?? "{}") as { type: string; status: string };
    assert.deepEqual([last.type, last.status], ["migration-done", "succeeded"]);
    assert.ok(existsSync(join(dir, "logs", "vs-cli_fixup.log")));
    // without credentials: a usage error naming what is missing
    const bad = await promisify(execFile)(process.execPath, [main, "migrate", "--driver", "vsphere", "--vsphere-url", vc.url, "--state-dir", join(dir, "s2"), specPath], { env: { PATH: process.env.PATH ?? "" }, encoding: "utf8" }).catch((e: { code: number; stderr: string }) => e);
    assert.equal((bad as { code: number }).code, 2);
    assert.match((bad as { stderr: string }).stderr, /OSAM_VSPHERE_USER and OSAM_VSPHERE_PASSWORD, or --vsphere-credentials/);
    const drv = await VsphereDriver.connect(driverOpts());
    const ref = await drv.findVm("vs-cli");
    if (ref) await (await drv.openVm(ref)).destroy();
    await drv.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the guest simulator met no error in this file's migrations", () => {
  assert.deepEqual(sim.stats.errors, []);
});
