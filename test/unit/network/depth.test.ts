// Issue 12's network kinds on small trees: NIC identity never taken from a virtual device
// (inventory kinds, permanent MACs, refusals naming the ports), patterns that keep matching
// the new names, and netplan files that cannot be parsed.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { GuestRoot } from "../../../src/guest/guest-root.ts";
import { DiskView } from "../../../src/guest/view.ts";
import { inspectNetwork } from "../../../src/network/inspect.ts";
import { resolveNics } from "../../../src/network/mapping.ts";
import { globMatches, namesToAdd } from "../../../src/network/names.ts";
import { parseNetplan, rewriteNetplanText } from "../../../src/network/systems/netplan.ts";
import { networkd } from "../../../src/network/systems/networkd.ts";
import { nmKeyfile } from "../../../src/network/systems/nm-keyfile.ts";
import { parseInput, type Inputs } from "../../../src/protocol/inputs.ts";
import { NetworkInterfaceMap, ReplicaDiskMap, SystemConfiguration } from "../../../src/protocol/schemas.ts";
import { renamesOf } from "../../../src/network/rewrite.ts";
import { removeTree, tempDir } from "../../helpers/tree.ts";

async function tree(files: Record<string, string>): Promise<string> {
  const d = await tempDir("osam-net12-");
  for (const [p, t] of Object.entries({ "etc/os-release": "ID=debian\nVERSION_ID=12\n", ...files })) {
    await mkdir(dirname(join(d, p)), { recursive: true });
    await writeFile(join(d, p), t);
  }
  return d;
}

function inputs(map: unknown[], interfaces?: unknown[]): Inputs {
  return {
    system: parseInput("s", SystemConfiguration, Buffer.from(JSON.stringify({ migrationId: "t", source: { firmware: "bios", ...(interfaces ? { interfaces } : {}) }, target: { firmware: "bios", scsiController: "pvscsi", nicModel: "vmxnet3" } }))),
    disks: parseInput("d", ReplicaDiskMap, Buffer.from(JSON.stringify({ disks: [{ source: { device: "/dev/vda" }, target: { controller: "scsi0", unit: 0 } }] }))),
    network: parseInput("n", NetworkInterfaceMap, Buffer.from(JSON.stringify({ interfaces: map }))),
  };
}

const view = (d: string) => new DiskView(new GuestRoot(d));
const BRIDGE = "auto br0\niface br0 inet static\n  address 192.0.2.2/24\n  bridge_ports ens3\n";

test("a bridge listed first with its port's MAC: the port is the NIC (kind, or the guest's own config)", async () => {
  const d = await tree({ "etc/network/interfaces": BRIDGE });
  try {
    const ifs = await inspectNetwork(view(d));
    const map = [{ sourceMac: "52:54:00:00:00:03", targetMac: "00:50:56:00:00:01" }];
    for (const inv of [
      [{ name: "br0", mac: "52:54:00:00:00:03", kind: "bridge" }, { name: "ens3", mac: "52:54:00:00:00:03", kind: "physical" }],
      // an inventory from before collect recorded kinds: the guest's config says br0 is a bridge
      [{ name: "br0", mac: "52:54:00:00:00:03" }, { name: "ens3", mac: "52:54:00:00:00:03" }],
    ]) {
      const r = resolveNics(ifs, inputs(map, inv));
      assert.deepEqual(r.errors, []);
      assert.deepEqual(r.nics.map((n) => [n.sourceName, n.newName]), [["ens3", "eth0"]]);
    }
  } finally {
    await removeTree(d);
  }
});

test("bond members are found by their permanent MAC, not the bond's MAC they carry", async () => {
  const d = await tree({ "etc/network/interfaces": "auto bond0\niface bond0 inet dhcp\n  bond-slaves ens3 ens4\n  bond-primary ens3\n" });
  try {
    const inv = [
      { name: "bond0", mac: "52:54:00:00:00:03", kind: "bond" },
      { name: "ens4", mac: "52:54:00:00:00:03", kind: "physical", permanentMac: "52:54:00:00:00:04" },
      { name: "ens3", mac: "52:54:00:00:00:03", kind: "physical", permanentMac: "52:54:00:00:00:03" },
    ];
    const r = resolveNics(await inspectNetwork(view(d)), inputs([{ sourceMac: "52:54:00:00:00:03", targetMac: "00:50:56:00:00:01" }, { sourceMac: "52:54:00:00:00:04", targetMac: "00:50:56:00:00:02" }], inv));
    assert.deepEqual(r.errors, []);
    assert.deepEqual(r.nics.map((n) => [n.sourceName, n.foundBy]), [["ens3", "inventory"], ["ens4", "inventory"]]);
  } finally {
    await removeTree(d);
  }
});

test("a map entry naming a virtual device is refused, naming it and its ports", async () => {
  const d = await tree({ "etc/network/interfaces": BRIDGE + "auto bond1\niface bond1 inet dhcp\n  hwaddress ether 02:00:00:00:00:01\n  bond-slaves ens5 ens6\n" });
  try {
    const ifs = await inspectNetwork(view(d));
    const byName = resolveNics(ifs, inputs([{ sourceMac: "52:54:00:00:00:03", sourceName: "br0", targetMac: "00:50:56:00:00:01" }], [{ name: "ens3", mac: "52:54:00:00:00:03" }]));
    assert.match(byName.errors.join(), /sourceName br0 names br0, a bridge device, not a NIC.*its ports: ens3/);
    const byMac = resolveNics(ifs, inputs([{ sourceMac: "02:00:00:00:00:01", targetMac: "00:50:56:00:00:01" }]));
    assert.match(byMac.errors.join(), /source MAC 02:00:00:00:00:01 names bond1, a bond device.*its ports: ens5, ens6/);
    const invOnly = resolveNics(ifs, inputs([{ sourceMac: "02:00:00:00:00:09", targetMac: "00:50:56:00:00:01" }], [{ name: "team0", mac: "02:00:00:00:00:09", kind: "team" }]));
    assert.match(invOnly.errors.join(), /names team0, a team device/);
  } finally {
    await removeTree(d);
  }
});

test("globs and the names added beside them", () => {
  assert.ok(globMatches("ens*", "ens3"));
  assert.ok(globMatches("en[os]?", "ens3"));
  assert.ok(globMatches("en[!x]3", "ens3"));
  assert.ok(!globMatches("ens*", "eth0"));
  assert.ok(!globMatches("ens.", "ens3"));
  const m = new Map([["ens3", "eth0"], ["ens4", "eth1"], ["eno1", "eth2"]]);
  assert.deepEqual(namesToAdd(["ens*"], m), ["eth0", "eth1"]);
  assert.deepEqual(namesToAdd(["en*", "eth1"], m), ["eth0", "eth2"]);
  assert.deepEqual(namesToAdd(["e*"], m), []);
  assert.deepEqual(namesToAdd(["ens*", "!eth0"], m), ["eth1"]);
  assert.deepEqual(namesToAdd(["ens3"], m), []);
});

test("patterns configure the NICs they match (no 'has no configuration'), and keep matching them", async () => {
  const d = await tree({
    "etc/netplan/00.yaml": 'network:\n  version: 2\n  ethernets:\n    all:\n      match:\n        name: "ens*"\n      dhcp4: true\n',
    "etc/systemd/network/90-dhcp.network": "[Match]\nName=en*\n\n[Network]\nDHCP=yes\n",
    "etc/systemd/network/91-not.network": "[Match]\nName=!ens3\n\n[Network]\nDHCP=no\n",
    "etc/NetworkManager/system-connections/all.nmconnection": "[connection]\nid=all\ntype=ethernet\n\n[match]\ninterface-name=ens*\n",
  });
  try {
    const ifs = await inspectNetwork(view(d));
    assert.deepEqual(ifs.filter((i) => i.pattern).map((i) => i.name).sort(), ["en*", "ens*"]);
    const r = resolveNics(ifs, inputs([{ sourceMac: "52:54:00:00:00:03", targetMac: "00:50:56:00:00:01" }], [{ name: "ens3", mac: "52:54:00:00:00:03", kind: "physical" }]));
    assert.deepEqual(r.errors, []);
    assert.equal(r.nics[0]!.configured, true);
    assert.ok(!r.warnings.some((w) => /no configuration|en\*|ens\*/.test(w)), r.warnings.join("\n"));
    const renames = renamesOf(r.nics);
    const nd = await networkd.rewrite(view(d), { renames, renameNics: true });
    assert.deepEqual(nd.edits!.map((e) => [e.from, e.after.split("\n")[1]]), [
      ["/etc/systemd/network/90-dhcp.network", "Name=en* eth0"],
      // an inverted list still excludes the same NIC, by its new name, and gains nothing
      ["/etc/systemd/network/91-not.network", "Name=!eth0"],
    ]);
    const nm = await nmKeyfile.rewrite(view(d), { renames, renameNics: true });
    assert.match(nm.edits![0]!.after, /^interface-name=ens\*;eth0$/m);
    const np = rewriteNetplanText((await view(d).readText("/etc/netplan/00.yaml"))!, renames);
    assert.match(np, /name: "ens\*"\n {6}dhcp4: true\n {4}all-eth0:\n {6}match:\n {8}name: "eth0"\n {6}dhcp4: true\n$/);
  } finally {
    await removeTree(d);
  }
});

test("netplan: an alias bomb or broken YAML is reported, never thrown", () => {
  const bomb = ["a: &a [x,x,x,x,x,x,x,x,x]", ...["b", "c", "d", "e", "f", "g", "h"].map((k, i) => `${k}: &${k} [${Array(9).fill(`*${"abcdefg"[i]}`).join(",")}]`), "network: {x: *h}"].join("\n");
  const p = parseNetplan(bomb);
  assert.ok("error" in p && /alias/i.test(p.error), JSON.stringify(p));
  const broken = parseNetplan("network:\n  ethernets: [\n");
  assert.ok("error" in broken && broken.error.startsWith("not valid YAML"));
  assert.throws(() => rewriteNetplanText(bomb, renamesOf([])), /alias/i);
});

test("teams (DEVICETYPE=Team), iftab/mactab and .link files: kinds, MACs and what follows the NICs", async () => {
  const d = await tree({
    "etc/sysconfig/network-scripts/ifcfg-team0": "DEVICE=team0\nDEVICETYPE=Team\nTEAM_CONFIG='{\"ports\": {\"ens3\": {}}}'\n",
    "etc/sysconfig/network-scripts/ifcfg-team0-port1": "DEVICE=ens3\nDEVICETYPE=TeamPort\nTEAM_MASTER=team0\n",
    "etc/iftab": "# ifrename\nlan0 mac 52:54:00:00:00:04 arp 1\n",
    "etc/systemd/network/11-x.link": "[Match]\nOriginalName=lan0\n\n[Link]\nMTUBytes=9000\n",
  });
  try {
    const ifs = await inspectNetwork(view(d));
    const by = Object.fromEntries(ifs.map((i) => [i.name, i]));
    assert.equal(by.team0!.kind, "team");
    assert.equal(by.ens3!.master, "team0");
    assert.equal(by.lan0!.mac, "52:54:00:00:00:04");
    const r = resolveNics(ifs, inputs([{ sourceMac: "52:54:00:00:00:04", targetMac: "00:50:56:00:00:04" }, { sourceMac: "52:54:00:00:00:03", sourceName: "team0", targetMac: "00:50:56:00:00:03" }]));
    assert.match(r.errors.join(), /sourceName team0 names team0, a team device.*its ports: ens3/);
    const ok = resolveNics(ifs, inputs([{ sourceMac: "52:54:00:00:00:04", targetMac: "00:50:56:00:00:04" }]));
    const link = await networkd.rewrite(view(d), { renames: renamesOf(ok.nics), renameNics: true });
    assert.equal(link.edits![0]!.after, "[Match]\nMACAddress=00:50:56:00:00:04\n\n[Link]\nMTUBytes=9000\n");
  } finally {
    await removeTree(d);
  }
});

test("ifupdown: a mapping stanza's patterns configure the NICs and gain their new names", async () => {
  const d = await tree({ "etc/network/interfaces": "mapping ens*\n    script /usr/local/sbin/map-scheme\n\niface lan inet dhcp\n" });
  try {
    const ifs = await inspectNetwork(view(d));
    const r = resolveNics(ifs, inputs([{ sourceMac: "52:54:00:00:00:03", targetMac: "00:50:56:00:00:01" }], [{ name: "ens3", mac: "52:54:00:00:00:03", kind: "physical" }]));
    assert.equal(r.nics[0]!.configured, true);
    const { ifupdown } = await import("../../../src/network/systems/ifupdown.ts");
    const out = await ifupdown.rewrite(view(d), { renames: renamesOf(r.nics), renameNics: true });
    assert.equal(out.edits![0]!.after.split("\n")[0], "mapping ens* eth0");
  } finally {
    await removeTree(d);
  }
});
