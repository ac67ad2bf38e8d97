// The network step and its pieces against small guest trees: which interface each map entry
// is, what is refused before any change, netplan edits in place, pins, renameNics=false.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, readFile, stat, symlink, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { GuestRoot } from "../../../src/guest/guest-root.ts";
import { DiskView } from "../../../src/guest/view.ts";
import { inspectNetwork } from "../../../src/network/inspect.ts";
import { inspectGuest } from "../../../src/guest/inspect.ts";
import { resolveNics } from "../../../src/network/mapping.ts";
import { renamesOf } from "../../../src/network/rewrite.ts";
import { rewriteNetplanText } from "../../../src/network/systems/netplan.ts";
import { network } from "../../../src/fixups/network.ts";
import { runStage1 } from "../../../src/agent/stage1.ts";
import { FixupError } from "../../../src/protocol/codes.ts";
import { parseInput, type Inputs } from "../../../src/protocol/inputs.ts";
import { NetworkInterfaceMap, ReplicaDiskMap, SystemConfiguration } from "../../../src/protocol/schemas.ts";
import { Logger } from "../../../src/util/log.ts";
import { fingerprint, removeTree, tempDir } from "../../helpers/tree.ts";

async function tree(files: Record<string, string>): Promise<string> {
  const d = await tempDir("osam-net-");
  await mkdir(join(d, "etc"), { recursive: true });
  await writeFile(join(d, "etc/os-release"), "ID=debian\nVERSION_ID=12\n");
  for (const [p, t] of Object.entries(files)) {
    await mkdir(dirname(join(d, p)), { recursive: true });
    await writeFile(join(d, p), t);
  }
  return d;
}

function inputs(map: unknown[], source: Record<string, unknown> = {}, options?: Record<string, unknown>): Inputs {
  return {
    system: parseInput("s", SystemConfiguration, Buffer.from(JSON.stringify({ migrationId: "t", source: { firmware: "bios", ...source }, target: { firmware: "bios", scsiController: "pvscsi", nicModel: "vmxnet3" }, ...(options ? { options } : {}) }))),
    disks: parseInput("d", ReplicaDiskMap, Buffer.from(JSON.stringify({ disks: [{ source: { device: "/dev/vda" }, target: { controller: "scsi0", unit: 0 } }] }))),
    network: parseInput("n", NetworkInterfaceMap, Buffer.from(JSON.stringify({ interfaces: map }))),
  };
}

const view = (d: string) => new DiskView(new GuestRoot(d));

test("inspect: every system, with MACs, kinds, members and VLAN parents", async () => {
  const d = await tree({
    "etc/sysconfig/network-scripts/ifcfg-ens3": "DEVICE=ens3\nHWADDR=52:54:00:00:00:03\nMASTER=bond0\nSLAVE=yes\n",
    "etc/sysconfig/network-scripts/ifcfg-bond0": "DEVICE=bond0\nTYPE=Bond\nBONDING_OPTS=mode=1\n",
    "etc/sysconfig/network-scripts/ifcfg-ens3.bak": "DEVICE=junk\n",
    "etc/NetworkManager/system-connections/v.nmconnection": "[connection]\nid=v\ntype=vlan\n[vlan]\nparent=ens5\nid=7\n",
    "etc/network/interfaces": "source interfaces.d/*\nauto br0\niface br0 inet dhcp\n  bridge_ports ens6\n",
    "etc/network/interfaces.d/x": "iface ens6.9 inet manual\n  vlan-raw-device ens6\n",
    "etc/netplan/a.yaml": "network:\n  ethernets:\n    id0:\n      match: {macaddress: '52:54:00:00:00:07'}\n      set-name: ens7\n",
    "etc/udev/rules.d/70-persistent-net.rules": 'SUBSYSTEM=="net", ATTR{address}=="52:54:00:00:00:08", NAME="eth8"\n',
  });
  try {
    const n = await inspectNetwork(view(d));
    const by = Object.fromEntries(n.map((i) => [i.name, i]));
    assert.deepEqual(Object.keys(by).sort(), ["bond0", "br0", "ens3", "ens5", "ens5.7", "ens6", "ens6.9", "ens7", "eth8"]);
    assert.equal(by.ens3!.mac, "52:54:00:00:00:03");
    assert.equal(by.ens3!.master, "bond0");
    assert.equal(by.bond0!.kind, "bond");
    assert.equal(by["ens5.7"]!.parent, "ens5");
    assert.equal(by.ens6!.master, "br0");
    assert.equal(by["ens6.9"]!.kind, "vlan");
    assert.equal(by.ens7!.mac, "52:54:00:00:00:07");
    assert.deepEqual(by.eth8!.configs.map((c) => c.system), ["udev"]);
  } finally {
    await removeTree(d);
  }
});

test("mapping: by MAC first, then source.interfaces, then name; contradictions are errors", async () => {
  const d = await tree({
    "etc/network/interfaces": "auto ens3\niface ens3 inet dhcp\n  hwaddress ether 52:54:00:00:00:03\nauto ens4\niface ens4 inet dhcp\nauto ens5\niface ens5 inet dhcp\nauto eth1\niface eth1 inet dhcp\n",
  });
  try {
    const ifs = await inspectNetwork(view(d));
    const ok = resolveNics(ifs, inputs([
      { sourceMac: "52:54:00:00:00:03", sourceName: "ens9", targetMac: "00:50:56:00:00:01" },
      { sourceMac: "52:54:00:00:00:04", targetMac: "00:50:56:00:00:02", targetName: "eth2" },
      { sourceMac: "52:54:00:00:00:05", sourceName: "ens5", targetMac: "00:50:56:00:00:03", targetName: "eth3" },
    ], { interfaces: [{ name: "ens4", mac: "52:54:00:00:00:04" }] }));
    assert.deepEqual(ok.errors, []);
    assert.deepEqual(ok.nics.map((n) => [n.sourceName, n.foundBy, n.newName]), [["ens3", "mac", "eth0"], ["ens4", "inventory", "eth2"], ["ens5", "name", "eth3"]]);
    assert.ok(ok.warnings.some((w) => w.includes("sourceName ens9 differs from ens3")));
    assert.ok(ok.warnings.some((w) => w.startsWith("eth1 is configured in the guest")));

    const unknown = resolveNics(ifs, inputs([{ sourceMac: "52:54:00:00:00:99", targetMac: "00:50:56:00:00:01" }]));
    assert.match(unknown.errors.join(), /52:54:00:00:00:99 was never used by the guest/);
    const twice = resolveNics(ifs, inputs([{ sourceMac: "52:54:00:00:00:98", sourceName: "ens4", targetMac: "00:50:56:00:00:01" }, { sourceMac: "52:54:00:00:00:97", sourceName: "ens4", targetMac: "00:50:56:00:00:02" }]));
    assert.match(twice.errors.join(), /resolves to interface ens4, as does interfaces\[0\]/);
    // eth1 is configured for an interface outside the map: renaming ens3 onto it would hand
    // that configuration to the wrong NIC
    const taken = resolveNics(ifs, inputs([{ sourceMac: "52:54:00:00:00:03", targetMac: "00:50:56:00:00:01", targetName: "eth1" }]));
    assert.match(taken.errors.join(), /target name eth1 is configured in the guest for an interface that is not in the map/);
    const keep = resolveNics(ifs, inputs([{ sourceMac: "52:54:00:00:00:03", targetMac: "00:50:56:00:00:01" }], {}, { renameNics: false }));
    assert.equal(keep.nics[0]!.newName, "ens3");
  } finally {
    await removeTree(d);
  }
});

test("validate stops the run with INPUT_CONTRADICTORY and the guest byte-identical", async () => {
  const d = await tree({ "etc/network/interfaces": "auto ens3\niface ens3 inet dhcp\n", "etc/default/grub": 'GRUB_CMDLINE_LINUX=""\n' });
  try {
    const inp = inputs([{ sourceMac: "52:54:00:00:00:99", targetMac: "00:50:56:00:00:01" }]);
    await assert.rejects(network.validate!({ view: view(d), inputs: inp, info: await inspectGuest(view(d)), devices: [], log: new Logger() }), (e: unknown) => e instanceof FixupError && e.codeName === "INPUT_CONTRADICTORY");
    const before = await fingerprint(d);
    const { result } = await runStage1({ root: d, inputs: inp, mode: "apply", log: new Logger(), only: ["network"] });
    assert.equal(result.status, "failed");
    assert.equal(result.code, 102);
    assert.deepEqual(await fingerprint(d), before);
  } finally {
    await removeTree(d);
  }
});

test("netplan: scalars edited in place; comments, flow style, quotes and order kept", () => {
  const src = `# top comment
network:
  version: 2
  ethernets:
    ens3:   # primary
      match:
        macaddress: "52:54:00:00:00:03"   # the source NIC
      set-name: ens3
      addresses: [10.0.0.5/24]
    ens4: {dhcp4: true}
  bonds:
    bond0:
      interfaces: [ens5, 'ens6']
      parameters: {mode: active-backup, primary: ens5}
  vlans:
    ens4.20: {id: 20, link: ens4}
`;
  const nics = [
    { index: 0, sourceMac: "52:54:00:00:00:03", targetMac: "00:50:56:00:00:01", targetName: "eth1", sourceName: "ens3", foundBy: "mac" as const, configured: true, newName: "eth1" },
    { index: 1, sourceMac: "52:54:00:00:00:04", targetMac: "00:50:56:00:00:02", targetName: "eth0", sourceName: "ens4", foundBy: "name" as const, configured: true, newName: "eth0" },
    { index: 2, sourceMac: "52:54:00:00:00:05", targetMac: "00:50:56:00:00:03", targetName: "eth2", sourceName: "ens5", foundBy: "name" as const, configured: true, newName: "eth2" },
    { index: 3, sourceMac: "52:54:00:00:00:06", targetMac: "00:50:56:00:00:04", targetName: "eth3", sourceName: "ens6", foundBy: "name" as const, configured: true, newName: "eth3" },
  ];
  const out = rewriteNetplanText(src, renamesOf(nics));
  assert.equal(out, `# top comment
network:
  version: 2
  ethernets:
    ens3:   # primary
      match:
        macaddress: "00:50:56:00:00:01"   # the source NIC
      set-name: eth1
      addresses: [10.0.0.5/24]
    eth0: {dhcp4: true}
  bonds:
    bond0:
      interfaces: [eth2, 'eth3']
      parameters: {mode: active-backup, primary: eth2}
  vlans:
    eth0.20: {id: 20, link: eth0}
`);
  assert.equal(rewriteNetplanText(src, renamesOf([])), src);
  assert.throws(() => rewriteNetplanText("network: [\n", renamesOf(nics)), /not valid YAML/);
});

test("pins: stale rules and masked files replaced, other rules files defused, idempotent", async () => {
  const d = await tree({
    "etc/network/interfaces": "auto eth0\niface eth0 inet dhcp\n",
    "etc/udev/rules.d/70-persistent-net.rules": '# keep me\n# PCI device 0x8086:0x100e (e1000)\nSUBSYSTEM=="net", ACTION=="add", ATTR{address}=="52:54:00:00:00:01", NAME="eth0"\nSUBSYSTEM=="net", ACTION=="add", ATTR{address}=="52:54:00:00:00:77", NAME="eth7"\n',
    "etc/udev/rules.d/10-mine.rules": 'SUBSYSTEM=="net", ATTR{address}=="52:54:00:00:00:01", NAME="lan"\nKERNEL=="sda", OPTIONS+="x"\n',
  });
  try {
    const inp = inputs([{ sourceMac: "52:54:00:00:00:01", targetMac: "00:50:56:00:00:01" }]);
    const { result } = await runStage1({ root: d, inputs: inp, mode: "apply", log: new Logger(), only: ["network"] });
    assert.equal(result.status, "succeeded", result.message);
    const rules = await readFile(join(d, "etc/udev/rules.d/70-persistent-net.rules"), "utf8");
    assert.ok(rules.startsWith("# keep me\n"));
    assert.ok(!rules.split("\n").some((l) => !l.startsWith("#") && l.includes("52:54:00:00:00:01")), rules);
    assert.ok(!rules.includes("PCI device"), rules);
    assert.ok(rules.includes('ATTR{address}=="52:54:00:00:00:77", NAME="eth7"'));
    assert.equal((rules.match(/ATTR\{address\}=="00:50:56:00:00:01"/g) ?? []).length, 3);
    const mine = await readFile(join(d, "etc/udev/rules.d/10-mine.rules"), "utf8");
    assert.match(mine, /^# osam-fixup: superseded by .*NAME="lan"\nKERNEL=="sda"/);
    // a second run starts from the originals (journal) and converges to the same result
    const again = await runStage1({ root: d, inputs: inp, mode: "apply", log: new Logger(), only: ["network"] });
    assert.equal(again.result.status, "succeeded");
    assert.equal(await readFile(join(d, "etc/udev/rules.d/70-persistent-net.rules"), "utf8"), rules);
  } finally {
    await removeTree(d);
  }
  const m = await tree({ "etc/network/interfaces": "auto ens3\niface ens3 inet dhcp\n" });
  try {
    await symlink("/dev/null", join(m, "etc/udev/rules.d/70-persistent-net.rules")).catch(async () => {
      await mkdir(join(m, "etc/udev/rules.d"), { recursive: true });
      await symlink("/dev/null", join(m, "etc/udev/rules.d/70-persistent-net.rules"));
    });
    const { result } = await runStage1({ root: m, inputs: inputs([{ sourceMac: "52:54:00:00:00:03", sourceName: "ens3", targetMac: "00:50:56:00:00:01" }]), mode: "apply", log: new Logger(), only: ["network"] });
    assert.equal(result.status, "succeeded", result.message);
    assert.ok((await stat(join(m, "etc/udev/rules.d/70-persistent-net.rules"))).isFile());
    assert.ok(result.warnings.some((w) => w.includes("was a link")));
  } finally {
    await removeTree(m);
  }
});

test("keyfiles keep their mode when renamed; a MAC-only keyfile is found by MAC", async () => {
  const d = await tree({
    "etc/NetworkManager/system-connections/ens3.nmconnection": "[connection]\nid=ens3\ntype=ethernet\n\n[ethernet]\nmac-address=52:54:00:00:00:03\n\n[ipv4]\nmethod=auto\n",
  });
  try {
    const { chmod } = await import("node:fs/promises");
    await chmod(join(d, "etc/NetworkManager/system-connections/ens3.nmconnection"), 0o600);
    const { result } = await runStage1({ root: d, inputs: inputs([{ sourceMac: "52:54:00:00:00:03", targetMac: "00:50:56:00:00:01" }]), mode: "apply", log: new Logger(), only: ["network"] });
    assert.equal(result.status, "succeeded", result.message);
    const p = join(d, "etc/NetworkManager/system-connections/eth0.nmconnection");
    assert.equal((await stat(p)).mode & 0o777, 0o600);
    assert.equal(await readFile(p, "utf8"), "[connection]\nid=eth0\ntype=ethernet\n\n[ethernet]\nmac-address=00:50:56:00:00:01\n\n[ipv4]\nmethod=auto\n");
  } finally {
    await removeTree(d);
  }
});

test("renameNics false: names stay, MACs follow, no pins, no kernel arguments", async () => {
  const d = await tree({
    "etc/sysconfig/network-scripts/ifcfg-ens3": "DEVICE=ens3\nHWADDR=52:54:00:00:00:03\nBOOTPROTO=dhcp\n",
    "etc/default/grub": 'GRUB_CMDLINE_LINUX="quiet"\n',
  });
  try {
    const { result } = await runStage1({ root: d, inputs: inputs([{ sourceMac: "52:54:00:00:00:03", targetMac: "00:50:56:00:00:01" }], {}, { renameNics: false }), mode: "apply", log: new Logger(), only: ["network"] });
    assert.equal(result.status, "succeeded", result.message);
    assert.equal(await readFile(join(d, "etc/sysconfig/network-scripts/ifcfg-ens3"), "utf8"), "DEVICE=ens3\nHWADDR=00:50:56:00:00:01\nBOOTPROTO=dhcp\n");
    assert.equal(await readFile(join(d, "etc/default/grub"), "utf8"), 'GRUB_CMDLINE_LINUX="quiet"\n');
    await assert.rejects(stat(join(d, "etc/udev/rules.d/70-persistent-net.rules")));
    assert.ok(result.warnings.some((w) => w.includes("renameNics is false")));
  } finally {
    await removeTree(d);
  }
});

test("an empty map skips the step", async () => {
  const d = await tree({ "etc/network/interfaces": "auto ens3\niface ens3 inet dhcp\n" });
  try {
    const { result } = await runStage1({ root: d, inputs: inputs([]), mode: "plan", log: new Logger(), only: ["network"] });
    assert.equal(result.steps[0]!.status, "skipped");
  } finally {
    await removeTree(d);
  }
});

test("VLAN and bridge references follow the parent in keyfiles, ifupdown and networkd", async () => {
  const d = await tree({
    "etc/NetworkManager/system-connections/ens3.nmconnection": "[connection]\nid=ens3\ntype=ethernet\ninterface-name=ens3\n\n[ethernet]\nmac-address=52:54:00:00:00:03\n",
    "etc/NetworkManager/system-connections/vlan10.nmconnection": "[connection]\nid=vlan10\ntype=vlan\ninterface-name=ens3.10\n\n[vlan]\nid=10\nparent=ens3\n\n[ipv4]\naddress1=10.10.0.5/24\nmethod=manual\n",
    "etc/network/interfaces": "auto br0\niface br0 inet static\n    address 10.0.0.5/24\n    bridge_ports ens4\n    hwaddress ether 52:54:00:00:00:04\n\niface ens4 inet manual\n",
    "etc/systemd/network/20-ens5.network": "[Match]\nName=ens5\n\n[Network]\nDHCP=yes\nVLAN=ens5.7\n",
    "etc/systemd/network/10-ens5.link": "[Match]\nMACAddress=52:54:00:00:00:05\n\n[Link]\nName=ens5\n",
  });
  try {
    const map = [
      { sourceMac: "52:54:00:00:00:03", targetMac: "00:50:56:00:00:01" },
      { sourceMac: "52:54:00:00:00:04", sourceName: "ens4", targetMac: "00:50:56:00:00:02" },
      { sourceMac: "52:54:00:00:00:05", targetMac: "00:50:56:00:00:03" },
    ];
    const { result } = await runStage1({ root: d, inputs: inputs(map), mode: "apply", log: new Logger(), only: ["network"] });
    assert.equal(result.status, "succeeded", result.message);
    const nm = join(d, "etc/NetworkManager/system-connections");
    assert.equal(await readFile(join(nm, "vlan10.nmconnection"), "utf8"), "[connection]\nid=vlan10\ntype=vlan\ninterface-name=eth0.10\n\n[vlan]\nid=10\nparent=eth0\n\n[ipv4]\naddress1=10.10.0.5/24\nmethod=manual\n");
    assert.match(await readFile(join(nm, "eth0.nmconnection"), "utf8"), /interface-name=eth0\n[\s\S]*mac-address=00:50:56:00:00:01/);
    assert.equal(await readFile(join(d, "etc/network/interfaces"), "utf8"), "auto br0\niface br0 inet static\n    address 10.0.0.5/24\n    bridge_ports eth1\n    hwaddress ether 00:50:56:00:00:02\n\niface eth1 inet manual\n");
    assert.equal(await readFile(join(d, "etc/systemd/network/20-ens5.network"), "utf8"), "[Match]\nName=eth2\n\n[Network]\nDHCP=yes\nVLAN=eth2.7\n");
    assert.equal(await readFile(join(d, "etc/systemd/network/10-ens5.link"), "utf8"), "[Match]\nMACAddress=00:50:56:00:00:03\n\n[Link]\nName=eth2\n");
  } finally {
    await removeTree(d);
  }
});
