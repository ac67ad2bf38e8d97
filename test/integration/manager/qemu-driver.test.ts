// The QEMU driver against a real QEMU (TCG): a tiny guest (Debian kernel, busybox, qemu-ga on
// virtio-serial) built by build-tiny-guest.sh plays the fixup disk at scsi0:15 (stage 1 in
// miniature) and the replica at scsi0:0 (stage 2 in miniature: it waits for the tools ISO in
// the CD-ROM and powers off). Needs qemu-system-x86_64, grub-mkrescue and network access to
// Debian's archive on first build.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { QemuDriver, type QemuVm } from "../../../src/manager/drivers/qemu/driver.ts";
import { sleep } from "../../../src/manager/drivers/types.ts";
import { tinyGuest } from "./tiny-guest.ts";


async function waitFor(what: string, ms: number, fn: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await fn()) return;
    await sleep(500);
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}`);
}

test("qemu driver: fixup boot from scsi0:15, guest files, CD-ROM, boot order, NIC links, power", { timeout: 600_000 }, async () => {
  const g = tinyGuest();
  const work = `/var/tmp/osam-manager/it-qemu-${process.pid}`;
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const replica = join(work, "replica0.qcow2");
  execFileSync("qemu-img", ["create", "-q", "-f", "qcow2", "-F", "raw", "-b", join(g, "replica.img"), replica]);
  const drv = new QemuDriver({ stateDir: join(work, "vms") });
  let vm: QemuVm | undefined;
  try {
    vm = await drv.createVm({
      name: "it-qemu-1",
      cpus: 1,
      memoryMiB: 512,
      firmware: "bios",
      nics: [
        { mac: "00:50:56:aa:00:01", model: "vmxnet3", connected: false },
        { mac: "00:50:56:aa:00:02", model: "vmxnet3", connected: false },
      ],
      disks: [{ unit: 0, path: replica }],
      fixupDisk: { path: join(g, "fixup.iso"), kind: "cdrom" },
    });
    // createVm is idempotent by name (the manager relies on it when resuming)
    const again = await drv.createVm({ name: "it-qemu-1", cpus: 4, memoryMiB: 4096, firmware: "bios", nics: [], disks: [] });
    assert.equal(again.dir, vm.dir);
    assert.equal(again.spec.cpus, 1);

    assert.equal(await vm.powerState(), "off");
    await vm.setBootOrder([{ kind: "disk", unit: 15 }]);
    const t0 = Date.now();
    await vm.powerOn();
    assert.equal(await vm.powerState(), "on");
    assert.deepEqual(await vm.getBootOrder(), [{ kind: "disk", unit: 15 }]);
    const d0 = await vm.describe();
    assert.deepEqual(d0.nics.map((n) => n.connected), [false, false]);

    await vm.guest.ready({ timeoutMs: 240_000 });
    console.log(`guest agent up ${((Date.now() - t0) / 1000).toFixed(1)} s after power-on`);
    await waitFor("/tmp/fixup", 60_000, () => vm!.guest.exists("/tmp/fixup"));
    assert.equal(await vm.guest.exists("/tmp/fixup/END"), false);
    const big = Buffer.alloc(600_000);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7919) & 0xff;
    await vm.guest.writeFile("/tmp/big.bin", big);
    assert.ok((await vm.guest.readFile("/tmp/big.bin")).equals(big), "600 kB round trip through guest-file-write/read");
    await assert.rejects(vm.guest.readFile("/tmp/nope"), /no such file/);
    await vm.guest.writeFile("/tmp/fixup/system-configuration.json", JSON.stringify({ migrationId: "it-qemu-1" }));
    await vm.guest.writeFile("/tmp/fixup/BEGIN", "");
    await waitFor("END", 60_000, () => vm!.guest.exists("/tmp/fixup/END"));
    const names = (await vm.guest.listDir("/tmp/fixup")).map((e) => e.name).sort();
    assert.deepEqual(names, ["BEGIN", "END", "fixup.log", "result.json", "system-configuration.json"]);
    assert.deepEqual((await vm.guest.listDir("/tmp")).find((e) => e.name === "fixup"), { name: "fixup", type: "dir" });
    await assert.rejects(vm.guest.listDir("/tmp/none"), /no such file/);
    const result = JSON.parse((await vm.guest.readFile("/tmp/fixup/result.json")).toString()) as { migrationId: string; status: string };
    assert.equal(result.migrationId, "it-qemu-1");
    assert.equal(result.status, "succeeded");
    // the guest sees the replica at target 0 and the fixup disk at target 15
    assert.match((await vm.guest.readFile("/tmp/fixup/fixup.log")).toString(), /:0:0:0[\s\S]*:0:15:0/);

    // live NIC link change over QMP
    await vm.setNicConnected(0, true);
    assert.deepEqual((await vm.describe()).nics.map((n) => n.connected), [true, false]);

    await vm.powerOff();
    assert.equal(await vm.powerState(), "off");
    await vm.setBootOrder([{ kind: "disk", unit: 0 }]);
    await vm.addCdrom();
    await vm.addCdrom(); // idempotent
    await vm.powerOn();
    // QEMU holds the new order: read back over qom-get
    assert.deepEqual(await vm.getBootOrder(), [{ kind: "disk", unit: 0 }]);
    await vm.insertMedia(join(g, "tools.iso"));
    const d1 = await vm.describe();
    assert.equal(d1.cdrom?.media, join(g, "tools.iso"));
    await vm.waitPoweredOff({ timeoutMs: 300_000 });
    assert.equal(await vm.powerState(), "off");
    const serial = readFileSync(vm.serialLogPath, "utf8");
    assert.match(serial, /TINY-GUEST: mode=fixup/);
    assert.match(serial, /TINY-GUEST: mode=stage2/, "second boot came from scsi0:0");
    assert.match(serial, /stage2 tools=tiny-tools-1.0/, "the tools ISO reached the guest through the CD-ROM");
    console.log(`whole cycle ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  } finally {
    if (vm) await vm.destroy();
    rmSync(work, { recursive: true, force: true });
  }
});

test("qemu driver: UEFI (OVMF) boots the fixup ISO from SATA with its own variable store", { timeout: 600_000 }, async () => {
  const g = tinyGuest();
  const work = `/var/tmp/osam-manager/it-qemu-uefi-${process.pid}`;
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const drv = new QemuDriver({ stateDir: join(work, "vms") });
  const vm = await drv.createVm({
    name: "it-qemu-uefi",
    cpus: 1,
    memoryMiB: 512,
    firmware: "uefi",
    nics: [{ mac: "00:50:56:aa:00:11", model: "vmxnet3", connected: false }],
    disks: [],
    fixupDisk: { path: join(g, "fixup.iso"), kind: "cdrom", qemuBus: "sata" },
  });
  try {
    await vm.setBootOrder([{ kind: "disk", unit: 15 }]);
    await vm.powerOn();
    assert.ok(existsSync(join(vm.dir, "OVMF_VARS.fd")), "the VM has its own OVMF variable store");
    await vm.guest.ready({ timeoutMs: 300_000 });
    await waitFor("/tmp/fixup", 60_000, () => vm.guest.exists("/tmp/fixup"));
    assert.match(readFileSync(vm.serialLogPath, "utf8"), /TINY-GUEST: mode=fixup/);
    await vm.powerOff();
    assert.equal(await vm.powerState(), "off");
  } finally {
    await vm.destroy();
    rmSync(work, { recursive: true, force: true });
  }
});
