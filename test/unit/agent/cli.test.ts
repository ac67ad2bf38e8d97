import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { SAMPLE, copyTree, diffPrints, fingerprint, tempDir, SKIP_CHROOT } from "../../helpers/tree.ts";
import { CLI_SCRIPT } from "../../helpers/cli.ts";

const run = (...args: string[]) => spawnSync(process.execPath, [CLI_SCRIPT, ...args], { encoding: "utf8" });

test("--help on every command, --version, and exit 2 for bad usage", () => {
  for (const c of ["agent", "inspect", "plan", "apply", "rollback"]) {
    const r = run(c, "--help");
    assert.equal(r.status, 0, c);
    assert.match(r.stdout, new RegExp(`Usage: osam-fixup ${c}`));
  }
  assert.equal(run("--version").status, 0);
  assert.equal(run("nonsense").status, 2);
  assert.equal(run("plan", "--root", "/nonexistent-x", "--inputs", "/tmp").status, 2);
  assert.equal(run("plan", "--inputs", "/tmp").status, 2);
  const r = run("plan", "--root", join(SAMPLE, "root"), "--inputs", join(SAMPLE, "inputs"), "--only", "nope");
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /unknown step 'nope'/);
});

test("plan --json gives full new content; --out writes the would-be files; the guest is untouched", async () => {
  const root = await copyTree(join(SAMPLE, "root"));
  const before = await fingerprint(root);
  const out = await tempDir();
  const r = run("plan", "--root", root, "--inputs", join(SAMPLE, "inputs"), "--json", "--out", out);
  assert.equal(r.status, 0, r.stderr);
  const plan = JSON.parse(r.stdout) as { status: string; changes: { action: string; path?: string; content?: string }[]; written: string[] };
  assert.equal(plan.status, "succeeded");
  assert.ok(plan.changes.length >= 1);
  // the final state: a file several steps edit has the last content, a removed one is gone
  const last = new Map<string, string | undefined>();
  for (const c of plan.changes) {
    if (c.action === "write") last.set(c.path!, c.content);
    else if (c.action === "remove") last.delete(c.path!);
    else if (c.action === "rename") {
      const to = (c as { to?: string }).to!;
      last.set(to, last.get(c.path!) ?? (await readFile(join(root, c.path!), "utf8")));
      last.delete(c.path!);
    }
  }
  assert.ok(last.size >= 1);
  for (const [path, content] of last) {
    assert.equal(typeof content, "string");
    assert.equal(await readFile(join(out, path), "utf8"), content);
  }
  assert.deepEqual([...plan.written].sort(), [...last.keys()].sort(), "--out holds exactly the files the plan leaves written");
  assert.deepEqual(diffPrints(before, await fingerprint(root)), []);
});

test("inspect prints OS, kernels, boot loader, fstab and interfaces", () => {
  const r = run("inspect", "--root", join(SAMPLE, "root"));
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /Debian GNU\/Linux 12/);
  assert.match(r.stdout, /6\.1\.0-27-amd64/);
  assert.match(r.stdout, /grub2/);
  assert.match(r.stdout, /\/dev\/vda1 {2}\/ {2}ext4/);
  assert.match(r.stdout, /ens3/);
  const j = JSON.parse(run("inspect", "--root", join(SAMPLE, "root"), "--json").stdout) as { os: { family: string } };
  assert.equal(j.os.family, "debian");
});

test("apply then rollback through the CLI leaves the guest byte-identical", async () => {
  const root = await copyTree(join(SAMPLE, "root"));
  const before = await fingerprint(root);
  const a = run("apply", "--root", root, "--inputs", join(SAMPLE, "inputs"), ...SKIP_CHROOT, "-q", "--json");
  assert.equal(a.status, 0, a.stderr);
  assert.equal((JSON.parse(a.stdout) as { status: string }).status, "succeeded");
  assert.notDeepEqual(diffPrints(before, await fingerprint(root)), []);
  const b = run("rollback", "--root", root, "-q");
  assert.equal(b.status, 0, b.stderr);
  assert.deepEqual(diffPrints(before, await fingerprint(root)), []);
});

test("apply with a bad map exits 2 and changes nothing", async () => {
  const root = await copyTree(join(SAMPLE, "root"));
  const before = await fingerprint(root);
  const inputs = await tempDir();
  const r = run("apply", "--root", root, "--inputs", inputs, "-q");
  assert.equal(r.status, 2);
  assert.match(r.stderr, /system-configuration\.json is missing/);
  assert.deepEqual(diffPrints(before, await fingerprint(root)), []);
});
