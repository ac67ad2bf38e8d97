// Stage 1's part of the first-boot verification: what it expects, written from the three input
// maps and the guest tree (the root's UUID, the controller's driver, each mapped NIC, every
// source address on the NIC it maps to or '-' for a NIC left out of the map, the gateway, the
// name servers, the boot target, the tools policy); its files planned like every change and
// listed in its own manifest, none of them in stage 2's; nothing when the options say so.
import { test } from "node:test";
import assert from "node:assert/strict";
import { lstatSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { runStage1 } from "../../../src/agent/stage1.ts";
import { VERIFY_UNIT_PATH, VERIFY_WANTS } from "../../../src/fixups/verify.ts";
import type { Inputs } from "../../../src/protocol/inputs.ts";
import { VERIFY_SCRIPT, stage2Path, verifyPath } from "../../../src/protocol/files.ts";
import { Logger } from "../../../src/util/log.ts";
import { loadCaseInputs } from "../../helpers/golden.ts";
import { copyTree, removeTree } from "../../helpers/tree.ts";

const GOLDEN = new URL("../../golden/sentinel/", import.meta.url).pathname;
const STEPS = ["stage2-state", "single-user", "selinux", "foreign-tools", "sentinel", "verify"];
const noExec = async () => ({ exitCode: 0, output: "", timedOut: false });
const g = (root: string, p: string) => join(root, p.replace(/^\//, ""));
/** An entry, a link counts (existsSync would follow an absolute link onto the host). */
const present = (root: string, p: string) => lstatSync(g(root, p), { throwIfNoEntry: false }) !== undefined;

async function inputsFor(name: string, options: NonNullable<Inputs["system"]["options"]> = {}): Promise<Inputs> {
  const inputs = await loadCaseInputs(join(GOLDEN, name, "inputs"));
  inputs.system.options = { ...inputs.system.options, ...options };
  inputs.system.source = {
    ...inputs.system.source,
    blockDevices: [{ device: "/dev/mapper/rl-root", uuid: "5B1A8E0E-0000-4B7E-9F4E-2A8B2C1D3E40", fsType: "xfs", mountpoint: "/" }],
    interfaces: [
      { name: "ens3", mac: "52:54:00:00:00:03", kind: "physical", addresses: ["10.0.2.15/24", "fe80::5054:ff:fe00:3/64"], gateway: "10.0.2.2" },
      { name: "ens4", mac: "52:54:00:00:00:04", kind: "physical", addresses: ["10.0.3.15/24"] },
      { name: "br0", mac: "52:54:00:00:00:05", kind: "bridge", addresses: ["192.168.9.1/24"] },
      { name: "docker0", mac: "02:42:ac:11:00:01", kind: "virtual", addresses: ["172.17.0.1/16"] },
    ],
    nameservers: ["10.0.2.3", "127.0.0.53"],
  };
  inputs.network = { interfaces: [{ sourceMac: "52:54:00:00:00:03", sourceName: "ens3", targetMac: "00:50:56:00:00:01", targetName: "eth0" }] };
  return inputs;
}

async function withStage1<T>(name: string, inputs: Inputs, fn: (root: string, notes: string[]) => Promise<T>): Promise<T> {
  const root = await copyTree(join(GOLDEN, name, "root"), "osam-verify-expect-");
  try {
    const r = await runStage1({ root, inputs, mode: "apply", log: new Logger(), only: STEPS, exec: noExec });
    assert.equal(r.result.status, "succeeded", r.result.message);
    return await fn(root, r.result.steps.find((s) => s.name === "verify")?.notes ?? []);
  } finally {
    await removeTree(root);
  }
}

const lines = async (root: string, p: string) => (await readFile(g(root, p), "utf8")).split("\n").filter((l) => l && !l.startsWith("#"));

test("systemd guest: the expectations name the root, driver, NICs, addresses (an unmapped NIC with '-'), gateway, DNS, target and tools policy", async () => {
  await withStage1("rhel8-systemd", await inputsFor("rhel8-systemd", { requireTools: true }), async (root, notes) => {
    assert.deepEqual(await lines(root, verifyPath("expect")), [
      "root-uuid 5b1a8e0e-0000-4b7e-9f4e-2a8b2c1d3e40",
      "root-driver vmw_pvscsi",
      "nic eth0 00:50:56:00:00:01",
      "address ens3 eth0 10.0.2.15/24",
      "address ens4 - 10.0.3.15/24",
      "address br0 br0 192.168.9.1/24",
      "gateway 10.0.2.2",
      "dns 10.0.2.3",
      "target multi-user.target",
      "tools required",
    ]);
    assert.deepEqual(notes, ["docker0 is a virtual interface: its addresses (172.17.0.1/16) are not checked"]);
    const owned = await lines(root, verifyPath("manifest"));
    assert.deepEqual(owned.slice(0, 5), [...VERIFY_WANTS, VERIFY_UNIT_PATH, verifyPath("expect"), VERIFY_SCRIPT], "links first, the script last");
    for (const p of [...VERIFY_WANTS, VERIFY_UNIT_PATH, VERIFY_SCRIPT]) assert.ok(present(root, p), p);
    const stage2 = await lines(root, stage2Path("manifest"));
    for (const p of owned.filter((l) => !l.endsWith("/"))) assert.ok(!stage2.includes(p), `stage 2 would remove ${p}`);
  });
});

test("SysV guest: an init script linked S99 in runlevels 2-5, and the runlevel expected", async () => {
  await withStage1("rhel6-sysv", await inputsFor("rhel6-sysv"), async (root) => {
    const expect = await lines(root, verifyPath("expect"));
    assert.ok(expect.includes("runlevel 3"), expect.join("\n"));
    assert.ok(expect.includes("tools optional"));
    const owned = await lines(root, verifyPath("manifest"));
    assert.deepEqual(owned.filter((l) => l.includes("S99")), [2, 3, 4, 5].map((n) => `/etc/rc${n}.d/S99osam-verify`));
    assert.ok(owned.includes("/etc/init.d/osam-verify"));
  });
});

test("options.verifyFirstBoot false, or installStage2 false: no verification is installed", async () => {
  for (const options of [{ verifyFirstBoot: false }, { installStage2: false }]) {
    await withStage1("rhel8-systemd", await inputsFor("rhel8-systemd", options), async (root) => {
      for (const p of [VERIFY_SCRIPT, verifyPath("expect"), verifyPath("manifest"), VERIFY_UNIT_PATH]) assert.equal(present(root, p), false, `${JSON.stringify(options)}: ${p}`);
    });
  }
});

test("an address the source had from a lease (DHCP, SLAAC) is expected as a lease of its family, a static one as itself", async () => {
  const inputs = await inputsFor("rhel8-systemd");
  inputs.system.source.interfaces = [
    { name: "ens3", mac: "52:54:00:00:00:03", kind: "physical", addresses: ["10.0.2.15/24", "2001:DB8::5054:FF:FE00:3/64", "192.168.50.2/24"], dynamic: ["10.0.2.15/24", "2001:db8::5054:ff:fe00:3/64"], gateway: "10.0.2.2" },
    { name: "ens4", mac: "52:54:00:00:00:04", kind: "physical", addresses: ["10.0.3.15/24"], dynamic: ["10.0.3.15/24"] },
  ];
  await withStage1("rhel8-systemd", inputs, async (root) => {
    const got = (await lines(root, verifyPath("expect"))).filter((l) => /^(address|lease) /.test(l));
    assert.deepEqual(got, ["lease ens3 eth0 10.0.2.15/24", "lease ens3 eth0 2001:db8::5054:ff:fe00:3/64", "address ens3 eth0 192.168.50.2/24", "lease ens4 - 10.0.3.15/24"]);
  });
});
