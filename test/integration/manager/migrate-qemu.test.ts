// `osam-fixup migrate` end to end on the QEMU driver with the tiny guest (see
// build-tiny-guest.sh): the manager is killed (SIGKILL) while it waits for the guest, the
// QEMU process survives it, and `migrate --resume` finishes the migration.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { tinyGuest } from "./tiny-guest.ts";
import { Result } from "../../../src/protocol/schemas.ts";
import { QemuDriver } from "../../../src/manager/drivers/qemu/driver.ts";

const main = join(import.meta.dirname, "../../../src/cli/main.ts");

test("migrate (qemu): killed while waiting for the guest, resumed, logs collected, stage 2 ran", { timeout: 900_000 }, async () => {
  const g = tinyGuest();
  const work = `/var/tmp/osam-manager/it-migrate-${process.pid}`;
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const replica = join(work, "root.qcow2");
  execFileSync("qemu-img", ["create", "-q", "-f", "qcow2", "-F", "raw", "-b", join(g, "replica.img"), replica]);
  const spec = {
    migrationId: "itq-1",
    source: { hostname: "tiny", hypervisor: "kvm", firmware: "bios", cpus: 1, memoryMiB: 512 },
    nics: [{ sourceMac: "52:54:00:00:00:01", sourceName: "ens3", targetMac: "00:50:56:01:02:03" }],
    disks: [{ path: replica, sourceDevice: "/dev/vda" }],
    fixupDisk: { path: join(g, "fixup.iso"), kind: "cdrom" },
    toolsIso: join(g, "tools.iso"),
    timeouts: { "wait-fixup-dir": 300, "wait-end": 120, "wait-stage2": 300 },
    // the tiny guest's stage 2 is a stand-in with no first-boot verification (the e2e migration of deb12-itools runs it)
    firstBoot: { verify: false },
  };
  const specPath = join(work, "spec.json");
  writeFileSync(specPath, JSON.stringify(spec));
  const args = ["--driver", "qemu", "--state-dir", join(work, "state"), "--log-dir", join(work, "logs"), "--poll", "1", "--json"];
  try {
    // first run: killed as soon as it starts waiting for /tmp/fixup
    const first = spawn(process.execPath, [main, "migrate", ...args, specPath], { stdio: ["ignore", "pipe", "inherit"] });
    const seen: string[] = [];
    for await (const line of createInterface({ input: first.stdout })) {
      const ev = JSON.parse(line) as { type: string; step?: string };
      seen.push(`${ev.type} ${ev.step ?? ""}`);
      if (ev.type === "step-start" && ev.step === "wait-fixup-dir") {
        first.kill("SIGKILL");
        break;
      }
    }
    await new Promise((r) => first.once("exit", r));
    assert.ok(seen.includes("step-done power-on-fixup"), seen.join(", "));
    const vm = await new QemuDriver({ stateDir: join(work, "state", "vms") }).openVm({ driver: "qemu", name: "itq-1", id: join(work, "state", "vms", "itq-1") });
    assert.equal(await vm.powerState(), "on", "the VM outlives the manager");
    await vm.close();

    const t0 = Date.now();
    const out = execFileSync(process.execPath, [main, "migrate", "--resume", ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"], timeout: 800_000 });
    const events = out.trim().split("\n").map((l) => JSON.parse(l) as { type: string; step?: string; status?: string; resumed?: boolean });
    assert.equal(events[0]?.type, "migration-start");
    assert.equal(events[0]?.resumed, true);
    assert.equal(events[0]?.step, "wait-fixup-dir");
    assert.ok(!events.some((e) => e.type === "step-start" && (e.step === "create-vm" || e.step === "power-on-fixup")), "finished steps are not redone");
    assert.equal(events.at(-1)?.status, "succeeded");
    console.log(`resumed run took ${((Date.now() - t0) / 1000).toFixed(1)} s`);

    const log = join(work, "logs", "itq-1_fixup.log");
    const res = join(work, "logs", "itq-1_result.json");
    assert.ok(existsSync(log) && existsSync(res));
    assert.match(readFileSync(log, "utf8"), /fake stage 1 for itq-1/);
    assert.equal(Result.parse(JSON.parse(readFileSync(res, "utf8"))).status, "succeeded");
    const serial = readFileSync(join(work, "state", "vms", "itq-1", "serial.log"), "utf8");
    assert.match(serial, /mode=stage2[\s\S]*stage2 tools=tiny-tools-1.0/);
    const d = await (await new QemuDriver({ stateDir: join(work, "state", "vms") }).openVm({ driver: "qemu", name: "itq-1", id: join(work, "state", "vms", "itq-1") })).describe();
    assert.deepEqual(d.nics.map((n) => n.connected), [true]);
    assert.deepEqual(d.bootOrder, [{ kind: "disk", unit: 0 }]);
    // nothing left to resume
    const again = execFileSync(process.execPath, [main, "migrate", "--resume", ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    assert.equal(again, "");
  } finally {
    const drv = new QemuDriver({ stateDir: join(work, "state", "vms") });
    const ref = await drv.findVm("itq-1");
    if (ref) await (await drv.openVm(ref)).destroy();
    rmSync(work, { recursive: true, force: true });
  }
});
