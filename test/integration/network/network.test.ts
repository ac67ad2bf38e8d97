// The network step applied to real Debian guests, its output checked with each system's own
// tool inside the guest: ifquery (ifupdown) parses the rewritten interfaces file, netplan
// generate turns the rewritten YAML into networkd files for the new names, udevadm verify
// (systemd >= 253, Debian 13) accepts the pin rules. Needs root and the test images.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, existsSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { execa } from "execa";
import { ensureRootfs, imageMeta, withOverlay, type Variant } from "../../helpers/images.ts";
import { runStage1 } from "../../../src/agent/stage1.ts";
import { parseInput, type Inputs } from "../../../src/protocol/inputs.ts";
import { NetworkInterfaceMap, ReplicaDiskMap, SystemConfiguration } from "../../../src/protocol/schemas.ts";
import { Logger } from "../../../src/util/log.ts";
import { bindChrootDirs } from "../../../src/guest/binds.ts";
import { slowOnly } from "../../helpers/slow.ts";

const TIMEOUT = 40 * 60_000;

function inputsFor(nics: { name: string; mac: string }[], swap = false): Inputs {
  const map = nics.map((n, i) => ({ sourceMac: n.mac, sourceName: n.name, targetMac: `00:50:56:8a:ee:${(i + 1).toString(16).padStart(2, "0")}`, targetName: `eth${swap ? nics.length - 1 - i : i}` }));
  return {
    system: parseInput("system-configuration.json", SystemConfiguration, Buffer.from(JSON.stringify({ migrationId: "it-network", source: { firmware: "bios", interfaces: nics.map((n) => ({ name: n.name, mac: n.mac })) }, target: { firmware: "bios", scsiController: "pvscsi", nicModel: "vmxnet3" } }))),
    disks: parseInput("replica-disk-map.json", ReplicaDiskMap, Buffer.from(JSON.stringify({ disks: [{ source: { device: "/dev/vda" }, target: { controller: "scsi0", unit: 0 }, boot: true }] }))),
    network: parseInput("network-interface-map.json", NetworkInterfaceMap, Buffer.from(JSON.stringify({ interfaces: map }))),
  };
}

/** chroot with no binds unless the caller bound them: these tools only read and write files in the tree. */
async function inGuest(root: string, argv: string[], timeout = 120_000): Promise<{ code: number; out: string }> {
  const r = await execa("chroot", [root, ...argv], { reject: false, all: true, stdin: "ignore", timeout, extendEnv: false, env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", LANG: "C" } });
  return { code: r.exitCode ?? 128, out: String(r.all ?? "") };
}

async function applyNetwork(root: string, inputs: Inputs): Promise<string[]> {
  const log = new Logger();
  const { result } = await runStage1({ root, inputs, mode: "apply", log, only: ["network"] });
  assert.equal(result.status, "succeeded", `network step failed: ${result.message}\n${log.lines.join("\n")}`);
  return result.warnings;
}

async function checkIfupdown(variant: Variant): Promise<void> {
  const meta = await imageMeta(variant);
  const rootfs = await ensureRootfs(variant);
  await withOverlay(rootfs, async (root) => {
    const before = await inGuest(root, ["ifquery", meta.nics[0]!.name]);
    assert.equal(before.code, 0, `ifquery ${meta.nics[0]!.name} on the pristine image: ${before.out}`);
    await applyNetwork(root, inputsFor(meta.nics));
    const text = readFileSync(join(root, "etc/network/interfaces"), "utf8");
    assert.ok(!new RegExp(`\\b${meta.nics[0]!.name}\\b`).test(text.split("\n").filter((l) => !l.trim().startsWith("#")).join("\n")), `the old name is still in:\n${text}`);
    const q = await inGuest(root, ["ifquery", "eth0"]);
    assert.equal(q.code, 0, `ifquery eth0 failed: ${q.out}`);
    assert.match(q.out, new RegExp(`address: ${(meta.nics[0]!.ipv4 ?? "").split("/")[0]!.replace(/\./g, "\\.")}\\b`), `ifquery eth0 does not carry the source address:\n${q.out}`);
    if (meta.nics[0]!.gateway) assert.match(q.out, new RegExp(`gateway: ${meta.nics[0]!.gateway.replace(/\./g, "\\.")}`));
    const old = await inGuest(root, ["ifquery", meta.nics[0]!.name]);
    assert.notEqual(old.code, 0, `ifquery still knows ${meta.nics[0]!.name}: ${old.out}`);
    const list = await inGuest(root, ["ifquery", "--list", "--allow=hotplug"]);
    const auto = await inGuest(root, ["ifquery", "--list", "-a"]);
    assert.ok(/\beth0\b/.test(`${list.out}\n${auto.out}`), `eth0 is neither auto nor allow-hotplug:\n${list.out}\n${auto.out}`);
    const rules = readFileSync(join(root, "etc/udev/rules.d/70-persistent-net.rules"), "utf8");
    assert.match(rules, /ATTR\{address\}=="00:50:56:8a:ee:01".*NAME="eth0"/);
    assert.match(readFileSync(join(root, "etc/default/grub"), "utf8"), /net\.ifnames=0 biosdevname=0/);
  });
}

test("deb12-itools: ifquery parses the rewritten interfaces for eth0 with the source address", { timeout: TIMEOUT }, async () => {
  await checkIfupdown("deb12-itools");
});

test("deb11-itools: ifquery parses the rewritten interfaces", { timeout: TIMEOUT }, async () => {
  await checkIfupdown("deb11-itools");
});

test("deb13-itools: ifquery parses the rewritten interfaces; udevadm verify accepts the pin rules", { timeout: TIMEOUT }, async () => {
  await checkIfupdown("deb13-itools");
  const rootfs = await ensureRootfs("deb13-itools");
  const meta = await imageMeta("deb13-itools");
  await withOverlay(rootfs, async (root) => {
    await applyNetwork(root, inputsFor(meta.nics));
    const v = await inGuest(root, ["udevadm", "verify", "--resolve-names=never", "/etc/udev/rules.d/70-persistent-net.rules"]);
    assert.equal(v.code, 0, `udevadm verify rejected the rules:\n${v.out}`);
    // the whole rules set the guest will load, ours included
    const all = await inGuest(root, ["udevadm", "verify", "--resolve-names=never"]);
    assert.equal(all.code, 0, `udevadm verify (all rules):\n${all.out}`);
  });
});

for (const swap of [false, true]) {
  test(`deb12-netplan: netplan generate accepts the rewritten YAML and renders networkd files for the new names${swap ? " (names swap)" : ""}`, { timeout: TIMEOUT }, async () => {
    const meta = await imageMeta("deb12-netplan");
    const rootfs = await ensureRootfs("deb12-netplan");
    await withOverlay(rootfs, async (root) => {
      const inputs = inputsFor(meta.nics, swap);
      await applyNetwork(root, inputs);
      const g = await inGuest(root, ["netplan", "generate"]);
      assert.equal(g.code, 0, `netplan generate failed:\n${g.out}`);
      const dir = join(root, "run/systemd/network");
      assert.ok(existsSync(dir), `netplan generate wrote nothing under /run/systemd/network:\n${g.out}`);
      const files = readdirSync(dir);
      const all = files.map((f) => `# ${f}\n${readFileSync(join(dir, f), "utf8")}`).join("\n");
      for (const m of inputs.network.interfaces) {
        const src = meta.nics.find((n) => n.mac === m.sourceMac)!;
        const net = files.filter((f) => f.endsWith(".network")).map((f) => readFileSync(join(dir, f), "utf8")).find((t) => t.includes(`Address=${src.ipv4}`));
        assert.ok(net, `no .network file carries ${src.ipv4} (was ${src.name}):\n${all}`);
        assert.ok(net.includes(`Name=${m.targetName}`) || net.toLowerCase().includes(`macaddress=${m.targetMac}`), `${src.ipv4} is not bound to ${m.targetName}/${m.targetMac}:\n${net}`);
        assert.ok(!new RegExp(`\\b${src.name}\\b`).test(net), `${src.name} is still named in:\n${net}`);
      }
    });
  });
}

/** Builds an initramfs in the guest (chroot with /dev, /proc, /sys bound) and lists it. */
async function initramfsListing(root: string, build: string[], list: string[]): Promise<string> {
  const release = await bindChrootDirs(root);
  try {
    const b = await inGuest(root, build, 15 * 60_000);
    assert.equal(b.code, 0, `${build.join(" ")} failed:\n${b.out.slice(-3000)}`);
    const l = await inGuest(root, list);
    assert.equal(l.code, 0, `${list.join(" ")} failed:\n${l.out.slice(-2000)}`);
    return l.out;
  } finally {
    await release();
  }
}

test("deb12-itools: the initramfs update-initramfs builds carries the NIC pins", { timeout: TIMEOUT, ...slowOnly("the e2e boots show the names are pinned from the initramfs on") }, async () => {
  const meta = await imageMeta("deb12-itools");
  await withOverlay(await ensureRootfs("deb12-itools"), async (root) => {
    await applyNetwork(root, inputsFor(meta.nics));
    // MODULES=dep looks at the host's root device, which a chroot does not have (test-only)
    writeFileSync(join(root, "etc/initramfs-tools/conf.d/zz-osam-test"), "MODULES=most\n");
    const out = await initramfsListing(root, ["mkinitramfs", "-o", "/tmp/osam-net.img", meta.kernel], ["lsinitramfs", "/tmp/osam-net.img"]);
    assert.match(out, /rules\.d\/70-persistent-net\.rules/, "70-persistent-net.rules is not in the initramfs");
  });
});

test("deb12-dracut-lvm: a dracut initramfs built without host-only carries the NIC pins", { timeout: TIMEOUT, ...slowOnly("the e2e boot of deb12-dracut-lvm shows the names are pinned from the initramfs on") }, async () => {
  const meta = await imageMeta("deb12-dracut-lvm");
  await withOverlay(await ensureRootfs("deb12-dracut-lvm"), async (root) => {
    await applyNetwork(root, inputsFor(meta.nics.length ? meta.nics : [{ name: "ens3", mac: "52:54:00:12:34:56" }]));
    const out = await initramfsListing(root, ["dracut", "--no-hostonly", "--force", "/tmp/osam-net.img", meta.kernel], ["lsinitrd", "/tmp/osam-net.img"]);
    assert.match(out, /etc\/udev\/rules\.d\/70-persistent-net\.rules/, "70-persistent-net.rules is not in the initramfs");
  });
});
