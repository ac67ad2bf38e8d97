// The shipped artefact, not the sources: dist/osam-fixup, run with no node_modules, from
// another directory, under an empty environment. `npm run build` makes it (scripts/test-all.sh
// builds before this runs).
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { execFileSync, spawnSync } from "node:child_process";
import { join } from "node:path";
import { FIXUP_FILES } from "../../src/protocol/files.ts";
import { Result } from "../../src/protocol/schemas.ts";
import { REPO, SAMPLE, copyTree, tempDir, SKIP_CHROOT } from "../helpers/tree.ts";
import { deliver, outputTimes, startAgent, waitFor } from "../helpers/agent.ts";
import { builtAfterSources } from "../helpers/cli.ts";

const BIN = join(REPO, "dist/osam-fixup");

test("dist/osam-fixup exists and was built after the last change under src/ (npm run build)", () => {
  assert.ok(existsSync(BIN), `${BIN} is missing: run npm run build`);
  assert.ok(builtAfterSources(BIN), `${BIN} is older than a change under src/: these tests would judge an earlier commit's code; run npm run build`);
});

test("the binary runs under env -i from another directory, with no node_modules", async () => {
  const cwd = await tempDir();
  const v = execFileSync("env", ["-i", BIN, "--version"], { cwd, encoding: "utf8" });
  assert.match(v.trim(), /^\d+\.\d+\.\d+/);
  const h = spawnSync("env", ["-i", BIN, "plan", "--help"], { cwd, encoding: "utf8" });
  assert.equal(h.status, 0);
  assert.match(h.stdout, /Usage: osam-fixup plan/);
  const bad = spawnSync("env", ["-i", BIN, "plan", "--bogus"], { cwd, encoding: "utf8" });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /bogus/);
});

test("the binary speaks the whole agent protocol: BEGIN -> progress.txt, fixup.log, result.json, END", async () => {
  const root = await copyTree(join(SAMPLE, "root"));
  const dir = join(await tempDir(), "fixup");
  const run = startAgent(["env", "-i", BIN, "agent", "--fixup-dir", dir, "--root", root, ...SKIP_CHROOT, "-q"]);
  await waitFor(() => existsSync(dir), 10_000, "the agent to create the fixup dir");
  await deliver(dir, join(SAMPLE, "inputs"));
  const { code, stderr } = await run.exit;
  assert.equal(code, 0, stderr);
  const t = await outputTimes(dir);
  assert.ok(t[FIXUP_FILES.progress]! <= t[FIXUP_FILES.result]!, "progress before result");
  assert.ok(t[FIXUP_FILES.log]! <= t[FIXUP_FILES.result]!, "log before result");
  assert.ok(t[FIXUP_FILES.result]! <= t[FIXUP_FILES.end]!, "END last");
  const result = Result.parse(JSON.parse(await readFile(join(dir, FIXUP_FILES.result), "utf8")));
  assert.equal(result.status, "succeeded");
  assert.match(result.version, /^\d+\.\d+\.\d+\+/);
});

test("the binary's plan prints a unified diff and changes nothing", async () => {
  const root = await copyTree(join(SAMPLE, "root"));
  const r = spawnSync("env", ["-i", BIN, "plan", "--root", root, "--inputs", join(SAMPLE, "inputs")], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^--- a\/etc\/blkid\.tab$/m);
  assert.ok(existsSync(join(root, "etc/blkid.tab")));
});
