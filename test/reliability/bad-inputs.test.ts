// Issue 8: a corpus of malformed or contradictory maps. Each one must give exit 2 (or
// status failed) with a message that names the problem, and leave the guest byte-identical.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile, writeFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { runAgent } from "../../src/agent/agent.ts";
import { FIXUP_FILES } from "../../src/protocol/files.ts";
import { CODES } from "../../src/protocol/codes.ts";
import { Result } from "../../src/protocol/schemas.ts";
import { SAMPLE, SKIP_CHROOT, copyTree, diffPrints, fingerprint } from "../helpers/tree.ts";

type MapFile = "systemConfiguration" | "replicaDiskMap" | "networkInterfaceMap";
interface Case {
  name: string;
  file: MapFile;
  /** New content (string or bytes), a function of the sample map, or null to delete the file. */
  /** A function's string result is written as is (for JSON that JSON.stringify cannot make). */
  content: string | Buffer | null | Record<string, unknown> | ((good: Record<string, unknown>) => unknown);
  code: number;
  message: RegExp;
}

const SC = "systemConfiguration" as const, RD = "replicaDiskMap" as const, NI = "networkInterfaceMap" as const;
const INVALID = CODES.INPUT_INVALID.code;
type Obj = Record<string, unknown>;
const src = (g: Obj) => g.source as Obj;
const disk = (unit: number, dev: string, extra: Obj = {}) => ({ source: { device: dev }, target: { controller: "scsi0", unit }, ...extra });
const nic = (s: string, t: string, extra: Obj = {}) => ({ sourceMac: s, targetMac: t, ...extra });
const S1 = "52:54:00:12:34:56", S2 = "52:54:00:12:34:57";

const CASES: Case[] = [
  { name: "system-configuration missing", file: SC, content: null, code: CODES.INPUT_MISSING.code, message: /system-configuration\.json is missing/ },
  { name: "replica-disk-map missing", file: RD, content: null, code: CODES.INPUT_MISSING.code, message: /replica-disk-map\.json is missing/ },
  { name: "empty file", file: SC, content: "", code: INVALID, message: /the file is empty/ },
  { name: "white space only", file: NI, content: " \n\t\n", code: INVALID, message: /the file is empty/ },
  { name: "truncated JSON", file: SC, content: '{"migrationId": "m1", "source": {', code: INVALID, message: /not valid JSON/ },
  { name: "JSON array at the top", file: SC, content: "[]", code: INVALID, message: /\(top level\): .*object/ },
  { name: "JSON null", file: RD, content: "null", code: INVALID, message: /replica-disk-map\.json: \(top level\)/ },
  { name: "JSON string", file: NI, content: '"interfaces"', code: INVALID, message: /network-interface-map\.json: \(top level\)/ },
  { name: "invalid UTF-8", file: SC, content: Buffer.from([0x7b, 0x22, 0xc3, 0x28, 0x22, 0x7d]), code: INVALID, message: /not valid UTF-8/ },
  { name: "UTF-16 encoded", file: RD, content: Buffer.from('{"disks": []}', "utf16le"), code: INVALID, message: /not valid JSON/ },
  { name: "huge file", file: NI, content: Buffer.alloc(6 * 1024 * 1024, 0x20), code: INVALID, message: /larger than the 4194304-byte limit/ },
  { name: "deeply nested JSON", file: SC, content: "[".repeat(100000) + "]".repeat(100000), code: INVALID, message: /system-configuration\.json: / },
  { name: "migrationId missing", file: SC, content: (g) => ({ ...g, migrationId: undefined }), code: INVALID, message: /migrationId: / },
  { name: "migrationId a number", file: SC, content: (g) => ({ ...g, migrationId: 42 }), code: INVALID, message: /migrationId: .*string/ },
  { name: "migrationId a path", file: SC, content: (g) => ({ ...g, migrationId: "../../etc/passwd" }), code: INVALID, message: /migrationId: must be/ },
  { name: "migrationId empty", file: SC, content: (g) => ({ ...g, migrationId: "" }), code: INVALID, message: /migrationId/ },
  { name: "source missing", file: SC, content: (g) => ({ ...g, source: undefined }), code: INVALID, message: /source: / },
  { name: "source firmware unknown", file: SC, content: (g) => ({ ...g, source: { ...src(g), firmware: "efi" } }), code: INVALID, message: /source\.firmware/ },
  { name: "target controller unknown", file: SC, content: (g) => ({ ...g, target: { firmware: "bios", scsiController: "buslogic", nicModel: "vmxnet3" } }), code: INVALID, message: /target\.scsiController/ },
  { name: "target NIC model unknown", file: SC, content: (g) => ({ ...g, target: { firmware: "bios", scsiController: "pvscsi", nicModel: "virtio" } }), code: INVALID, message: /target\.nicModel/ },
  { name: "unknown top-level field", file: SC, content: (g) => ({ ...g, migrationID: "typo" }), code: INVALID, message: /migrationID/ },
  { name: "extra nesting", file: SC, content: (g) => ({ ...g, source: { source: src(g), firmware: "bios" } }), code: INVALID, message: /source: .*"source"/ },
  { name: "blockDevices not a list", file: SC, content: (g) => ({ ...g, source: { ...src(g), blockDevices: { device: "/dev/vda1" } } }), code: INVALID, message: /source\.blockDevices/ },
  { name: "block device without /dev/", file: SC, content: (g) => ({ ...g, source: { ...src(g), blockDevices: [{ device: "vda1" }] } }), code: INVALID, message: /blockDevices\[0\]\.device/ },
  { name: "block device with ..", file: SC, content: (g) => ({ ...g, source: { ...src(g), blockDevices: [{ device: "/dev/../etc/shadow" }] } }), code: INVALID, message: /blockDevices\[0\]\.device: must not contain/ },
  { name: "source interface with a short MAC", file: SC, content: (g) => ({ ...g, source: { ...src(g), interfaces: [{ name: "ens3", mac: "52:54:00:12:34" }] } }), code: INVALID, message: /interfaces\[0\]\.mac: must be a MAC/ },
  { name: "source interface name too long", file: SC, content: (g) => ({ ...g, source: { ...src(g), interfaces: [{ name: "averyveryverylongname0", mac: S1 }] } }), code: INVALID, message: /interfaces\[0\]\.name/ },
  { name: "option of the wrong type", file: SC, content: (g) => ({ ...g, options: { singleUserMode: "yes" } }), code: INVALID, message: /options\.singleUserMode/ },
  { name: "no disks", file: RD, content: { disks: [] }, code: INVALID, message: /disks/ },
  { name: "disk at the fixup disk's unit", file: RD, content: { disks: [disk(15, "/dev/vda")] }, code: INVALID, message: /reserved for the fixup disk/ },
  { name: "disk at the controller's unit", file: RD, content: { disks: [disk(7, "/dev/vda")] }, code: INVALID, message: /controller itself/ },
  { name: "two disks at one unit", file: RD, content: { disks: [disk(0, "/dev/vda"), disk(0, "/dev/vdb")] }, code: INVALID, message: /scsi0:0 is already used by disks\[0\]/ },
  { name: "one source disk twice", file: RD, content: { disks: [disk(0, "/dev/vda"), disk(1, "/dev/vda")] }, code: INVALID, message: /duplicates disks\[0\]/ },
  { name: "two boot disks", file: RD, content: { disks: [disk(0, "/dev/vda", { boot: true }), disk(1, "/dev/vdb", { boot: true })] }, code: INVALID, message: /more than one disk is marked boot/ },
  { name: "negative unit", file: RD, content: { disks: [disk(-1, "/dev/vda")] }, code: INVALID, message: /disks\[0\]\.target\.unit/ },
  { name: "fractional unit", file: RD, content: { disks: [disk(1.5, "/dev/vda")] }, code: INVALID, message: /disks\[0\]\.target\.unit/ },
  { name: "other controller", file: RD, content: { disks: [{ source: { device: "/dev/vda" }, target: { controller: "scsi1", unit: 0 } }] }, code: INVALID, message: /target\.controller/ },
  { name: "negative size", file: RD, content: { disks: [{ source: { device: "/dev/vda", sizeBytes: -5 }, target: { controller: "scsi0", unit: 0 } }] }, code: INVALID, message: /sizeBytes/ },
  { name: "target device with a space", file: RD, content: { disks: [{ source: { device: "/dev/vda" }, target: { controller: "scsi0", unit: 0, device: "/dev/sd a" } }] }, code: INVALID, message: /target\.device/ },
  { name: "duplicate source MAC in another case", file: NI, content: { interfaces: [nic(S1, "00:50:56:00:00:01"), nic(S1.toUpperCase(), "00:50:56:00:00:02")] }, code: INVALID, message: /interfaces\[1\]\.sourceMac: 52:54:00:12:34:56 is already used/ },
  { name: "duplicate target MAC", file: NI, content: { interfaces: [nic(S1, "00:50:56:00:00:01"), nic(S2, "00:50:56:00:00:01")] }, code: INVALID, message: /interfaces\[1\]\.targetMac/ },
  { name: "explicit name clashes with a default", file: NI, content: { interfaces: [nic(S1, "00:50:56:00:00:01", { targetName: "eth1" }), nic(S2, "00:50:56:00:00:02")] }, code: INVALID, message: /interfaces\[1\]\.targetName: eth1 is already used/ },
  { name: "name with a leading dash", file: NI, content: { interfaces: [nic(S1, "00:50:56:00:00:01", { targetName: "-eth0" })] }, code: INVALID, message: /targetName/ },
  { name: "name with a newline", file: NI, content: { interfaces: [nic(S1, "00:50:56:00:00:01", { targetName: "eth0\nNAME=x" })] }, code: INVALID, message: /targetName/ },
  { name: "name with a command substitution", file: NI, content: { interfaces: [nic(S1, "00:50:56:00:00:01", { targetName: "$(reboot)" })] }, code: INVALID, message: /targetName/ },
  { name: "source MAC missing", file: NI, content: { interfaces: [{ targetMac: "00:50:56:00:00:01" }] }, code: INVALID, message: /interfaces\[0\]\.sourceMac/ },
  { name: "interfaces not a list", file: NI, content: { interfaces: { sourceMac: S1 } }, code: INVALID, message: /interfaces/ },
  { name: "too many interfaces", file: NI, content: { interfaces: Array.from({ length: 65 }, (_, i) => nic(`52:54:00:00:01:${i.toString(16).padStart(2, "0")}`, `00:50:56:00:01:${i.toString(16).padStart(2, "0")}`)) }, code: INVALID, message: /interfaces/ },
  { name: "duplicate key at the top", file: SC, content: (g) => JSON.stringify(g).replace(/^\{/, '{"migrationId": "other-id", '), code: INVALID, message: /system-configuration\.json: migrationId: the key "migrationId" appears twice/ },
  { name: "duplicate key in a nested object", file: SC, content: (g) => JSON.stringify(g).replace('"source":{', '"source":{"firmware":"uefi",'), code: INVALID, message: /system-configuration\.json: source\.firmware: the key "firmware" appears twice/ },
  { name: "duplicate key in a list element", file: NI, content: `{"interfaces": [{"sourceMac": "${S1}", "targetMac": "00:50:56:00:00:01"}, {"sourceMac": "${S2}", "targetMac": "00:50:56:00:00:02", "sourceMac": "${S1}"}]}`, code: INVALID, message: /network-interface-map\.json: interfaces\[1\]\.sourceMac: the key "sourceMac" appears twice/ },
  { name: "duplicate key spelled with an escape", file: RD, content: '{"disks": [{"source": {"device": "/dev/vda"}, "target": {"controller": "scsi0", "unit": 0, "\\u0075nit": 1}}]}', code: INVALID, message: /replica-disk-map\.json: disks\[0\]\.target\.unit: the key "unit" appears twice/ },
  { name: "a MAC the guest never used", file: NI, content: { interfaces: [nic("52:54:00:99:99:99", "00:50:56:00:00:01")] }, code: CODES.INPUT_CONTRADICTORY.code, message: /52:54:00:99:99:99/ },
];

test(`the bad-input corpus has at least 40 cases (${CASES.length})`, () => {
  assert.ok(CASES.length >= 40);
});

for (const c of CASES) {
  test(`bad input: ${c.name}`, async () => {
    const root = await copyTree(join(SAMPLE, "root"));
    const before = await fingerprint(root);
    const dir = await copyTree(join(SAMPLE, "inputs"));
    const path = join(dir, FIXUP_FILES[c.file]);
    if (c.content === null) await rm(path);
    else if (typeof c.content === "function") {
      const v = c.content(JSON.parse(await readFile(path, "utf8")) as Record<string, unknown>);
      await writeFile(path, typeof v === "string" ? v : JSON.stringify(v));
    }
    else if (typeof c.content === "string" || Buffer.isBuffer(c.content)) await writeFile(path, c.content);
    else await writeFile(path, JSON.stringify(c.content));
    await writeFile(join(dir, FIXUP_FILES.begin), "");
    const code = await runAgent({ fixupDir: dir, root, noWait: true, skip: SKIP_CHROOT[1]!.split(",") });
    const result = Result.parse(JSON.parse(await readFile(join(dir, FIXUP_FILES.result), "utf8")));
    assert.equal(result.status, "failed");
    assert.equal(result.code, c.code, result.message);
    assert.equal(code, 2, "exit 2 for bad input");
    assert.match(result.message, c.message);
    assert.match(await readFile(join(dir, FIXUP_FILES.end), "utf8"), new RegExp(`^failed ${c.code}`));
    assert.deepEqual(diffPrints(before, await fingerprint(root)), [], "the guest is byte-identical");
  });
}
