// preflight: its verdicts on guests laid out as real installs are, its report schema and exit
// codes, and that it writes nothing and starts no process when given a tree.
import { test, mock } from "node:test";
import assert from "node:assert/strict";
import childProcess from "node:child_process";
import { syncBuiltinESMExports } from "node:module";
import { lstat, mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { execFileSync, spawnSync } from "node:child_process";
import { runPreflight } from "../../../src/preflight/preflight.ts";
import { PreflightReport } from "../../../src/protocol/preflight.ts";
import { REPO, SAMPLE, copyTree, fingerprint, diffPrints, removeTree, tempDir } from "../../helpers/tree.ts";

const SAMPLE_ROOT = join(SAMPLE, "root");
const CLI = join(REPO, "src/cli/main.ts");

async function sampleWith(files: Record<string, string>): Promise<string> {
  const d = await copyTree(SAMPLE_ROOT, "osam-preflight-");
  for (const [p, t] of Object.entries(files)) {
    await mkdir(join(d, p, ".."), { recursive: true });
    await writeFile(join(d, p), t);
  }
  return d;
}

/** Owners and times too: preflight must not even touch a file. */
async function fullPrint(root: string): Promise<Map<string, string>> {
  const base = await fingerprint(root);
  const out = new Map<string, string>();
  for (const [rel, v] of base) {
    const st = await lstat(join(root, rel));
    out.set(rel, `${v} ${st.uid}:${st.gid} ${st.mtimeMs}`);
  }
  return out;
}

const codes = (r: PreflightReport) => r.findings.map((f) => `${f.code}/${f.severity}`);

test("the sample guest is ready with warnings; the report matches its schema and lists the plan", async () => {
  const r = await runPreflight({ root: SAMPLE_ROOT });
  PreflightReport.parse(r);
  assert.equal(r.verdict, "ready with warnings");
  assert.deepEqual(r.target, { firmware: "bios", scsiController: "pvscsi", nicModel: "vmxnet3" });
  assert.ok(r.plan.some((p) => p.step === "initrd" && p.status === "changed"));
  assert.ok(!codes(r).some((c) => c.endsWith("/blocker")), codes(r).join(" "));
});

test("preflight writes nothing and starts no process on a tree", async () => {
  const d = await sampleWith({ "etc/mdadm/mdadm.conf": "DEVICE /dev/vd*\n" });
  try {
    const before = await fullPrint(d);
    const spawned: string[] = [];
    const orig = childProcess.spawn;
    const m = mock.method(childProcess, "spawn", (...a: Parameters<typeof orig>) => {
      spawned.push(String(a[0]));
      return orig(...a);
    });
    syncBuiltinESMExports();
    try {
      await runPreflight({ root: d });
    } finally {
      m.mock.restore();
      syncBuiltinESMExports();
    }
    assert.deepEqual(spawned, []);
    assert.deepEqual(diffPrints(before, await fullPrint(d)), []);
  } finally {
    await removeTree(d);
  }
});

test("a leftover that stops the boot blocks, with its file and line; the CLI exits 1", async () => {
  // a systemd mount unit: no step rewrites it, so only the audit can see it
  const d = await sampleWith({ "etc/systemd/system/srv-backup.mount": "[Unit]\nDescription=backup\n\n[Mount]\nWhat=/dev/vdb2\nWhere=/srv/backup\nType=ext4\n\n[Install]\nWantedBy=local-fs.target\n" });
  try {
    const r = await runPreflight({ root: d });
    assert.equal(r.verdict, "blocked");
    const b = r.findings.filter((f) => f.code === "LEFTOVER_BLOCKER");
    assert.deepEqual(b.map((f) => `${f.file}:${f.line}`), ["/etc/systemd/system/srv-backup.mount:5"]);
    const cli = spawnSync(process.execPath, [CLI, "preflight", "--root", d], { encoding: "utf8" });
    assert.equal(cli.status, 1, cli.stderr);
    assert.match(cli.stdout, /^preflight: blocked/);
    assert.match(cli.stdout, /blocker LEFTOVER_BLOCKER \/etc\/systemd\/system\/srv-backup.mount:5/);
  } finally {
    await removeTree(d);
  }
});

test("kernels: none with the target's drivers blocks; a default kernel without them is a warning naming the one stage 1 makes the default", async () => {
  const dep = (mods: string[]) => mods.map((m) => `kernel/drivers/x/${m}.ko.xz:`).join("\n") + "\n";
  const none = await sampleWith({ "lib/modules/6.1.0-27-amd64/modules.dep": dep(["virtio_blk", "ext4"]) });
  try {
    const r = await runPreflight({ root: none });
    assert.ok(codes(r).includes("NO_KERNEL_WITH_DRIVERS/blocker"), codes(r).join(" "));
  } finally {
    await removeTree(none);
  }
  const two = await sampleWith({
    "lib/modules/6.1.0-27-amd64/modules.dep": dep(["vmw_pvscsi", "vmxnet3", "ext4"]),
    "boot/vmlinuz-6.10.0-1-custom": "kernel",
    "boot/initrd.img-6.10.0-1-custom": "initrd",
    "lib/modules/6.10.0-1-custom/modules.dep": dep(["virtio_blk", "ext4"]),
  });
  try {
    const r = await runPreflight({ root: two });
    const f = r.findings.find((x) => x.code === "DEFAULT_KERNEL_LACKS_DRIVERS");
    assert.ok(f, codes(r).join(" "));
    // stage 1's bootloader step makes the older kernel the default: a warning that says so
    assert.equal(f.severity, "warning");
    assert.match(f.why, /6\.10\.0-1-custom.*lacks vmw_pvscsi, vmxnet3; stage 1 will make 6\.1\.0-27-amd64, the newest kernel that has them, the default/);
    assert.ok(!codes(r).includes("STAGE1_WOULD_FAIL/blocker"), codes(r).join(" "));
    // the other target controller and NIC are judged by their own drivers
    const lsi = await runPreflight({ root: two, target: { scsiController: "lsilogic", nicModel: "e1000e" } });
    assert.match(lsi.findings.find((x) => x.code === "NO_KERNEL_WITH_DRIVERS")?.why ?? "", /mptspi and e1000e/);
  } finally {
    await removeTree(two);
  }
});

test("an encrypted root blocks; SELinux enforcing and cloud-init are reported", async () => {
  const d = await sampleWith({
    "etc/fstab": "/dev/mapper/luks-0f3c / ext4 defaults 0 1\n",
    "etc/crypttab": "luks-0f3c UUID=0f3c none luks\n",
    "etc/selinux/config": "SELINUX=enforcing\nSELINUXTYPE=targeted\n",
    "etc/cloud/cloud.cfg": "datasource_list: [ NoCloud ]\n",
  });
  try {
    const r = await runPreflight({ root: d });
    assert.ok(codes(r).includes("LUKS_ROOT/blocker"), codes(r).join(" "));
    assert.ok(codes(r).includes("SELINUX_ENFORCING/info"), codes(r).join(" "));
    assert.ok(codes(r).some((c) => c.startsWith("CLOUD_INIT_NETWORK/")), codes(r).join(" "));
  } finally {
    await removeTree(d);
  }
});

test("the CLI: --json follows the schema, --out writes the report and the source part, bad usage is 2", async () => {
  const out = await tempDir("osam-preflight-out-");
  try {
    const j = spawnSync(process.execPath, [CLI, "preflight", "--root", SAMPLE_ROOT, "--json", "--out", out], { encoding: "utf8" });
    assert.equal(j.status, 0, j.stderr);
    const r = PreflightReport.parse(JSON.parse(j.stdout));
    assert.equal(r.verdict, "ready with warnings");
    assert.deepEqual((await readdir(out)).sort(), ["preflight-report.json", "source.json"]);
    assert.equal((JSON.parse(await readFile(join(out, "source.json"), "utf8")) as { firmware: string }).firmware, "bios");
    const bad = spawnSync(process.execPath, [CLI, "preflight", "--root", SAMPLE_ROOT, "--controller", "ide"], { encoding: "utf8" });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /scsiController/);
    assert.match(execFileSync(process.execPath, [CLI, "preflight", "--help"], { encoding: "utf8" }), /ready, ready with warnings, or blocked/);
  } finally {
    await rm(out, { recursive: true, force: true });
  }
});

test("the CLI takes the maps the target will get: a NIC left out of --nic-map is named, a bad map is bad usage", async () => {
  const dir = await tempDir("osam-preflight-maps-");
  try {
    const inputs = join(SAMPLE, "inputs");
    const full = JSON.parse(await readFile(join(inputs, "network-interface-map.json"), "utf8")) as { interfaces: { sourceName: string }[] };
    const one = join(dir, "one-nic.json");
    await writeFile(one, JSON.stringify({ interfaces: full.interfaces.filter((n) => n.sourceName !== "ens4") }));
    const run = (nicMap: string) => spawnSync(process.execPath, [CLI, "preflight", "--root", SAMPLE_ROOT, "--json", "--disk-map", join(inputs, "replica-disk-map.json"), "--nic-map", nicMap], { encoding: "utf8" });
    const mapped = run(join(inputs, "network-interface-map.json"));
    assert.equal(mapped.status, 0, mapped.stderr);
    const all = PreflightReport.parse(JSON.parse(mapped.stdout));
    assert.ok(!all.findings.some((f) => f.why.includes("ens4")), JSON.stringify(all.findings));
    const left = run(one);
    assert.equal(left.status, 0, left.stderr);
    const r = PreflightReport.parse(JSON.parse(left.stdout));
    assert.ok(r.findings.some((f) => f.severity === "warning" && /ens4 .*not in network-interface-map\.json/.test(f.why)), JSON.stringify(r.findings));
    const bad = join(dir, "bad.json");
    await writeFile(bad, "{");
    const b = run(bad);
    assert.equal(b.status, 2);
    assert.match(b.stderr, /--nic-map .*bad\.json: network-interface-map\.json: not valid JSON/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
