// Issue 12, kind 9: input mistakes through the CLI. `plan --out` into, at or above the guest
// root (directly or through a link) is refused with exit 2 before anything is written, and
// a map with a duplicate key is bad input (exit 2), not a silent last-one-wins.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readFile, symlink, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { SAMPLE, copyTree, diffPrints, fingerprint, tempDir } from "../../helpers/tree.ts";
import { CLI_SCRIPT } from "../../helpers/cli.ts";
import { refuseOutInRoot } from "../../../src/cli/commands/plan.ts";

const run = (...args: string[]) => spawnSync(process.execPath, [CLI_SCRIPT, ...args], { encoding: "utf8" });

test("plan --out inside, at, above or linked into the guest root: exit 2, nothing written", async () => {
  const base = await tempDir();
  const root = join(base, "guest");
  spawnSync("cp", ["-a", join(SAMPLE, "root"), root]);
  const before = await fingerprint(base);
  const link = join(await tempDir(), "to-guest-etc");
  await symlink(join(root, "etc"), link);
  const outs = [
    root, // at
    join(root, "etc"), // inside, existing
    join(root, "new", "deeper"), // inside, not yet existing
    base, // above
    "/", // far above
    join(link, "review"), // through a link into the guest
    join(root, "..", "guest", "x"), // spelled with ..
  ];
  for (const out of outs) {
    const r = run("plan", "--root", root, "--inputs", join(SAMPLE, "inputs"), "--out", out);
    assert.equal(r.status, 2, `${out}: ${r.stderr}`);
    assert.match(r.stderr, /--out .*the guest root .*give a directory outside it/, out);
    assert.equal(r.stdout, "", `${out}: no plan printed`);
  }
  assert.deepEqual(diffPrints(before, await fingerprint(base)), [], "nothing was written anywhere under the guest or beside it");
  assert.equal(existsSync(join(root, "new")), false);
});

test("plan --out beside the guest root is fine, and the link check does not refuse a sibling", async () => {
  const base = await tempDir();
  const root = join(base, "guest");
  spawnSync("cp", ["-a", join(SAMPLE, "root"), root]);
  const out = join(base, "guest-review"); // a prefix of the root's name, but not inside it
  const r = run("plan", "--root", root, "--inputs", join(SAMPLE, "inputs"), "--out", out, "--skip", "initrd,bootloader");
  assert.equal(r.status, 0, r.stderr);
  assert.ok(existsSync(join(out, "etc", "fstab")));
  assert.doesNotThrow(() => refuseOutInRoot(join(base, "elsewhere", "x"), root));
});

test("refuseOutInRoot compares directory identity: another path to the same directory is refused", async () => {
  const base = await tempDir();
  const root = join(base, "guest");
  await mkdir(join(root, "etc"), { recursive: true });
  // a link to the root's parent: realpath catches it; the identity check is the second line
  const alias = join(await tempDir(), "alias");
  await symlink(base, alias);
  assert.throws(() => refuseOutInRoot(join(alias, "guest", "etc", "out"), root), /is inside the guest root/);
  assert.throws(() => refuseOutInRoot(alias, root), /contains the guest root/);
  assert.throws(() => refuseOutInRoot(dirname(root), join(alias, "guest")), /contains the guest root/);
});

test("a map with a duplicate key: plan and apply exit 2, naming the file and the key, the guest untouched", async () => {
  const root = await copyTree(join(SAMPLE, "root"));
  const before = await fingerprint(root);
  const inputs = await copyTree(join(SAMPLE, "inputs"));
  const p = join(inputs, "network-interface-map.json");
  const text = await readFile(p, "utf8");
  await writeFile(p, text.replace('"sourceName": "ens3",', '"sourceName": "ens3", "targetName": "eth0", "targetName": "eth7",'));
  assert.notEqual(await readFile(p, "utf8"), text, "the duplicate was written");
  for (const cmd of ["plan", "apply"]) {
    const r = run(cmd, "--root", root, "--inputs", inputs, "--skip", "initrd,bootloader");
    assert.equal(r.status, 2, `${cmd}: ${r.stderr}`);
    assert.match(r.stderr, /code 101.*network-interface-map\.json: interfaces\[0\]\.targetName: the key "targetName" appears twice/, cmd);
  }
  assert.deepEqual(diffPrints(before, await fingerprint(root)), []);
});
