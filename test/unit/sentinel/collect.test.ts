// osam-fixup collect on this machine: the script's output validates against the source
// schema under dash and busybox sh, the CLI prints it, and invalid output is refused.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execa } from "execa";
import { mkdir, symlink, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { CollectError, parseCollectOutput, runCollect } from "../../../src/cli/commands/collect.ts";
import { COLLECT_SH } from "../../../src/sentinel/embedded.ts";
import { removeTree, tempDir } from "../../helpers/tree.ts";
import { CLI_SCRIPT } from "../../helpers/cli.ts";

for (const shell of [["/bin/sh"], ["/usr/bin/dash"], ["/bin/busybox", "sh"]]) {
  test(`collect under ${shell.join(" ")} prints a valid source inventory`, async () => {
    const { source } = await runCollect({ shell });
    assert.ok(["bios", "uefi"].includes(source.firmware));
    assert.ok(source.os?.id, "os-release read");
    for (const i of source.interfaces ?? []) assert.notEqual(i.name, "lo");
  });
}

test("the CLI prints the inventory; --print-script prints the embedded script", async () => {
  const cli = CLI_SCRIPT;
  const r = await execa(process.execPath, [cli, "collect"], { reject: false });
  assert.equal(r.exitCode, 0, r.stderr);
  assert.deepEqual(parseCollectOutput(r.stdout), JSON.parse(r.stdout));
  const p = await execa(process.execPath, [cli, "collect", "--print-script"]);
  assert.equal(p.stdout + "\n", COLLECT_SH);
  const bad = await execa(process.execPath, [cli, "collect", "--shell", "sh"], { reject: false });
  assert.equal(bad.exitCode, 2);
});

test("output that is not JSON or breaks the schema is refused, naming the field", () => {
  assert.throws(() => parseCollectOutput("not json"), CollectError);
  assert.throws(() => parseCollectOutput(JSON.stringify({ firmware: "bios", interfaces: [{ name: "eth0", mac: "zz" }] })), /interfaces\[0\]\.mac/);
  assert.throws(() => parseCollectOutput(JSON.stringify({ firmware: "bios", extra: 1 })), CollectError);
  assert.deepEqual(parseCollectOutput(JSON.stringify({ firmware: "uefi", interfaces: [{ name: "eth0", mac: "00:50:56:AA:BB:CC", addresses: ["10.0.0.5/24"] }] })).interfaces?.[0]?.mac, "00:50:56:aa:bb:cc");
});

test("each interface's kind, and each physical NIC's own MAC (a bond member's from the bonding driver)", async () => {
  const d = await tempDir("osam-collect-net-");
  const put = async (p: string, t: string) => {
    await mkdir(dirname(join(d, p)), { recursive: true });
    await writeFile(join(d, p), t);
  };
  const net = "sys/class/net";
  try {
    // a bridge over tens5, an active-backup bond of tens3 and tens4 (both carry the bond's MAC), a VLAN on the bond, a dummy
    await put(`${net}/tbr0/address`, "52:54:00:00:00:05\n");
    await mkdir(join(d, net, "tbr0/bridge"), { recursive: true });
    await put(`${net}/tbond0/address`, "52:54:00:00:00:03\n");
    await mkdir(join(d, net, "tbond0/bonding"), { recursive: true });
    await put(`${net}/tbond0.7/address`, "52:54:00:00:00:03\n");
    await put("proc/net/vlan/tbond0.7", "tbond0.7  VID: 7\n");
    await put(`${net}/tteam0/address`, "52:54:00:00:00:09\n");
    await put(`${net}/tteam0/uevent`, "DEVTYPE=team\nINTERFACE=tteam0\n");
    await put(`${net}/tdummy0/address`, "ae:00:00:00:00:01\n");
    for (const [n, mac, assign] of [["tens3", "52:54:00:00:00:03", "0"], ["tens4", "52:54:00:00:00:03", "3"], ["tens5", "52:54:00:00:00:05", "0"]] as const) {
      await put(`${net}/${n}/address`, `${mac}\n`);
      await put(`${net}/${n}/addr_assign_type`, `${assign}\n`);
      await mkdir(join(d, net, n, "device"), { recursive: true });
    }
    await symlink("../tbond0", join(d, net, "tens3/master"));
    await symlink("../tbond0", join(d, net, "tens4/master"));
    await put("proc/net/bonding/tbond0", "Bonding Mode: fault-tolerance (active-backup)\n\nSlave Interface: tens3\nPermanent HW addr: 52:54:00:00:00:03\n\nSlave Interface: tens4\nPermanent HW addr: 52:54:00:00:00:04\n");
    const r = await execa("/bin/sh", ["-s"], { input: COLLECT_SH, env: { LC_ALL: "C", OSAM_COLLECT_NET_ROOT: d } });
    const got = Object.fromEntries((parseCollectOutput(r.stdout).interfaces ?? []).map((i) => [i.name, [i.kind, i.mac, i.permanentMac]]));
    assert.deepEqual(got, {
      tbond0: ["bond", "52:54:00:00:00:03", undefined],
      "tbond0.7": ["vlan", "52:54:00:00:00:03", undefined],
      tbr0: ["bridge", "52:54:00:00:00:05", undefined],
      tdummy0: ["virtual", "ae:00:00:00:00:01", undefined],
      tens3: ["physical", "52:54:00:00:00:03", "52:54:00:00:00:03"],
      tens4: ["physical", "52:54:00:00:00:03", "52:54:00:00:00:04"],
      tens5: ["physical", "52:54:00:00:00:05", "52:54:00:00:00:05"],
      tteam0: ["team", "52:54:00:00:00:09", undefined],
    });
  } finally {
    await removeTree(d);
  }
});

/** A tree for OSAM_COLLECT_NET_ROOT with two physical NICs, tens3 and tens4, and a writer for more files. */
async function twoNicTree(prefix: string) {
  const d = await tempDir(prefix);
  const put = async (p: string, t: string, mode = 0o644) => {
    await mkdir(dirname(join(d, p)), { recursive: true });
    await writeFile(join(d, p), t, { mode });
  };
  for (const [n, mac] of [["tens3", "52:54:00:00:00:03"], ["tens4", "52:54:00:00:00:04"]] as const) {
    await put(`sys/class/net/${n}/address`, `${mac}\n`);
    await mkdir(join(d, "sys/class/net", n, "device"), { recursive: true });
  }
  return { d, put };
}

test("each interface's gateway when the default route leaves through it, and the name servers (resolved's upstream ones behind its stub)", async () => {
  const { d, put } = await twoNicTree("osam-collect-gw-");
  try {
    // a stub ip: the default route via tens4 (IPv4) and via tens3 (IPv6 only)
    await put("bin/ip", `#!/bin/sh\ncase "$*" in\n"-4 route show") echo "default via 10.9.0.1 dev tens4 proto static"; echo "10.9.0.0/24 dev tens4" ;;\n"-6 route show") echo "default via fe80::1 dev tens3 metric 1024" ;;\nesac\n`, 0o755);
    await put("etc/resolv.conf", "# stub\nnameserver 127.0.0.53\noptions edns0\n");
    await put("run/systemd/resolve/resolv.conf", "nameserver 10.9.0.53\nnameserver fd00::53\n");
    const env = { LC_ALL: "C", OSAM_COLLECT_NET_ROOT: d, OSAM_COLLECT_PATH: join(d, "bin"), PATH: process.env.PATH ?? "/usr/bin:/bin" };
    const viaStub = await execa("/usr/bin/dash", ["-s"], { input: COLLECT_SH, env, extendEnv: false });
    const src = parseCollectOutput(viaStub.stdout);
    assert.deepEqual(Object.fromEntries((src.interfaces ?? []).map((i) => [i.name, i.gateway])), { tens3: "fe80::1", tens4: "10.9.0.1" });
    assert.deepEqual(src.nameservers, ["10.9.0.53", "fd00::53"]);
    await put("etc/resolv.conf", "nameserver 192.168.1.1\n");
    const plain = parseCollectOutput((await execa("/bin/busybox", ["sh", "-s"], { input: COLLECT_SH, env, extendEnv: false })).stdout);
    assert.deepEqual(plain.nameservers, ["192.168.1.1"], "a resolv.conf of its own is taken as it is");
  } finally {
    await removeTree(d);
  }
});

for (const shell of [["/usr/bin/dash"], ["/bin/busybox", "sh"]]) {
  test(`${shell.join(" ")}: a blkid that never answers (a dead device) does not hang the inventory, which lists the same devices`, async () => {
    const d = await tempDir("osam-collect-hung-");
    try {
      await mkdir(join(d, "bin"));
      // exec: the stub becomes the sleeping process, as a blkid stuck on a device read is one
      await writeFile(join(d, "bin/blkid"), "#!/bin/sh\nexec sleep 600\n", { mode: 0o755 });
      const env = { LC_ALL: "C", OSAM_COLLECT_PATH: join(d, "bin"), OSAM_COLLECT_CMD_SECONDS: "1", PATH: process.env.PATH ?? "/usr/bin:/bin" };
      // the guard against a hang is execa's timeout, far above the bound of 1 s per device
      const r = await execa(shell[0]!, [...shell.slice(1), "-s"], { input: COLLECT_SH, env, timeout: 240_000, reject: false });
      assert.equal(r.timedOut, false, "the inventory hung on blkid");
      assert.equal(r.exitCode, 0, r.stderr);
      // the same devices as with the real blkid, with what lsblk knows of them
      const devices = (out: string) => (parseCollectOutput(out).blockDevices ?? []).map((b) => `${b.device} ${b.mountpoint ?? ""}`);
      const real = await execa(shell[0]!, [...shell.slice(1), "-s"], { input: COLLECT_SH, env: { ...env, OSAM_COLLECT_PATH: "" }, timeout: 240_000 });
      assert.ok(devices(real.stdout).length > 0);
      assert.deepEqual(devices(r.stdout), devices(real.stdout));
    } finally {
      await removeTree(d);
    }
  });
}

// A DHCP or SLAAC address changes with the NIC (a new lease, an EUI-64 from the new MAC): the
// inventory says which ones were leased, so that the first-boot verification wants a lease on
// the target instead of the source's address.
// (not under busybox sh: it runs its own ip applet before a stub on PATH)
test("the addresses a lease gave are listed as dynamic, under dash and bash; static ones are not", async () => {
  const { d, put } = await twoNicTree("osam-collect-dyn-");
  try {
    const addr = [
      '"-o addr show dev tens3")',
      'echo "2: tens3    inet 10.0.2.15/24 metric 100 brd 10.0.2.255 scope global dynamic tens3\\       valid_lft 86313sec preferred_lft 86313sec"',
      'echo "2: tens3    inet6 fec0::5054:ff:fe00:3/64 scope site dynamic mngtmpaddr noprefixroute \\       valid_lft 86313sec preferred_lft 14313sec"',
      'echo "2: tens3    inet6 fe80::5054:ff:fe00:3/64 scope link \\       valid_lft forever preferred_lft forever" ;;',
      '"-o addr show dev tens4")',
      'echo "3: tens4    inet 192.168.7.5/24 brd 192.168.7.255 scope global tens4\\       valid_lft forever preferred_lft forever" ;;',
    ].join("\n");
    await put("bin/ip", `#!/bin/sh\ncase "$*" in\n${addr}\nesac\n`, 0o755);
    const env = { LC_ALL: "C", OSAM_COLLECT_NET_ROOT: d, OSAM_COLLECT_PATH: join(d, "bin"), PATH: `${join(d, "bin")}:${process.env.PATH ?? "/usr/bin:/bin"}` };
    for (const shell of [["/usr/bin/dash", "-s"], ["/bin/bash", "-s"]]) {
      const src = parseCollectOutput((await execa(shell[0]!, shell.slice(1), { input: COLLECT_SH, env, extendEnv: false })).stdout);
      const got = Object.fromEntries((src.interfaces ?? []).map((i) => [i.name, { addresses: i.addresses, dynamic: i.dynamic }]));
      assert.deepEqual(got, {
        tens3: { addresses: ["10.0.2.15/24", "fec0::5054:ff:fe00:3/64", "fe80::5054:ff:fe00:3/64"], dynamic: ["10.0.2.15/24", "fec0::5054:ff:fe00:3/64"] },
        tens4: { addresses: ["192.168.7.5/24"], dynamic: undefined },
      }, shell.join(" "));
    }
  } finally {
    await removeTree(d);
  }
});
