import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { Manager, type ManagerEvent } from "../../../src/manager/manager.ts";
import { bootUnit, diskUnits } from "../../../src/manager/spec.ts";
import { sampleSpec } from "./spec-sample.ts";
import { STEP_NAMES } from "../../../src/manager/steps.ts";
import { NetworkInterfaceMap, ReplicaDiskMap, Result, SystemConfiguration, Verification } from "../../../src/protocol/schemas.ts";
import { SimDriver } from "./sim-driver.ts";

function setup(concurrency = 4, timeoutScale = 1, serial = false) {
  const dir = mkdtempSync(join(tmpdir(), "osam-mgr-"));
  const driver = new SimDriver(join(dir, "hv"), {}, { serial });
  const events: ManagerEvent[] = [];
  const mgr = new Manager({ driver, stateDir: join(dir, "state"), logDir: join(dir, "logs"), concurrency, pollMs: 10, timeoutScale });
  mgr.on("event", (e: ManagerEvent) => events.push(e));
  return { dir, driver, mgr, events, done: () => rmSync(dir, { recursive: true, force: true }) };
}

test("a migration runs every step in order; maps validate; logs land under the log dir with the right names", async () => {
  const { dir, driver, mgr, events, done } = setup();
  try {
    const [r] = await mgr.runAll([{ spec: sampleSpec("mig-1") }]);
    assert.equal(r?.status, "succeeded", r?.message);
    const starts = events.filter((e) => e.type === "step-start").map((e) => (e as { step: string }).step);
    assert.deepEqual(starts, [...STEP_NAMES]);
    // the maps as delivered into the guest
    const g = join(dir, "hv", "mig-1", "guest", "tmp", "fixup");
    const sys = SystemConfiguration.parse(JSON.parse(readFileSync(join(g, "system-configuration.json"), "utf8")));
    assert.equal(sys.migrationId, "mig-1");
    assert.deepEqual(sys.target, { firmware: "bios", scsiController: "pvscsi", nicModel: "vmxnet3" });
    const disks = ReplicaDiskMap.parse(JSON.parse(readFileSync(join(g, "replica-disk-map.json"), "utf8")));
    assert.deepEqual(disks.disks.map((d) => [d.source.device, d.target.unit]), [["/dev/vda", 0], ["/dev/vdb", 1]]);
    const net = NetworkInterfaceMap.parse(JSON.parse(readFileSync(join(g, "network-interface-map.json"), "utf8")));
    assert.equal(net.interfaces[0]?.targetMac, "00:50:56:aa:bb:01");
    // logs
    assert.equal(readFileSync(join(dir, "logs", "mig-1_fixup.log"), "utf8"), "simulated stage 1 for mig-1\n");
    Result.parse(JSON.parse(readFileSync(join(dir, "logs", "mig-1_result.json"), "utf8")));
    // what the hypervisor saw, in order
    const ops = driver.ops("mig-1");
    assert.deepEqual(
      ops.filter((o) => !o.startsWith("writeFile /tmp/fixup/") || o.endsWith("BEGIN")),
      [
        "createVm",
        'setBootOrder [{"kind":"disk","unit":15}]',
        "powerOn 15",
        "writeFile /tmp/fixup/BEGIN",
        "stage1-done",
        "powerOff",
        'setBootOrder [{"kind":"disk","unit":0}]',
        "addCdrom",
        "powerOn 0",
        "insertMedia /img/tools.iso",
        "stage2-poweroff",
        "setNicConnected 0 true",
        "setNicConnected 1 true",
        // the first boot; the sim driver offers no serial console, so it is not verified
        "powerOn 0",
      ],
    );
    assert.ok(ops.indexOf("writeFile /tmp/fixup/network-interface-map.json") < ops.indexOf("writeFile /tmp/fixup/BEGIN"), "BEGIN is written last");
    const vm = await driver.openVm({ driver: "sim", name: "mig-1", id: join(dir, "hv", "mig-1") });
    const d = await vm.describe();
    assert.deepEqual(d.nics.map((n) => n.connected), [true, true]);
    const last = events.at(-1);
    assert.equal(last?.type, "migration-done");
  } finally {
    done();
  }
});

test("with a serial console: the stage-2 result and the first-boot verification are collected; the VM is left running", async () => {
  const { dir, driver, mgr, done } = setup(4, 1, true);
  try {
    const [r] = await mgr.runAll([{ spec: sampleSpec("mig-v") }]);
    assert.equal(r?.status, "succeeded", r?.message);
    assert.match(r?.message ?? "", /first boot verified on vmware/);
    const v = Verification.parse(JSON.parse(readFileSync(join(dir, "logs", "mig-v_verify.json"), "utf8")));
    assert.equal(v.verified, true);
    const st = await mgr.store.load("mig-v");
    assert.deepEqual(st?.verification, { verified: true, summary: "verified", hypervisor: "vmware", failed: [] });
    assert.equal(st?.collected?.verify, join(dir, "logs", "mig-v_verify.json"));
    const ops = driver.ops("mig-v");
    assert.deepEqual(ops.slice(-3), ["setNicConnected 1 true", "powerOn 0", "first-boot-verified"], "the verified VM is left running");
    const vm = await driver.openVm({ driver: "sim", name: "mig-v", id: join(dir, "hv", "mig-v") });
    assert.equal(await vm.powerState(), "on");
  } finally {
    done();
  }
});

test("a first boot that is not verified fails the migration with what differs and leaves the VM running; leave: off powers a verified one off; verify: false does not boot it", async () => {
  const { dir, driver, mgr, done } = setup(4, 1, true);
  try {
    const [bad, off, skip] = await mgr.runAll([
      { spec: sampleSpec("mig-fail-verify") },
      { spec: sampleSpec("mig-off", { firstBoot: { leave: "off" } }) },
      { spec: sampleSpec("mig-skip", { firstBoot: { verify: false } }) },
    ]);
    assert.equal(bad?.status, "failed");
    assert.equal(bad?.step, "verify-first-boot");
    assert.match(bad?.message ?? "", /first boot was not verified: not verified: eth1 is missing.*nic eth1: NIC_MISSING/);
    assert.equal(Verification.parse(JSON.parse(readFileSync(join(dir, "logs", "mig-fail-verify_verify.json"), "utf8"))).verified, false);
    const vmBad = await driver.openVm({ driver: "sim", name: "mig-fail-verify", id: join(dir, "hv", "mig-fail-verify") });
    assert.equal(await vmBad.powerState(), "on", "left running for a person to look at");
    assert.equal(off?.status, "succeeded", off?.message);
    assert.deepEqual(driver.ops("mig-off").slice(-2), ["first-boot-verified", "powerOff"]);
    assert.equal(skip?.status, "succeeded", skip?.message);
    assert.match(skip?.message ?? "", /first boot not verified \(turned off\)/);
    assert.equal(driver.ops("mig-skip").at(-1), "setNicConnected 1 true", "not powered on");
  } finally {
    done();
  }
});

test("stage 1 failure stops the migration with the result's code; logs are still collected", async () => {
  const { dir, driver, mgr, done } = setup();
  try {
    const spec = sampleSpec("mig-f", { source: { hostname: "fail-stage1", firmware: "bios", cpus: 1, memoryMiB: 512 } });
    const [r] = await mgr.runAll([{ spec }]);
    assert.equal(r?.status, "failed");
    assert.equal(r?.step, "check-result");
    assert.equal(r?.code, 200);
    assert.match(r?.message ?? "", /step check-result failed: stage 1 failed \(code 200, step mount\): no Linux root/);
    assert.ok(existsSync(join(dir, "logs", "mig-f_result.json")));
    assert.ok(!driver.ops("mig-f").includes("powerOff"), "the fixup VM is left as it is for inspection");
    const st = await mgr.store.load("mig-f");
    assert.equal(st?.status, "failed");
    assert.equal(st?.error?.step, "check-result");
  } finally {
    done();
  }
});

test("a step that takes too long fails with an error naming the step; the others carry on", async () => {
  const { driver, mgr, events, done } = setup(4);
  try {
    // the simulated stage 1 takes 60 s; wait-end is given 0.3 s
    const slow = new SimDriver(driver.dir, { stage1Ms: 60_000 });
    const mgr2 = new Manager({ driver: slow, stateDir: mgr.store.dir, logDir: "/nonexistent-not-used", pollMs: 10 });
    const specSlow = sampleSpec("mig-slow", { timeouts: { "wait-end": 0.3 } });
    const [r] = await mgr2.runAll([{ spec: specSlow }]);
    assert.equal(r?.status, "failed");
    assert.equal(r?.step, "wait-end");
    assert.equal(r?.message, "step wait-end timed out after 0.3 s");
    void events;
  } finally {
    done();
  }
});

test("many migrations under a concurrency limit; one bad one does not disturb the others", async () => {
  const { dir, mgr, events, done } = setup(3);
  try {
    let running = 0;
    let peak = 0;
    mgr.on("event", (e: ManagerEvent) => {
      if (e.type === "migration-start") peak = Math.max(peak, ++running);
      if (e.type === "migration-done") running--;
    });
    const jobs = Array.from({ length: 10 }, (_, i) => ({ spec: sampleSpec(`m${i}`, i === 4 ? { source: { hostname: "fail-stage1", firmware: "bios", cpus: 1, memoryMiB: 512 } } : {}) }));
    const out = await mgr.runAll(jobs);
    assert.equal(out.filter((o) => o.status === "succeeded").length, 9);
    assert.equal(out[4]?.status, "failed");
    assert.equal(peak, 3);
    for (let i = 0; i < 10; i++) if (i !== 4) assert.ok(existsSync(join(dir, "logs", `m${i}_fixup.log`)));
    assert.equal(events.filter((e) => e.type === "migration-done").length, 10);
  } finally {
    done();
  }
});

test("a finished migration is not run again; an unfinished one resumes at its step; a stale lock is taken over", async () => {
  const { dir, driver, mgr, done } = setup();
  try {
    await mgr.runAll([{ spec: sampleSpec("mig-r") }]);
    await assert.rejects(mgr.runOne({ spec: sampleSpec("mig-r") }), /already succeeded/);
    // simulate a manager killed during wait-stage2: state says running at that step
    const st = await mgr.store.load("mig-r");
    assert.ok(st);
    st.status = "running";
    const i = STEP_NAMES.indexOf("wait-stage2");
    for (let k = i; k < st.steps.length; k++) {
      const rec = st.steps[k];
      if (rec) rec.status = k === i ? "running" : "pending";
    }
    await mgr.store.save(st);
    writeFileSync(join(mgr.store.dir, "mig-r.lock"), "999999\n"); // a dead owner
    // as it was then: the guest had powered itself off at the end of stage 2
    await (await driver.openVm({ driver: "sim", name: "mig-r", id: join(dir, "hv", "mig-r") })).powerOff();
    const before = driver.ops("mig-r").length;
    const r = await mgr.runOne({ resumeId: "mig-r" });
    assert.equal(r.status, "succeeded", r.message);
    assert.deepEqual(driver.ops("mig-r").slice(before), ["setNicConnected 0 true", "setNicConnected 1 true", "powerOn 0"]);
    assert.deepEqual(await mgr.unfinished(), []);
    void dir;
  } finally {
    done();
  }
});

test("spec validation names the field; the derived maps are checked against the contract", () => {
  assert.throws(() => sampleSpec("bad id!"), /migrationId/);
  assert.throws(() => sampleSpec("x", { disks: [{ path: "/a", sourceDevice: "/dev/vda", unit: 7 }] }), /unit 7 is the controller itself/);
  assert.throws(() => sampleSpec("x", { nics: [{ sourceMac: "nope", targetMac: "00:50:56:00:00:01" }] }), /nics\.0\.sourceMac/);
  const s = sampleSpec("x", { disks: Array.from({ length: 9 }, (_, i) => ({ path: `/d${i}`, sourceDevice: `/dev/vd${String.fromCharCode(97 + i)}` })) });
  assert.deepEqual(diskUnits(s), [0, 1, 2, 3, 4, 5, 6, 8, 9], "unit 7 is skipped");
  assert.equal(bootUnit(sampleSpec("y")), 0);
});

test("the waits for the fixup disk and for END poll as often as the guest channel bears, not at the manager's interval: every second there is downtime", async () => {
  const endPolls = async (quickPollMs: number | undefined) => {
    const dir = mkdtempSync(join(tmpdir(), "osam-mgr-"));
    try {
      const driver = new SimDriver(join(dir, "hv"), { stage1Ms: 600 }, quickPollMs === undefined ? {} : { quickPollMs });
      const mgr = new Manager({ driver, stateDir: join(dir, "state"), logDir: join(dir, "logs"), pollMs: 1500 });
      const [r] = await mgr.runAll([{ spec: sampleSpec("mig-q") }]);
      assert.equal(r?.status, "succeeded", r?.message);
      return driver.polls("mig-q").filter((p) => p === "/tmp/fixup/END").length;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  // 600 ms of stage 1 asked about every 20 ms, against at most two asks 1.5 s apart
  const quick = await endPolls(20);
  assert.ok(quick >= 5, `END asked ${quick} time(s) with a 20 ms channel`);
  const slow = await endPolls(undefined);
  assert.ok(slow <= 2, `END asked ${slow} time(s) at the manager's 1.5 s interval`);
});
