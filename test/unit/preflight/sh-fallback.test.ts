// The preflight's POSIX sh fallback (src/sentinel/preflight.sh, as `preflight --print-script`
// prints it) under dash and busybox sh against fake roots (OSAM_PREFLIGHT_ROOT): its report
// validates against the schema, its verdicts and codes are the binary's for the checks both
// make, it names what it skipped, and it writes nothing.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execa } from "execa";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { runPreflight } from "../../../src/preflight/preflight.ts";
import { type FindingCode, PreflightReport } from "../../../src/protocol/preflight.ts";
import { preflightScript } from "../../../src/sentinel/render.ts";
import { REPO, SAMPLE, copyTree, diffPrints, fingerprint, removeTree } from "../../helpers/tree.ts";

const SCRIPT = preflightScript();
const SHELLS = [["dash"], ["busybox", "sh"]];
const SAMPLE_ROOT = join(SAMPLE, "root");
const KVER = "6.1.0-27-amd64";
/** The checks both the binary and the fallback make. */
const SHARED: FindingCode[] = ["NO_KERNEL_WITH_DRIVERS", "DEFAULT_KERNEL_LACKS_DRIVERS", "KERNEL_MODULES_UNKNOWN", "LUKS_ROOT", "LUKS_VOLUME", "SPACE_LOW", "CLOUD_INIT_NETWORK", "SELINUX_ENFORCING"];

/** The sample Debian 12 tree (vmw_pvscsi and vmxnet3 in its kernel's modules.dep), with files written or removed. */
async function fakeRoot(files: Record<string, string | null> = {}): Promise<string> {
  const d = await copyTree(SAMPLE_ROOT, "osam-shpf-");
  for (const [p, t] of Object.entries(files)) {
    if (t === null) {
      await rm(join(d, p), { recursive: true, force: true });
      continue;
    }
    await mkdir(join(d, p, ".."), { recursive: true });
    await writeFile(join(d, p), t);
  }
  return d;
}

async function withRoot(files: Record<string, string | null>, body: (root: string) => Promise<void>): Promise<void> {
  const d = await fakeRoot(files);
  try {
    await body(d);
  } finally {
    await removeTree(d);
  }
}

async function runSh(shell: string[], root: string, args: string[] = [], env: Record<string, string> = {}) {
  const r = await execa(shell[0]!, [...shell.slice(1), "-s", "--", ...args], {
    input: SCRIPT,
    reject: false,
    timeout: 120_000,
    // the inventory's interfaces and name servers from the fake tree (none), not this host's
    env: { LC_ALL: "C", OSAM_PREFLIGHT_ROOT: root, OSAM_COLLECT_NET_ROOT: root, ...env },
  });
  const report = r.stdout ? PreflightReport.parse(JSON.parse(r.stdout)) : undefined;
  return { code: r.exitCode, report, stderr: r.stderr };
}

const codes = (r: PreflightReport | undefined) => (r?.findings ?? []).map((f) => `${f.code}/${f.severity}`);
const shared = (r: PreflightReport) => r.findings.filter((f) => SHARED.includes(f.code)).map((f) => `${f.code}/${f.severity}`).sort();

/** modules.dep of the sample kernel without the lines naming $drop. */
async function depWithout(drop: string): Promise<string> {
  const dep = await readFile(join(SAMPLE_ROOT, "lib/modules", KVER, "modules.dep"), "utf8");
  return dep.split("\n").filter((l) => !l.includes(drop)).join("\n");
}

test("--print-script prints the rendered script, drivers from src/initrd/drivers.ts; it passes shellcheck, dash -n and busybox sh -n", async () => {
  const p = await execa(process.execPath, [join(REPO, "src/cli/main.ts"), "preflight", "--print-script"]);
  assert.equal(p.stdout + "\n", SCRIPT);
  assert.doesNotMatch(SCRIPT, /@@[A-Z0-9_]+@@/);
  assert.match(SCRIPT, /CONTROLLER_DRIVERS='pvscsi=vmw_pvscsi lsilogic=mptspi lsisas=mptsas'/);
  assert.match(SCRIPT, /NIC_DRIVERS='vmxnet3=vmxnet3 e1000e=e1000e e1000=e1000'/);
  // collect.sh's functions are in, its own call of main is not
  assert.equal(SCRIPT.match(/^main\(\) \{$/gm)?.length, 1);
  assert.doesNotMatch(SCRIPT, /^main "\$@"$/m);
  const sc = await execa("shellcheck", ["-s", "sh", "-"], { input: SCRIPT, reject: false });
  assert.equal(sc.exitCode, 0, sc.stdout);
  for (const sh of [["dash", "-n"], ["busybox", "sh", "-n"]]) {
    const r = await execa(sh[0]!, sh.slice(1), { input: SCRIPT, reject: false });
    assert.equal(r.exitCode, 0, `${sh.join(" ")}: ${r.stderr}`);
  }
  const help = await execa(process.execPath, [join(REPO, "src/cli/main.ts"), "preflight", "--help"]);
  assert.match(help.stdout, /glibc is older\s+than 2\.28/);
});

for (const shell of SHELLS) {
  const sh = shell.join(" ");

  test(`${sh}: a healthy Debian root is ready; the report validates, names what it skipped, carries the inventory, and nothing is written`, async () => {
    await withRoot({}, async (root) => {
      const before = await fingerprint(root);
      const { code, report, stderr } = await runSh(shell, root);
      assert.deepEqual(diffPrints(before, await fingerprint(root)), []);
      assert.equal(code, 0, stderr);
      assert.ok(report);
      assert.equal(report.verdict, "ready", codes(report).join(" "));
      assert.deepEqual(report.findings, []);
      assert.equal(report.root, root);
      assert.deepEqual(report.target, { scsiController: "pvscsi", nicModel: "vmxnet3", firmware: "bios" });
      assert.deepEqual(report.plan, []);
      assert.match(report.version, /^sh-fallback/);
      assert.ok(report.skipped.some((s) => /stage-1 plan/.test(s)), report.skipped.join("\n"));
      assert.ok(report.skipped.some((s) => /residue audit/.test(s)), report.skipped.join("\n"));
      assert.ok(["bios", "uefi"].includes(String(report.guest.firmware)), JSON.stringify(report.guest));
      assert.deepEqual(report.guest.interfaces, []);
      assert.match(stderr, /preflight: ready/);
    });
  });

  test(`${sh}: the only kernel lacks vmw_pvscsi: blocked with NO_KERNEL_WITH_DRIVERS, exit 1; with an LSI Logic target it has mptspi`, async () => {
    await withRoot({ [`lib/modules/${KVER}/modules.dep`]: await depWithout("vmw_pvscsi") }, async (root) => {
      const { code, report } = await runSh(shell, root);
      assert.equal(code, 1);
      assert.equal(report?.verdict, "blocked");
      assert.deepEqual(codes(report), ["NO_KERNEL_WITH_DRIVERS/blocker"]);
      assert.match(report.findings[0]!.why, new RegExp(`${KVER} lacks vmw_pvscsi`));
      const lsi = await runSh(shell, root, ["--controller", "lsilogic"]);
      assert.equal(lsi.report?.verdict, "ready", codes(lsi.report).join(" "));
      assert.equal(lsi.report?.target.scsiController, "lsilogic");
      const bad = await runSh(shell, root, ["--controller", "buslogic"]);
      assert.equal(bad.code, 2);
      assert.equal(bad.report, undefined);
    });
  });

  test(`${sh}: a newer default kernel without vmw_pvscsi is a warning naming the kernel made the default`, async () => {
    const dep = await depWithout("vmw_pvscsi");
    await withRoot({ "lib/modules/6.1.0-28-amd64/modules.dep": dep, "boot/vmlinuz-6.1.0-28-amd64": "k", "boot/initrd.img-6.1.0-28-amd64": "i" }, async (root) => {
      const { code, report } = await runSh(shell, root);
      assert.equal(code, 0);
      assert.equal(report?.verdict, "ready with warnings");
      assert.deepEqual(codes(report), ["DEFAULT_KERNEL_LACKS_DRIVERS/warning"]);
      assert.equal(report.findings[0]!.file, "/boot/vmlinuz-6.1.0-28-amd64");
      assert.match(report.findings[0]!.why, /stage 1 will make 6\.1\.0-27-amd64, the newest kernel that has them, the default/);
    });
  });

  test(`${sh}: root on a crypttab volume is a LUKS_ROOT blocker; another encrypted volume a LUKS_VOLUME warning`, async () => {
    const crypttab = "# <target> <source> <key> <options>\ncryptroot UUID=1111-2222 none luks,discard\n";
    await withRoot({ "etc/crypttab": crypttab, "etc/fstab": "/dev/mapper/cryptroot / ext4 defaults 0 1\n" }, async (root) => {
      const { code, report } = await runSh(shell, root);
      assert.equal(code, 1);
      assert.deepEqual(codes(report), ["LUKS_ROOT/blocker"]);
      assert.equal(report!.findings[0]!.file, "/etc/fstab");
    });
    await withRoot({ "etc/crypttab": "data_crypt /dev/sdb1 /root/key luks\n" }, async (root) => {
      const { report } = await runSh(shell, root);
      assert.equal(report?.verdict, "ready with warnings");
      assert.deepEqual(codes(report), ["LUKS_VOLUME/warning"]);
      assert.match(report.findings[0]!.why, /^\/dev\/sdb1 is LUKS-encrypted/);
    });
  });

  test(`${sh}: SELinux enforcing and cloud-init's network are reported (info, as the binary does); a disabled cloud-init network is not`, async () => {
    await withRoot({ "etc/selinux/config": "# comment\nSELINUX=enforcing\nSELINUXTYPE=targeted\n", "etc/cloud/cloud.cfg": "datasource_list: [NoCloud]\n" }, async (root) => {
      const { report } = await runSh(shell, root);
      assert.deepEqual(codes(report).sort(), ["CLOUD_INIT_NETWORK/info", "SELINUX_ENFORCING/info"]);
      assert.equal(report?.verdict, "ready");
    });
    for (const cfg of ["network: {config: disabled}\n", "network:\n  config: disabled\n"]) {
      await withRoot({ "etc/cloud/cloud.cfg": "datasource_list: [NoCloud]\n", "etc/cloud/cloud.cfg.d/99-off.cfg": cfg, "etc/selinux/config": "SELINUX=permissive\n" }, async (root) => {
        const { report } = await runSh(shell, root);
        assert.deepEqual(codes(report), [], cfg);
      });
    }
  });
}

test("an initramfs larger than /boot could take thrice is SPACE_LOW, a blocker, as in the binary's stage-1 check", async () => {
  await withRoot({}, async (root) => {
    const df = await execa("df", ["-P", "-k", root]);
    const freeKiB = Number(df.stdout.split("\n")[1]!.split(/\s+/)[3]);
    // a sparse file: its size counts, it takes no space
    await execa("truncate", ["-s", `${Math.ceil(freeKiB / 2)}K`, join(root, "boot", `initrd.img-${KVER}`)]);
    for (const shell of SHELLS) {
      const { code, report } = await runSh(shell, root);
      assert.equal(code, 1, shell.join(" "));
      assert.deepEqual(codes(report), ["SPACE_LOW/blocker"], shell.join(" "));
    }
    const { report } = await runSh(["dash"], root);
    assert.match(report!.findings[0]!.why, /^stage 1 would stop with code 204 in preflight: \/ \(with \/boot\) has \d+ MB free/);
    const bin = await runPreflight({ root });
    assert.deepEqual(shared(bin), ["SPACE_LOW/blocker"]);
    // the same sentence; the free space itself moves between the two runs (other writers)
    const free = (why: string | undefined) => why?.replace(/has \d+ MB free/, "has N MB free");
    assert.equal(free(bin.findings.find((f) => f.code === "SPACE_LOW")?.why), free(report!.findings[0]!.why));
  });
});

test("the binary's preflight (--root, with a live source's inventory) and the sh fallback agree on the verdict and the shared checks", async () => {
  const source = { firmware: "bios" as const, interfaces: [{ name: "ens4", mac: "52:54:00:12:34:56", kind: "physical" as const, addresses: ["192.0.2.10/24"] }] };
  const dep = await depWithout("vmw_pvscsi");
  const cases: Record<string, Record<string, string | null>> = {
    // a newer kernel without vmw_pvscsi, cloud-init, SELinux: ready with warnings in both
    warnings: { "lib/modules/6.1.0-28-amd64/modules.dep": dep, "boot/vmlinuz-6.1.0-28-amd64": "k", "boot/initrd.img-6.1.0-28-amd64": "i", "etc/cloud/cloud.cfg": "datasource_list: [NoCloud]\n", "etc/selinux/config": "SELINUX=enforcing\n" },
    // its only kernel lacks vmw_pvscsi: blocked in both
    blocked: { [`lib/modules/${KVER}/modules.dep`]: dep },
    // root on LUKS: blocked in both
    luks: { "etc/crypttab": "luks-0c3a cryptdev none luks\n", "etc/fstab": "/dev/mapper/luks-0c3a / ext4 defaults 0 1\n" },
  };
  for (const [name, files] of Object.entries(cases)) {
    await withRoot(files, async (root) => {
      const bin = await runPreflight({ root, source });
      const { report } = await runSh(["dash"], root);
      assert.ok(report);
      assert.equal(report.verdict, bin.verdict, `${name}: sh ${codes(report).join(" ")}; binary ${codes(bin).join(" ")}`);
      assert.deepEqual(shared(report), shared(bin), name);
      assert.ok(shared(report).length > 0, name);
    });
  }
});
