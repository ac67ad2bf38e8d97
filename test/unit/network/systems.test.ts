// The registry of network configuration systems: each system file is listed exactly once, the
// network step reaches every system's inspection and rewrite through it, and what each system
// reads and rewrites lies within the files it declares.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, readdir, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { GuestRoot } from "../../../src/guest/guest-root.ts";
import { DiskView } from "../../../src/guest/view.ts";
import { inspectGuest } from "../../../src/guest/inspect.ts";
import { inspectNetwork } from "../../../src/network/inspect.ts";
import { NET_SYSTEMS, type NetworkSystem } from "../../../src/network/systems/index.ts";
import { network } from "../../../src/fixups/network.ts";
import { parseInput, type Inputs } from "../../../src/protocol/inputs.ts";
import { NetworkInterfaceMap, ReplicaDiskMap, SystemConfiguration } from "../../../src/protocol/schemas.ts";
import { Logger } from "../../../src/util/log.ts";
import { REPO, removeTree, tempDir } from "../../helpers/tree.ts";

const SYSTEMS_DIR = join(REPO, "src/network/systems");

function globRe(glob: string): RegExp {
  return new RegExp(`^${glob.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, "[^/]*").replace(/\?/g, "[^/]")}$`);
}
const owns = (s: NetworkSystem, path: string) => s.files.some((g) => globRe(g).test(path));

test("every system file is listed in the registry exactly once, under a name of its own", async () => {
  const declared: NetworkSystem[] = [];
  for (const f of (await readdir(SYSTEMS_DIR)).filter((n) => n.endsWith(".ts") && n !== "index.ts" && n !== "system.ts")) {
    const mod = (await import(join(SYSTEMS_DIR, f))) as Record<string, unknown>;
    const systems = Object.values(mod).filter((v): v is NetworkSystem => typeof v === "object" && v !== null && "inspect" in v && "rewrite" in v && "files" in v);
    assert.equal(systems.length, 1, `${f} exports one system`);
    declared.push(systems[0]!);
  }
  for (const s of declared) assert.equal(NET_SYSTEMS.filter((x) => x === s).length, 1, `${s.name} is in NET_SYSTEMS once`);
  assert.equal(NET_SYSTEMS.length, declared.length, "NET_SYSTEMS lists only the system files");
  assert.deepEqual([...NET_SYSTEMS.map((s) => s.name)].sort(), ["ifcfg", "iftab", "ifupdown", "netplan", "networkd", "networkmanager", "resolver", "udev", "wicked"]);
});

// one file per system, each configuring the source NIC ens3 (52:54:00:00:00:03)
const GUEST: Record<string, string> = {
  "etc/os-release": "ID=debian\nVERSION_ID=12\n",
  "etc/sysconfig/network-scripts/ifcfg-ens3": "DEVICE=ens3\nHWADDR=52:54:00:00:00:03\nBOOTPROTO=dhcp\n",
  "etc/sysconfig/network/ifcfg-ens3": "BOOTPROTO=dhcp\nLLADDR=52:54:00:00:00:03\n",
  "etc/NetworkManager/system-connections/ens3.nmconnection": "[connection]\nid=ens3\ntype=ethernet\ninterface-name=ens3\n[ethernet]\nmac-address=52:54:00:00:00:03\n",
  "etc/network/interfaces": "auto ens3\niface ens3 inet dhcp\n",
  "etc/netplan/50.yaml": "network:\n  ethernets:\n    ens3:\n      dhcp4: true\n",
  "etc/systemd/network/20-ens3.network": "[Match]\nName=ens3\n[Network]\nDHCP=yes\n",
  "etc/iftab": "ens3 mac 52:54:00:00:00:03\n",
  "etc/dhcp/dhclient-ens3.conf": "send host-name \"h\";\n",
  "etc/udev/rules.d/70-persistent-net.rules": 'SUBSYSTEM=="net", ACTION=="add", ATTR{address}=="52:54:00:00:00:03", NAME="ens3"\n',
};

function inputs(): Inputs {
  return {
    system: parseInput("s", SystemConfiguration, Buffer.from(JSON.stringify({ migrationId: "t", source: { firmware: "bios" }, target: { firmware: "bios", scsiController: "pvscsi", nicModel: "vmxnet3" } }))),
    disks: parseInput("d", ReplicaDiskMap, Buffer.from(JSON.stringify({ disks: [{ source: { device: "/dev/vda" }, target: { controller: "scsi0", unit: 0 } }] }))),
    network: parseInput("n", NetworkInterfaceMap, Buffer.from(JSON.stringify({ interfaces: [{ sourceMac: "52:54:00:00:00:03", targetMac: "00:50:56:00:00:01", targetName: "eth0" }] }))),
  };
}

test("the network step reaches every system's inspection and rewrite, each within its own files", async () => {
  const d = await tempDir("osam-netsys-");
  const calls = new Map<string, string[]>();
  const saved = NET_SYSTEMS.map((s) => ({ s, inspect: s.inspect, rewrite: s.rewrite }));
  try {
    for (const [p, t] of Object.entries(GUEST)) {
      await mkdir(dirname(join(d, p)), { recursive: true });
      await writeFile(join(d, p), t);
    }
    const view = new DiskView(new GuestRoot(d));

    const found = await inspectNetwork(view);
    const ens3 = found.find((i) => i.name === "ens3");
    assert.ok(ens3, "ens3 is found");
    assert.deepEqual(ens3.configs.map((c) => c.system).sort(), NET_SYSTEMS.map((s) => s.name).sort(), "each system reports ens3");
    for (const c of ens3.configs) assert.ok(owns(NET_SYSTEMS.find((s) => s.name === c.system)!, c.file), `${c.system} owns ${c.file}`);

    const info = await inspectGuest(view);
    for (const { s, inspect, rewrite } of saved) {
      const note = (what: string) => calls.set(s.name, [...(calls.get(s.name) ?? []), what]);
      s.inspect = (v, add) => (note("inspect"), inspect(v, add));
      s.rewrite = (v, input) => (note("rewrite"), rewrite(v, input));
    }
    const plan = await network.plan({ view, info, inputs: inputs(), devices: [], log: new Logger() });
    for (const s of NET_SYSTEMS) {
      assert.deepEqual(calls.get(s.name), ["inspect", "rewrite"], `the step runs ${s.name}`);
      assert.ok(plan.changes.some((c) => "path" in c && owns(s, c.path)), `the plan changes a file of ${s.name}`);
    }
  } finally {
    for (const { s, inspect, rewrite } of saved) Object.assign(s, { inspect, rewrite });
    await removeTree(d);
  }
});

test("every golden network guest: each configuration file lies within its system's files", async () => {
  const cases = join(REPO, "test/golden/network");
  let refs = 0;
  for (const c of await readdir(cases, { withFileTypes: true })) {
    if (!c.isDirectory()) continue;
    for (const i of await inspectNetwork(new DiskView(new GuestRoot(join(cases, c.name, "root"))))) {
      for (const ref of i.configs) {
        refs++;
        assert.ok(owns(NET_SYSTEMS.find((s) => s.name === ref.system)!, ref.file), `${c.name}: ${ref.system} owns ${ref.file}`);
      }
    }
  }
  assert.ok(refs > 20, `golden guests configure interfaces (${refs} references)`);
});
