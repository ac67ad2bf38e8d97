// The vSphere driver's serial channel against vcsim: every VM gets a serial port backed by a
// file beside its .vmx, and serialOutput reads that file back over the datastore file API, so
// the manager learns stage 2's outcome and the verification without guest credentials.
// vcsim's datastore is a local directory: the test writes the file where the backing says, as
// the VMX would, and the driver must find it there.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { appendFileSync, existsSync, mkdirSync, statSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { dirname, join } from "node:path";
import { SERIAL_TAIL_BYTES, VsphereDriver, type VsphereVm } from "../../src/manager/drivers/vsphere/driver.ts";
import { datastoreFileUrl, parseDatastorePath, readDatastoreTail } from "../../src/manager/drivers/vsphere/datastore-file.ts";
import { arr, esc, text, toRef, VimClient, xsiType, type MoRef } from "../../src/manager/drivers/vsphere/soap.ts";
import { DriverError } from "../../src/manager/drivers/types.ts";
import { lastStage2Result } from "../../src/manager/stage2.ts";
import { STAGE2_RESULT_MARKERS, VERIFY_MARKERS } from "../../src/protocol/files.ts";
import { Verification } from "../../src/protocol/schemas.ts";
import { startVcsim, testClient, type Vcsim } from "./vcsim.ts";
import { consoleBlock, datastoreDirs, sampleStage2Result, sampleVerification } from "./guest-sim.ts";

type Node = Record<string, unknown>;
let vc: Vcsim;
let c: VimClient;
let drv: VsphereDriver;
/** Datastore name -> its local directory (vcsim's datastores are plain directories). */
let dsDirs: Map<string, string>;

before(async () => {
  vc = await startVcsim();
  c = await testClient(vc);
  drv = await VsphereDriver.connect({ url: vc.url, user: vc.user, password: vc.password, guestUser: "root", guestPassword: "x", pollMs: 50 });
  dsDirs = await datastoreDirs(c);
});

after(async () => {
  await drv?.close();
  await c?.logout();
  await vc?.stop();
});

/** The VM's serial ports as the PropertyCollector reports them. */
async function serialPorts(vm: MoRef): Promise<Node[]> {
  const p = await c.props(vm, ["config.hardware.device"]);
  return arr((p["config.hardware.device"] as Node | undefined)?.VirtualDevice).filter((d) => xsiType(d) === "VirtualSerialPort");
}

async function vmPathName(vm: MoRef): Promise<string> {
  return text((await c.props(vm, ["config.files.vmPathName"]))["config.files.vmPathName"]);
}

/** A datastore path as a local file. */
function localPath(dsPath: string): string {
  const p = parseDatastorePath(dsPath);
  assert.ok(p, `a datastore path: ${dsPath}`);
  const dir = dsDirs.get(p.datastore);
  assert.ok(dir, `datastore ${p.datastore} is known`);
  return join(dir, p.path);
}

function moref(vm: VsphereVm): MoRef {
  return vm.moref;
}

test("createVm gives the VM a serial port backed by a file beside its .vmx; resuming keeps exactly one", { timeout: 60_000 }, async () => {
  const vm = await drv.createVm({ name: "vs-s1", cpus: 1, memoryMiB: 512, firmware: "bios", nics: [], disks: [] });
  try {
    const ports = await serialPorts(moref(vm));
    assert.equal(ports.length, 1);
    const port = ports[0]!;
    const backing = port.backing as Node;
    assert.equal(xsiType(backing), "VirtualSerialPortFileBackingInfo");
    assert.equal(text(backing.fileName), "[LocalDS_0] vs-s1/vs-s1-serial.log");
    assert.equal(text(port.yieldOnPoll), "true");
    assert.equal(text((port.connectable as Node).startConnected), "true");
    // the same folder as the VM's own files, on disk too
    assert.equal(dirname(localPath(text(backing.fileName))), dirname(localPath(await vmPathName(moref(vm)))));
    assert.ok(existsSync(localPath(await vmPathName(moref(vm)))), "vcsim keeps the .vmx in the local datastore directory");
    assert.equal(await vm.serialLogFile(), "[LocalDS_0] vs-s1/vs-s1-serial.log");

    const again = await drv.createVm({ name: "vs-s1", cpus: 1, memoryMiB: 512, firmware: "bios", nics: [], disks: [] });
    assert.equal(again.ref.id, vm.ref.id);
    assert.equal((await serialPorts(moref(vm))).length, 1, "a resumed createVm adds no second port");
  } finally {
    await vm.destroy();
  }
});

test("the serial log goes into the folder vSphere really gave the VM, even when its name was taken", { timeout: 60_000 }, async () => {
  // a leftover folder of the same name: the server puts the new VM elsewhere
  mkdirSync(join(dsDirs.get("LocalDS_0")!, "vs-s2"), { recursive: true });
  const vm = await drv.createVm({ name: "vs-s2", cpus: 1, memoryMiB: 512, firmware: "bios", nics: [], disks: [] });
  try {
    const vmx = await vmPathName(moref(vm));
    assert.notEqual(vmx, "[LocalDS_0] vs-s2/vs-s2.vmx", "vcsim renamed the folder");
    const file = await vm.serialLogFile();
    assert.ok(file);
    assert.equal(dirname(localPath(file)), dirname(localPath(vmx)));
    appendFileSync(localPath(file), "hello from ttyS0\n");
    assert.equal((await vm.serialOutput()).toString(), "hello from ttyS0\n");
  } finally {
    await vm.destroy();
  }
});

test("serialOutput: empty before the guest wrote anything, then what the guest wrote, and stage 2's result is found in it", { timeout: 60_000 }, async () => {
  const vm = await drv.createVm({ name: "vs-s3", cpus: 1, memoryMiB: 512, firmware: "bios", nics: [], disks: [] });
  try {
    // no file yet (404): empty, no error
    const before0 = await vm.serialOutput();
    assert.equal(before0.length, 0);

    const file = localPath((await vm.serialLogFile())!);
    assert.equal(existsSync(file), false);
    const stage2 = sampleStage2Result({ status: "succeeded-with-warnings", code: "TOOLS_MISSING", reason: "the guest was restored; no VMware Tools for it on the medium" });
    const verification = sampleVerification(false, "NIC ens224 missing");
    const boot1 = "[    0.000000] Linux version 6.1.0-13-amd64\r\n[    1.234567] sd 0:0:0:0: [sda] 41943040 512-byte logical blocks\r\n";
    const boot2 = `Debian GNU/Linux 12 web1 ttyS0\r\n${consoleBlock(VERIFY_MARKERS, verification)}`;
    // the VMX appends to the file as the guest writes
    appendFileSync(file, boot1);
    assert.equal((await vm.serialOutput()).toString(), boot1);
    appendFileSync(file, consoleBlock(STAGE2_RESULT_MARKERS, stage2));
    appendFileSync(file, boot2);
    const out = (await vm.serialOutput()).toString("utf8");
    assert.equal(out, boot1 + consoleBlock(STAGE2_RESULT_MARKERS, stage2) + boot2);

    // the manager's parser finds stage 2's outcome in what the driver returned
    const found = lastStage2Result(out);
    assert.ok(found, "a stage-2 result block in the serial output");
    assert.deepEqual(found.result, stage2);
    // and the verification block is there intact
    const lines = out.replace(/\r/g, "").split("\n");
    const at = lines.findIndex((l) => l.endsWith(VERIFY_MARKERS.begin));
    assert.ok(at >= 0);
    assert.deepEqual(Verification.parse(JSON.parse(lines[at + 1]!)), verification);
    assert.match(lines[at + 2]!, new RegExp(`^${VERIFY_MARKERS.end} bytes=${Buffer.byteLength(lines[at + 1]!) + 1}$`));

    // a new handle (the manager after a restart) reads the same
    const reopened = await drv.openVm(vm.ref);
    assert.equal((await reopened.serialOutput()).toString("utf8"), out);
  } finally {
    await vm.destroy();
  }
});

test("serialOutput of a long log is its last SERIAL_TAIL_BYTES, which hold the result", { timeout: 60_000 }, async () => {
  const vm = await drv.createVm({ name: "vs-s4", cpus: 1, memoryMiB: 512, firmware: "bios", nics: [], disks: [] });
  try {
    const file = localPath((await vm.serialLogFile())!);
    const noise = Buffer.alloc(SERIAL_TAIL_BYTES + 300_000, "x");
    for (let i = 0; i < noise.length; i += 100) noise[i] = 0x0a;
    const block = consoleBlock(STAGE2_RESULT_MARKERS, sampleStage2Result({}));
    writeFileSync(file, Buffer.concat([noise, Buffer.from(block)]));
    const out = await vm.serialOutput();
    assert.equal(out.length, SERIAL_TAIL_BYTES);
    assert.ok(out.toString("utf8").endsWith(block));
    assert.equal(lastStage2Result(out.toString("utf8"))?.result.status, "succeeded");
    assert.equal(statSync(file).size, SERIAL_TAIL_BYTES + 300_000 + Buffer.byteLength(block));
  } finally {
    await vm.destroy();
  }
});

test("a VM without a serial port (an older driver's) gets one on createVm when off; a running one goes without and reads as empty", { timeout: 60_000 }, async () => {
  const vm = await drv.createVm({ name: "vs-s5", cpus: 1, memoryMiB: 512, firmware: "bios", nics: [], disks: [] });
  const removePort = async () => {
    const [port] = await serialPorts(moref(vm));
    assert.ok(port);
    const task = toRef(
      await c.call(
        "ReconfigVM_Task",
        moref(vm),
        `<spec><deviceChange><operation>remove</operation><device xsi:type="VirtualSerialPort"><key>${esc(text(port.key))}</key></device></deviceChange></spec>`,
      ),
    );
    await c.waitTask(task, "ReconfigVM_Task");
    assert.equal((await serialPorts(moref(vm))).length, 0);
  };
  try {
    await removePort();
    assert.equal((await drv.createVm({ name: "vs-s5", cpus: 1, memoryMiB: 512, firmware: "bios", nics: [], disks: [] })).ref.id, vm.ref.id);
    const [port] = await serialPorts(moref(vm));
    assert.equal(text((port?.backing as Node | undefined)?.fileName), "[LocalDS_0] vs-s5/vs-s5-serial.log");

    await removePort();
    await vm.powerOn();
    const resumed = await drv.createVm({ name: "vs-s5", cpus: 1, memoryMiB: 512, firmware: "bios", nics: [], disks: [] });
    assert.equal((await serialPorts(moref(vm))).length, 0, "no hot-add of a serial port");
    assert.equal((await resumed.serialOutput()).length, 0);
  } finally {
    await vm.destroy();
  }
});

/** A tiny file API: answers each GET with the next of `answers`, records the Range asked for. */
async function fakeFileApi(answers: ((req: IncomingMessage, res: ServerResponse) => void)[]): Promise<{ url: URL; ranges: (string | undefined)[]; close: () => Promise<void> }> {
  const ranges: (string | undefined)[] = [];
  const srv = createServer((req, res) => {
    ranges.push(req.headers.range);
    const a = answers.shift();
    if (a) a(req, res);
    else res.writeHead(500).end();
  });
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as { port: number }).port;
  return { url: new URL(`http://127.0.0.1:${port}/sdk`), ranges, close: () => new Promise((r) => srv.close(() => r())) };
}

test("readDatastoreTail: a suffix Range; a server that ignores it is cut to the tail; 404 is no file; other errors throw", async () => {
  const big = Buffer.from(Array.from({ length: 5000 }, (_, i) => 97 + (i % 26)));
  const api = await fakeFileApi([
    (_q, res) => res.writeHead(200).end(big),
    (_q, res) => res.writeHead(206, { "Content-Range": "bytes 4000-4999/5000" }).end(big.subarray(4000)),
    (_q, res) => res.writeHead(404).end("not found"),
    (_q, res) => res.writeHead(416).end(),
    (_q, res) => res.writeHead(403).end("forbidden"),
  ]);
  const client = new VimClient(api.url.toString());
  try {
    const url = datastoreFileUrl(api.url, "Dc 1", { datastore: "ds 1", path: "vm a/vm a-serial.log" });
    assert.equal(url.pathname, "/folder/vm%20a/vm%20a-serial.log");
    assert.deepEqual([url.searchParams.get("dcPath"), url.searchParams.get("dsName")], ["Dc 1", "ds 1"]);
    assert.deepEqual(await readDatastoreTail(client, url, 1000), big.subarray(4000));
    assert.deepEqual(await readDatastoreTail(client, url, 1000), big.subarray(4000));
    assert.equal(await readDatastoreTail(client, url, 1000), undefined);
    assert.equal((await readDatastoreTail(client, url, 1000))?.length, 0);
    await assert.rejects(readDatastoreTail(client, url, 1000), (e: unknown) => e instanceof DriverError && /HTTP 403/.test(e.message));
    assert.deepEqual(api.ranges, Array(5).fill("bytes=-1000"));
  } finally {
    await client.logout();
    await api.close();
  }
});
