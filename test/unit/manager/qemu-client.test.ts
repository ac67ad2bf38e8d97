import { test } from "node:test";
import assert from "node:assert/strict";
import { JsonCommandError, JsonLineClient } from "../../../src/manager/drivers/qemu/jsonline.ts";
import { QgaGuest } from "../../../src/manager/drivers/qemu/qga.ts";
import { buildArgv } from "../../../src/manager/drivers/qemu/argv.ts";
import { GuestFileNotFoundError, type VmSpec } from "../../../src/manager/drivers/types.ts";
import { fakeQga, fakeQmp, type FakeGuestFs } from "./fake-agents.ts";

test("QMP: greeting and capabilities negotiated, replies matched, errors typed, events kept", async () => {
  const srv = await fakeQmp((m, sock) => {
    if (m.execute === "query-status") {
      sock.write(JSON.stringify({ event: "RESUME", data: {} }) + "\n");
      return { status: "running", running: true };
    }
    if (m.execute === "set_link") return new Error("Device 'nicX' not found");
    return {};
  });
  const c = await new JsonLineClient(srv.path, "qmp").connect(2000);
  try {
    assert.equal(srv.received[0]?.execute, "qmp_capabilities");
    const s = await c.execute<{ status: string }>("query-status");
    assert.equal(s.status, "running");
    await assert.rejects(c.execute("set_link", { name: "nicX", up: false }), (e: unknown) => e instanceof JsonCommandError && e.errorClass === "GenericError" && /nicX/.test(e.message));
    assert.equal(c.events[0]?.event, "RESUME");
    // commands run one at a time, in order
    const all = await Promise.all([c.execute("a"), c.execute("b"), c.execute("c")]);
    assert.equal(all.length, 3);
    assert.deepEqual(srv.received.slice(-3).map((m) => m.execute), ["a", "b", "c"]);
    assert.deepEqual(srv.received[2]?.arguments, { name: "nicX", up: false });
  } finally {
    c.close();
    await srv.close();
  }
});

test("QMP: a command that gets no answer times out and the socket closing rejects", async () => {
  const srv = await fakeQmp((m, sock) => {
    if (m.execute === "hang") return undefined;
    if (m.execute === "die") {
      sock.destroy();
      return undefined;
    }
    return {};
  });
  const c = await new JsonLineClient(srv.path, "qmp").connect(2000);
  try {
    await assert.rejects(c.execute("hang", undefined, 200), /hang: no answer within 200 ms/);
    assert.deepEqual(await c.execute("ok"), {});
    await assert.rejects(c.execute("die"), /closed/);
    assert.equal(c.isOpen, false);
  } finally {
    c.close();
    await srv.close();
  }
});

function guestFs(): FakeGuestFs {
  return { files: new Map([["/tmp/fixup/END", Buffer.from("succeeded 0\n")]]), dirs: new Set(["/tmp", "/tmp/fixup", "/tmp/fixup/sub"]) };
}

test("QGA: resync drops noise, files round-trip in chunks, listDir and not-found", async () => {
  const fs = guestFs();
  const srv = await fakeQga(fs, { noise: '{"return": 12345}\n garbage \n' });
  const g = new QgaGuest(srv.path, "vm1");
  try {
    await g.ready({ timeoutMs: 3000 });
    const big = Buffer.alloc(700_000, 7);
    big[699_999] = 1;
    await g.writeFile("/tmp/fixup/big", big);
    assert.ok(fs.files.get("/tmp/fixup/big")?.equals(big));
    const writes = srv.received.filter((m) => m.execute === "guest-file-write").length;
    assert.equal(writes, 3, "700 kB written as three 256 KiB chunks");
    assert.ok((await g.readFile("/tmp/fixup/big")).equals(big));
    assert.equal(await g.exists("/tmp/fixup/END"), true);
    assert.equal(await g.exists("/tmp/fixup/BEGIN"), false);
    assert.equal(await g.exists("/tmp/fixup"), true);
    await assert.rejects(g.readFile("/nope"), GuestFileNotFoundError);
    assert.deepEqual(await g.listDir("/tmp/fixup"), [
      { name: "END", type: "file" },
      { name: "big", type: "file" },
      { name: "sub", type: "dir" },
    ]);
    await assert.rejects(g.listDir("/tmp/none"), GuestFileNotFoundError);
    const exec = srv.received.find((m) => m.execute === "guest-exec");
    assert.deepEqual(exec?.arguments, { path: "ls", arg: ["-1Ap", "--", "/tmp/fixup"], "capture-output": true });
    // one connection served everything
    assert.equal(srv.connections, 1);
  } finally {
    g.close();
    await srv.close();
  }
});

test("QGA: after a timed-out command the client resyncs before the next one", async () => {
  const fs = guestFs();
  const slow = new Set(["guest-file-close"]);
  const srv = await fakeQga(fs, { slow, idEcho: false });
  const g = new QgaGuest(srv.path, "vm1");
  g.commandTimeoutMs = 100;
  try {
    await g.ready({ timeoutMs: 3000 });
    await assert.rejects(g.exists("/tmp/fixup/END"), /no answer within 100 ms/);
    await new Promise((r) => setTimeout(r, 400)); // the late reply arrives now
    g.commandTimeoutMs = 2000;
    const syncsBefore = srv.received.filter((m) => m.execute === "guest-sync-delimited").length;
    assert.equal((await g.readFile("/tmp/fixup/END")).toString(), "succeeded 0\n", "the late reply was not taken for this one");
    assert.equal(srv.received.filter((m) => m.execute === "guest-sync-delimited").length, syncsBefore + 1);
  } finally {
    g.close();
    await srv.close();
  }
});

test("QGA: ready() keeps trying until the agent answers, then gives up with the VM named", async () => {
  const g = new QgaGuest("/nonexistent/qga.sock", "vm-x");
  await assert.rejects(g.ready({ timeoutMs: 1500 }), /guest\.ready: vm-x: the guest agent did not answer within 1500 ms/);
});

test("QEMU command line: VMware-like hardware, units as SCSI ids, NIC slots 192/224", () => {
  const spec: VmSpec = {
    name: "m1",
    cpus: 2,
    memoryMiB: 1024,
    firmware: "uefi",
    nics: [
      { mac: "00:50:56:00:00:01", model: "vmxnet3", connected: false },
      { mac: "00:50:56:00:00:02", model: "e1000e", connected: true },
    ],
    disks: [
      { unit: 0, path: "/d/a,b.qcow2" },
      { unit: 1, path: "/d/b.raw", format: "raw" },
    ],
    fixupDisk: { path: "/d/fixup.iso", kind: "cdrom" },
  };
  const a = buildArgv(spec, { accel: "tcg", dir: "/vm", sockDir: "/s", ovmfCode: "/code.fd", ovmfVars: "/vm/vars.fd" }, new Map([["/d/a,b.qcow2", "qcow2"]]));
  const s = a.join(" ");
  assert.ok(s.includes("-machine q35,vmport=on"));
  assert.ok(s.includes("-global ICH9-LPC.acpi-pci-hotplug-with-bridge-support=off"));
  assert.ok(s.includes("-cpu max,-hypervisor"));
  assert.ok(s.includes("-accel tcg"));
  assert.ok(s.includes("manufacturer=VMware,, Inc.,product=VMware Virtual Platform"));
  assert.ok(s.includes("pcie-root-port,id=rp160,chassis=1,slot=160 -device pvscsi,id=scsi0,bus=rp160"));
  assert.ok(s.includes("driver=qcow2,node-name=disk0-img,read-only=off,file.driver=file,file.filename=/d/a,,b.qcow2"), "commas in paths are escaped");
  assert.ok(s.includes("scsi-hd,bus=scsi0.0,scsi-id=0,lun=0,drive=disk0-img,id=disk0"));
  assert.ok(s.includes("scsi-hd,bus=scsi0.0,scsi-id=1,lun=0,drive=disk1-img,id=disk1"));
  assert.ok(s.includes("driver=raw,node-name=disk15-img,read-only=on"));
  assert.ok(s.includes("scsi-cd,bus=scsi0.0,scsi-id=15,lun=0,drive=disk15-img,id=disk15"));
  assert.ok(s.includes("slot=192 -device vmxnet3,netdev=net0,mac=00:50:56:00:00:01,bus=rpn192,id=nic0"));
  assert.ok(s.includes("slot=224 -device e1000e,netdev=net1,mac=00:50:56:00:00:02,bus=rpn224,id=nic1"));
  assert.ok(s.includes("if=pflash,format=raw,unit=0,readonly=on,file=/code.fd"));
  assert.ok(s.includes("unix:/s/qmp.sock,server=on,wait=off"));
  assert.ok(s.includes("virtserialport,chardev=qga0,name=org.qemu.guest_agent.0"));
  assert.ok(a.includes("-S"), "starts paused so links and boot order are set before the first instruction");
  assert.ok(!s.includes("bootindex"), "boot order is applied over QMP");
  const kvm = buildArgv({ ...spec, firmware: "bios" }, { accel: "kvm", dir: "/vm", sockDir: "/vm", ovmfCode: "", ovmfVars: "" }, new Map()).join(" ");
  assert.ok(kvm.includes("-accel kvm") && kvm.includes("-cpu host,-hypervisor") && !kvm.includes("pflash"));
});
