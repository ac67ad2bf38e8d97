import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { NetworkInterfaceMap, ReplicaDiskMap, SystemConfiguration } from "../../../src/protocol/schemas.ts";
import { parseInput, loadInputs } from "../../../src/protocol/inputs.ts";
import { CODES, FixupError } from "../../../src/protocol/codes.ts";
import { SAMPLE, tempDir } from "../../helpers/tree.ts";

const sample = (f: string): unknown => JSON.parse(readFileSync(join(SAMPLE, "inputs", f), "utf8"));

function fails(schema: Parameters<typeof parseInput>[1], value: unknown, ...needles: string[]): string {
  try {
    parseInput("x.json", schema, Buffer.from(typeof value === "string" ? value : JSON.stringify(value)));
  } catch (e) {
    assert.ok(e instanceof FixupError, `expected a FixupError, got ${String(e)}`);
    for (const n of needles) assert.match(e.message, new RegExp(n), `message should mention ${n}: ${e.message}`);
    return e.message;
  }
  assert.fail(`expected ${JSON.stringify(value)} to be rejected`);
}

test("the sample maps are valid and MACs are normalised to lower case", async () => {
  const inputs = await loadInputs(join(SAMPLE, "inputs"));
  assert.equal(inputs.system.migrationId, "demo-0001");
  assert.equal(inputs.network.interfaces[0]!.targetMac, "00:50:56:aa:00:01");
  assert.deepEqual(inputs.network.interfaces.map((n) => n.targetName), ["eth0", "eth1"]);
  assert.equal(inputs.disks.disks.length, 2);
});

test("system-configuration: missing, wrong-typed and unknown fields are named", () => {
  const good = sample("system-configuration.json") as Record<string, unknown>;
  fails(SystemConfiguration, { ...good, migrationId: undefined }, "migrationId");
  fails(SystemConfiguration, { ...good, target: { firmware: "bios", scsiController: "buslogic", nicModel: "vmxnet3" } }, "target\\.scsiController");
  fails(SystemConfiguration, { ...good, source: { firmware: "coreboot" } }, "source\\.firmware");
  fails(SystemConfiguration, { ...good, extra: 1 }, "extra");
  fails(SystemConfiguration, { ...good, migrationId: "../../etc" }, "migrationId");
  fails(SystemConfiguration, { ...good, source: { firmware: "bios", blockDevices: [{ device: "/dev/../etc/passwd" }] } }, "source\\.blockDevices\\[0\\]\\.device");
  fails(SystemConfiguration, { ...good, source: { firmware: "bios", interfaces: [{ name: "eth0", mac: "zz:00:00:00:00:00" }] } }, "MAC address");
});

test("replica-disk-map: duplicate units, the fixup disk's unit 15 and two boot disks are rejected", () => {
  const d = (unit: number, dev: string, boot?: boolean) => ({ source: { device: dev }, target: { controller: "scsi0", unit }, ...(boot ? { boot } : {}) });
  assert.equal(ReplicaDiskMap.safeParse({ disks: [d(0, "/dev/vda", true), d(1, "/dev/vdb")] }).success, true);
  fails(ReplicaDiskMap, { disks: [d(0, "/dev/vda"), d(0, "/dev/vdb")] }, "scsi0:0 is already used");
  fails(ReplicaDiskMap, { disks: [d(15, "/dev/vda")] }, "reserved for the fixup disk");
  fails(ReplicaDiskMap, { disks: [d(0, "/dev/vda", true), d(1, "/dev/vdb", true)] }, "more than one disk");
  fails(ReplicaDiskMap, { disks: [d(7, "/dev/vda")] }, "controller itself");
  fails(ReplicaDiskMap, { disks: [] }, "disks");
  fails(ReplicaDiskMap, { disks: [d(0, "/dev/vda"), d(1, "/dev/vda")] }, "duplicates disks\\[0\\]");
});

test("network-interface-map: duplicate MACs (any case) and names are rejected; targetName defaults to eth<index>", () => {
  const n = (s: string, t: string, name?: string) => ({ sourceMac: s, targetMac: t, ...(name ? { targetName: name } : {}) });
  const ok = NetworkInterfaceMap.parse({ interfaces: [n("52:54:00:00:00:01", "00:50:56:00:00:01"), n("52:54:00:00:00:02", "00:50:56:00:00:02", "lan1")] });
  assert.deepEqual(ok.interfaces.map((i) => i.targetName), ["eth0", "lan1"]);
  fails(NetworkInterfaceMap, { interfaces: [n("52:54:00:00:00:01", "00:50:56:00:00:01"), n("52:54:00:00:00:01", "00:50:56:00:00:02")] }, "interfaces\\[1\\]\\.sourceMac", "already used by interfaces\\[0\\]");
  fails(NetworkInterfaceMap, { interfaces: [n("52:54:00:00:00:01", "00:50:56:00:00:0A"), n("52:54:00:00:00:02", "00:50:56:00:00:0a")] }, "targetMac");
  fails(NetworkInterfaceMap, { interfaces: [n("52:54:00:00:00:01", "00:50:56:00:00:01", "eth1"), n("52:54:00:00:00:02", "00:50:56:00:00:02")] }, "targetName", "eth1");
  fails(NetworkInterfaceMap, { interfaces: [n("52:54:00:00:00:01", "00:50:56:00:00:01", "-rf")] }, "targetName");
  fails(NetworkInterfaceMap, { interfaces: [n("52:54:00:00:00:01", "00:50:56:00:00:01", "$(reboot)")] }, "targetName");
  fails(NetworkInterfaceMap, { interfaces: [{ sourceMac: "52:54:00:00:00:01" }] }, "targetMac");
});

test("raw input problems: empty, not JSON, not UTF-8, too large", () => {
  assert.match(fails(SystemConfiguration, ""), /empty/);
  assert.match(fails(SystemConfiguration, "{ nope"), /not valid JSON/);
  assert.throws(() => parseInput("x.json", SystemConfiguration, Buffer.from([0x7b, 0xff, 0xfe, 0x7d])), /not valid UTF-8/);
  assert.throws(() => parseInput("x.json", SystemConfiguration, Buffer.alloc(5 * 1024 * 1024, 0x20)), /larger than/);
});

test("a missing map is INPUT_MISSING and names the file", async () => {
  const d = await tempDir();
  await assert.rejects(loadInputs(d), (e: unknown) => e instanceof FixupError && e.code === CODES.INPUT_MISSING.code && /system-configuration\.json is missing/.test(e.message));
});

test("every failure code is documented in README.md", () => {
  const readme = readFileSync(join(SAMPLE, "../../README.md"), "utf8");
  for (const [name, c] of Object.entries(CODES)) assert.match(readme, new RegExp(`\\| ${c.code} \\| \`${name}\``), `README lacks code ${c.code} ${name}`);
});
