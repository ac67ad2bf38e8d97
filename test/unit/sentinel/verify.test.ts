// The first-boot verification (src/sentinel/verify.sh, as stage 1 renders it) under dash and
// busybox sh, against a fake booted guest (test/helpers/verify-guest.ts: a sysfs/procfs tree
// and stub ip, systemctl, findmnt, systemd-detect-virt, runlevel): a healthy guest is verified;
// a NIC missing from the map, a missing address, the wrong root driver, a failed unit, a
// default route or target that differs each end "not verified" naming what differs;
// open-vm-tools failing under QEMU/KVM is accepted with its evidence; it removes what its
// manifest lists and keeps its result and log; it always exits 0; and the console block it
// prints is the file, as the manager's parser reads it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execa } from "execa";
import { existsSync, readFileSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { verifyScript } from "../../../src/sentinel/render.ts";
import { Verification, type VerifyCheck } from "../../../src/protocol/schemas.ts";
import { STAGE2_FILES, VERIFY_FILES } from "../../../src/protocol/files.ts";
import { parseVerifyBlocks } from "../../../src/manager/verify.ts";
import { removeTree, tempDir } from "../../helpers/tree.ts";
import { HEALTHY_EXPECT, fakeGuestEnv, healthyGuest, writeFakeGuest, type FakeGuest } from "../../helpers/verify-guest.ts";

const SHELLS = [["dash"], ["busybox", "sh"]];

interface Run {
  exitCode: number | undefined;
  output: string;
  result?: Verification;
  console: string;
  dir: string;
  data: string;
  owned: string[];
}

/** Installs the rendered script and its owned files in a temp dir, runs it against `g`. */
async function runVerify(shell: string[], g: FakeGuest, expect: string[], opts: { stage2Result?: string; stage2Running?: boolean; env?: Record<string, string> } = {}): Promise<Run> {
  const dir = await tempDir("osam-verify-");
  const guest = await writeFakeGuest(dir, g);
  const data = join(dir, "data");
  await mkdir(data, { recursive: true });
  const script = join(dir, "opt/osam-verify");
  const unit = join(dir, "etc/osam-verify.service");
  const wants = join(dir, "etc/multi-user.target.wants/osam-verify.service");
  await mkdir(join(dir, "opt"), { recursive: true });
  await mkdir(join(dir, "etc/multi-user.target.wants"), { recursive: true });
  await writeFile(script, verifyScript(), { mode: 0o755 });
  await writeFile(unit, "[Unit]\n");
  await writeFile(wants, "[Unit]\n");
  await writeFile(join(data, VERIFY_FILES.expect), `# test\n${expect.join("\n")}\n`);
  const owned = [wants, unit, join(data, VERIFY_FILES.expect), script];
  await writeFile(join(data, VERIFY_FILES.manifest), `# owned\n${owned.join("\n")}\n${join(dir, "etc/multi-user.target.wants")}/\n`);
  if (opts.stage2Result !== undefined) await writeFile(join(data, STAGE2_FILES.result), opts.stage2Result);
  if (opts.stage2Running) await writeFile(join(data, STAGE2_FILES.manifest), "/nothing\n");
  const consoleFile = join(dir, "console");
  const r = await execa(shell[0]!, [...shell.slice(1), script], {
    reject: false,
    all: true,
    extendEnv: false,
    timeout: 60_000,
    env: fakeGuestEnv(guest, { OSAM_VERIFY_DATA: data, OSAM_CONSOLE: consoleFile, OSAM_LOG: join(dir, "verify.log"), ...opts.env }),
  });
  const resultFile = join(data, VERIFY_FILES.result);
  return {
    exitCode: r.exitCode,
    output: String(r.all),
    ...(existsSync(resultFile) ? { result: Verification.parse(JSON.parse(readFileSync(resultFile, "utf8"))) } : {}),
    console: existsSync(consoleFile) ? readFileSync(consoleFile, "utf8") : "",
    dir,
    data,
    owned: [...owned, join(data, VERIFY_FILES.manifest)],
  };
}

function byCode(v: Verification, code: VerifyCheck["code"]): VerifyCheck[] {
  return v.checks.filter((c) => c.code === code);
}

const failedCodes = (v: Verification) => v.checks.filter((c) => c.status === "failed").map((c) => `${c.check}:${c.code}:${c.subject}`);

for (const shell of SHELLS) {
  const sh = shell.join(" ");

  test(`${sh}: a healthy guest is verified; it removes what it owns, keeps its result and log, and prints the result between the markers`, async () => {
    const r = await runVerify(shell, healthyGuest(), HEALTHY_EXPECT);
    try {
      assert.equal(r.exitCode, 0, r.output);
      assert.ok(r.result, r.output);
      assert.deepEqual(failedCodes(r.result), [], r.output);
      assert.equal(r.result.verified, true);
      assert.equal(r.result.summary, "verified");
      assert.equal(r.result.hypervisor, "vmware");
      const checks = r.result.checks.map((c) => `${c.check} ${c.subject} ${c.status}`);
      assert.deepEqual(checks, [
        "root / ok",
        "root-driver dm-0 ok",
        "nic eth0 ok",
        "nic eth1 ok",
        "address eth0 10.0.2.15/24 ok",
        "address eth0 fd00::15/64 ok",
        "address eth1 192.168.7.5/24 ok",
        "default-route 10.0.2.2 ok",
        "dns resolv.conf ok",
        "target default.target ok",
        "failed-units systemd ok",
        "tools vmtoolsd ok",
      ]);
      assert.equal(r.result.checks[1]!.actual, "vmw_pvscsi", "found through dm-0's slave sda2 and its disk sda");
      for (const p of r.owned) assert.equal(existsSync(p), false, `${p} is still there`);
      assert.equal(existsSync(join(r.dir, "etc/multi-user.target.wants")), false, "an empty listed directory goes too");
      assert.ok(existsSync(join(r.data, VERIFY_FILES.result)), "the result stays");
      assert.match(await readFile(join(r.dir, "verify.log"), "utf8"), /the verification removed itself/);
      const blocks = parseVerifyBlocks(r.console);
      assert.equal(blocks.length, 1, r.console);
      assert.deepEqual(blocks[0]!.verification, r.result);
      assert.equal(blocks[0]!.raw + "\n", readFileSync(join(r.data, VERIFY_FILES.result), "utf8"), "the console carries the file as it is");
    } finally {
      await removeTree(r.dir);
    }
  });

  test(`${sh}: a source NIC missing from the map ends not verified, naming the NIC and its address`, async () => {
    const r = await runVerify(shell, healthyGuest(), [...HEALTHY_EXPECT, "address ens5 - 10.0.3.15/24", "address ens5 - 10.0.3.16/24"]);
    try {
      assert.equal(r.exitCode, 0);
      assert.ok(r.result, r.output);
      assert.equal(r.result.verified, false);
      assert.deepEqual(failedCodes(r.result), ["address:NIC_NOT_MIGRATED:ens5"]);
      assert.equal(byCode(r.result, "NIC_NOT_MIGRATED")[0]!.expected, "10.0.3.15/24, 10.0.3.16/24");
      assert.equal(r.result.summary, "not verified: ens5 (10.0.3.15/24, 10.0.3.16/24 on the source) has no NIC on the target");
    } finally {
      await removeTree(r.dir);
    }
  });

  test(`${sh}: an address the source had from a lease wants one of its family on the target NIC, any; link-local is none`, async () => {
    const g = healthyGuest();
    g.addresses.eth1 = ["192.168.7.5/24", "fe80::250:56ff:fe00:2/64"];
    const leases = ["lease ens3 eth0 10.0.2.200/24", "lease ens3 eth0 2001:db8::5054:ff:fe00:3/64", "lease ens4 eth1 2001:db8::5054:ff:fe00:4/64", "lease ens5 - 10.0.9.9/24"];
    const r = await runVerify(shell, g, [...HEALTHY_EXPECT, ...leases]);
    try {
      assert.equal(r.exitCode, 0);
      assert.ok(r.result, r.output);
      const leaseChecks = r.result.checks.filter((c) => / lease$/.test(c.subject)).map((c) => `${c.subject} ${c.status} ${c.actual}`);
      assert.deepEqual(leaseChecks, ["eth0 IPv4 lease ok 10.0.2.15/24", "eth0 IPv6 lease ok fd00::15/64", "eth1 IPv6 lease failed 192.168.7.5/24, fe80::250:56ff:fe00:2/64"]);
      assert.deepEqual(failedCodes(r.result), ["address:ADDRESS_MISSING:eth1 IPv6 lease", "address:NIC_NOT_MIGRATED:ens5"]);
      assert.match(r.result.summary, /eth1 has no IPv6 lease; ens5 \(10\.0\.9\.9\/24 on the source\) has no NIC on the target$/);
    } finally {
      await removeTree(r.dir);
    }
  });

  test(`${sh}: a missing address, a NIC with another MAC, a missing NIC, no default route: each named`, async () => {
    const g = healthyGuest();
    g.addresses.eth0 = ["10.0.2.99/24"];
    g.nics.eth1 = "00:50:56:00:00:09";
    g.nics.ens192 = "00:50:56:00:00:03";
    g.routes = ["default via 10.0.2.1 dev eth0"];
    const r = await runVerify(shell, g, [...HEALTHY_EXPECT, "nic eth2 00:50:56:00:00:03"]);
    try {
      assert.equal(r.exitCode, 0);
      assert.ok(r.result, r.output);
      assert.deepEqual(failedCodes(r.result), ["nic:NIC_MAC:eth1", "nic:NIC_MISSING:eth2", "address:ADDRESS_MISSING:eth0 10.0.2.15/24", "address:ADDRESS_MISSING:eth0 fd00::15/64", "default-route:ROUTE_MISSING:10.0.2.2"]);
      assert.equal(byCode(r.result, "NIC_MISSING")[0]!.actual, "00:50:56:00:00:03 is ens192");
      assert.equal(byCode(r.result, "ADDRESS_MISSING")[0]!.actual, "10.0.2.99/24");
      assert.match(r.result.summary, /^not verified: eth1 has MAC 00:50:56:00:00:09, not 00:50:56:00:00:02; eth2 \(00:50:56:00:00:03\) is missing \(its MAC is on ens192\); eth0 lacks 10\.0\.2\.15\/24; eth0 lacks fd00::15\/64; no default route via 10\.0\.2\.2$/);
    } finally {
      await removeTree(r.dir);
    }
  });

  test(`${sh}: ports of an active-backup bond carry the bond's MAC: each NIC is known by its own (perm_hwaddr, ip's permaddr)`, async () => {
    // as the deb12-bond e2e guest has it: networkd gave bond0 a MAC of its own, the bonding
    // driver put it on both ports; and a team's port, whose own MAC only `ip link` prints
    const g = healthyGuest();
    g.nics = { eth0: "9a:0c:33:5e:10:01", eth1: "9a:0c:33:5e:10:01", bond0: "9a:0c:33:5e:10:01", eth2: "00:50:56:00:00:01", team0: "00:50:56:00:00:01", lo: "00:00:00:00:00:00" };
    g.bondPorts = { eth0: "00:50:56:00:00:01", eth1: "00:50:56:00:00:02" };
    g.permAddrs = { eth2: "00:50:56:00:00:03" };
    g.addresses = { bond0: ["10.0.2.15/24"], team0: ["192.168.7.5/24"] };
    g.routes = ["default via 10.0.2.2 dev bond0 proto static"];
    const expect = HEALTHY_EXPECT.filter((l) => !l.startsWith("address ")).concat(["nic eth2 00:50:56:00:00:03", "address bond0 bond0 10.0.2.15/24", "address team0 team0 192.168.7.5/24"]);
    const r = await runVerify(shell, g, expect);
    try {
      assert.ok(r.result, r.output);
      assert.deepEqual(failedCodes(r.result), []);
      assert.deepEqual(r.result.checks.filter((c) => c.check === "nic").map((c) => [c.subject, c.status, c.actual]), [["eth0", "ok", "00:50:56:00:00:01"], ["eth1", "ok", "00:50:56:00:00:02"], ["eth2", "ok", "00:50:56:00:00:03"]]);
      assert.equal(r.result.verified, true);
    } finally {
      await removeTree(r.dir);
    }
  });

  test(`${sh}: the wrong driver under root, another root file system, another target and DNS are failures`, async () => {
    const g = healthyGuest();
    g.driver = "virtio-pci";
    g.rootUuid = "11111111-2222-3333-4444-555555555555";
    g.systemd!.defaultTarget = "rescue.target";
    g.resolvConf = "nameserver 127.0.0.53\n";
    g.resolvedConf = "nameserver 192.168.1.1\n";
    const r = await runVerify(shell, g, HEALTHY_EXPECT);
    try {
      assert.ok(r.result, r.output);
      assert.deepEqual(failedCodes(r.result), ["root:ROOT_UNEXPECTED:/", "root-driver:ROOT_DRIVER:dm-0", "dns:DNS_CHANGED:resolv.conf", "target:TARGET_NOT_RESTORED:default.target"]);
      assert.equal(byCode(r.result, "ROOT_DRIVER")[0]!.actual, "virtio-pci");
      assert.equal(byCode(r.result, "DNS_CHANGED")[0]!.actual, "192.168.1.1", "the stub's upstream servers are compared");
      assert.match(r.result.summary, /the root disk is driven by virtio-pci, not vmw_pvscsi/);
    } finally {
      await removeTree(r.dir);
    }
  });

  test(`${sh}: resolv.conf naming systemd-resolved's stub is judged by resolved's upstream servers`, async () => {
    const g = healthyGuest();
    g.resolvConf = "nameserver 127.0.0.53\noptions edns0\n";
    g.resolvedConf = "nameserver 10.0.2.3\n";
    const r = await runVerify(shell, g, HEALTHY_EXPECT);
    try {
      assert.ok(r.result, r.output);
      assert.equal(r.result.verified, true, r.result.summary);
      assert.match(r.result.checks.find((c) => c.check === "dns")!.detail, /systemd-resolved's upstream servers/);
    } finally {
      await removeTree(r.dir);
    }
  });

  test(`${sh}: a failed unit is a failure; open-vm-tools failing under KVM is not, with its evidence`, async () => {
    const g = healthyGuest();
    g.systemd!.failed = ["open-vm-tools.service", "nginx.service"];
    const onVmware = await runVerify(shell, g, HEALTHY_EXPECT);
    g.virt = "kvm";
    g.vmtoolsd = false;
    g.systemd!.failed = ["open-vm-tools.service"];
    const onKvm = await runVerify(shell, g, HEALTHY_EXPECT);
    try {
      assert.ok(onVmware.result, onVmware.output);
      assert.deepEqual(failedCodes(onVmware.result), ["failed-units:UNITS_FAILED:systemd"]);
      assert.equal(byCode(onVmware.result, "UNITS_FAILED")[0]!.actual, "open-vm-tools.service, nginx.service", "on VMware the tools failing is a failure");
      assert.match(onVmware.result.summary, /failed units: open-vm-tools\.service, nginx\.service/);
      assert.ok(onKvm.result, onKvm.output);
      assert.equal(onKvm.result.verified, true, onKvm.result.summary);
      assert.equal(onKvm.result.hypervisor, "kvm");
      const units = onKvm.result.checks.find((c) => c.check === "failed-units")!;
      assert.equal(units.status, "ok");
      assert.match(units.detail, /open-vm-tools\.service failed as expected on kvm \(no GuestRPC channel: vmtoolsd exits 1; Result=exit-code ExecMainStatus=1\)/);
      const tools = onKvm.result.checks.find((c) => c.check === "tools")!;
      assert.deepEqual([tools.status, tools.code], ["skipped", "NOT_APPLICABLE"]);
      assert.match(tools.detail, /runs on kvm, not VMware/);
    } finally {
      await removeTree(onVmware.dir);
      await removeTree(onKvm.dir);
    }
  });

  test(`${sh}: QEMU dressed as VMware (VMware SMBIOS strings, vmport): the CPU's hypervisor leaf decides, vmtoolsd's exit there is expected`, async () => {
    const g = healthyGuest();
    g.virt = "vmware";
    g.virtCpuid = "qemu";
    g.vmtoolsd = false;
    g.systemd!.failed = ["open-vm-tools.service"];
    const r = await runVerify(shell, g, HEALTHY_EXPECT);
    try {
      assert.ok(r.result, r.output);
      assert.equal(r.result.hypervisor, "qemu");
      assert.equal(r.result.verified, true, r.result.summary);
      assert.deepEqual(["tools", "failed-units"].map((n) => r.result!.checks.find((c) => c.check === n)?.status), ["skipped", "ok"]);
    } finally {
      await removeTree(r.dir);
    }
  });

  test(`${sh}: VMware-like hardware whose backdoor has no GuestRPC channel (QEMU's vmport, CPUID bit hidden): vmware-like, vmtoolsd's exit expected, with the evidence`, async () => {
    const g = healthyGuest();
    g.guestRpc = false;
    g.vmtoolsd = false;
    g.systemd!.failed = ["open-vm-tools.service"];
    const r = await runVerify(shell, g, HEALTHY_EXPECT);
    const real = await runVerify(shell, { ...healthyGuest(), vmtoolsd: false, systemd: { ...healthyGuest().systemd!, failed: ["open-vm-tools.service"] } }, HEALTHY_EXPECT);
    try {
      assert.ok(r.result, r.output);
      assert.equal(r.result.hypervisor, "vmware-like");
      assert.equal(r.result.verified, true, r.result.summary);
      const tools = r.result.checks.find((c) => c.check === "tools")!;
      assert.deepEqual([tools.status, tools.code], ["skipped", "NOT_APPLICABLE"]);
      assert.match(tools.detail, /exit 255: Error: \S*vmware-rpctool must be run inside a virtual machine on a VMware hypervisor product/);
      // the same guest where GuestRPC answers is on VMware: there, both are failures
      assert.ok(real.result, real.output);
      assert.equal(real.result.hypervisor, "vmware");
      assert.deepEqual(failedCodes(real.result).sort(), ["failed-units:UNITS_FAILED:systemd", "tools:TOOLS_NOT_RUNNING:vmtoolsd"]);
    } finally {
      await removeTree(r.dir);
      await removeTree(real.dir);
    }
  });

  test(`${sh}: VMware Tools: not running on VMware fails; not installed by stage 2 fails when required, is skipped when optional`, async () => {
    const g = healthyGuest();
    g.vmtoolsd = false;
    const notRunning = await runVerify(shell, g, HEALTHY_EXPECT);
    const s2 = JSON.stringify({ version: 1, status: "succeeded-with-warnings", code: "TOOLS_MISSING", reason: "r", tools: { installed: false, code: "NO_MEDIUM", detail: "no VMware Tools medium found", required: false } }) + "\n";
    const optional = await runVerify(shell, g, HEALTHY_EXPECT, { stage2Result: s2 });
    const required = await runVerify(shell, g, HEALTHY_EXPECT.map((l) => (l === "tools optional" ? "tools required" : l)), { stage2Result: s2 });
    try {
      assert.deepEqual(failedCodes(notRunning.result!), ["tools:TOOLS_NOT_RUNNING:vmtoolsd"]);
      const opt = optional.result!.checks.find((c) => c.check === "tools")!;
      assert.deepEqual([opt.status, opt.code, opt.actual], ["skipped", "NOT_APPLICABLE", "NO_MEDIUM"]);
      assert.match(opt.detail, /no VMware Tools medium found/);
      assert.equal(optional.result!.verified, true);
      assert.deepEqual(failedCodes(required.result!), ["tools:TOOLS_NOT_RUNNING:vmtoolsd"]);
    } finally {
      for (const r of [notRunning, optional, required]) await removeTree(r.dir);
    }
  });

  test(`${sh}: not in this boot (stage 2 not finished, shutting down, rescue mode): it exits 0 and keeps everything`, async () => {
    const g = healthyGuest();
    const runs = [await runVerify(shell, g, HEALTHY_EXPECT, { stage2Running: true })];
    g.systemd!.state = "stopping";
    runs.push(await runVerify(shell, g, HEALTHY_EXPECT));
    g.systemd!.state = "running";
    g.systemd!.multiUser = false;
    runs.push(await runVerify(shell, g, HEALTHY_EXPECT));
    try {
      for (const [i, r] of runs.entries()) {
        assert.equal(r.exitCode, 0, `${i}: ${r.output}`);
        assert.equal(r.result, undefined, `${i}: no result in this boot`);
        for (const p of r.owned) assert.ok(existsSync(p), `${i}: ${p} must stay for the next boot`);
        assert.match(r.output, /not verifying in this boot: (stage 2 has not finished|the guest is shutting down|multi-user\.target is not active)/);
      }
    } finally {
      for (const r of runs) await removeTree(r.dir);
    }
  });

  test(`${sh}: it exits 0 however it ends: expectations it cannot read, a signal while it waits`, async () => {
    const g = healthyGuest();
    g.systemd = undefined;
    g.runlevel = "N 3";
    const odd = await runVerify(shell, g, ["garbage line without meaning", "nic", "address onlyone", "runlevel 3"]);
    try {
      assert.equal(odd.exitCode, 0, odd.output);
      assert.ok(odd.result, odd.output);
      assert.equal(odd.result.verified, true, odd.result.summary);
      assert.deepEqual(odd.result.checks.map((c) => `${c.check}:${c.status}`), ["root:skipped", "default-route:skipped", "dns:skipped", "target:ok", "failed-units:skipped", "tools:ok"]);
    } finally {
      await removeTree(odd.dir);
    }
    const slow = healthyGuest();
    slow.systemd!.jobs = ["12 nginx.service start running"];
    const dir = await tempDir("osam-verify-sig-");
    try {
      const guest = await writeFakeGuest(dir, slow);
      const data = join(dir, "data");
      await mkdir(data);
      await writeFile(join(data, VERIFY_FILES.expect), HEALTHY_EXPECT.join("\n") + "\n");
      await writeFile(join(dir, "v.sh"), verifyScript());
      const p = execa(shell[0]!, [...shell.slice(1), join(dir, "v.sh")], { reject: false, extendEnv: false, env: fakeGuestEnv(guest, { OSAM_VERIFY_DATA: data, OSAM_CONSOLE: join(dir, "console"), OSAM_LOG: join(dir, "log"), OSAM_VERIFY_SETTLE: "30" }) });
      // the signal must come while it waits: once its log says so (a fixed delay was too
      // short for a machine loaded with two emulated guests)
      const waiting = () => existsSync(join(dir, "log")) && /first boot in the restored target/.test(readFileSync(join(dir, "log"), "utf8"));
      for (const t0 = Date.now(); !waiting() && Date.now() - t0 < 20_000; ) await new Promise((res) => setTimeout(res, 100));
      p.kill("SIGTERM");
      const r = await p;
      assert.equal(r.exitCode, 0, "stopped by systemd's timeout: still exit status 0");
      assert.match(readFileSync(join(dir, "log"), "utf8"), /first boot in the restored target/, "it was waiting for the other jobs");
    } finally {
      await removeTree(dir);
    }
  });
}

test("SysV guest under dash: the runlevel is compared, failed units are not applicable", async () => {
  const g = healthyGuest();
  g.systemd = undefined;
  g.runlevel = "N 5";
  const r = await runVerify(["dash"], g, HEALTHY_EXPECT.map((l) => (l.startsWith("target ") ? "runlevel 3" : l)));
  try {
    assert.ok(r.result, r.output);
    const t = r.result.checks.find((c) => c.check === "target")!;
    assert.deepEqual([t.status, t.code, t.expected, t.actual], ["failed", "TARGET_NOT_RESTORED", "3", "5"]);
    assert.equal(r.result.checks.find((c) => c.check === "failed-units")!.status, "skipped");
  } finally {
    await removeTree(r.dir);
  }
});
