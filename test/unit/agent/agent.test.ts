import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { FIXUP_FILES } from "../../../src/protocol/files.ts";
import { Result } from "../../../src/protocol/schemas.ts";
import { CODES } from "../../../src/protocol/codes.ts";
import { SAMPLE, copyTree, diffPrints, fingerprint, tempDir, SKIP_CHROOT } from "../../helpers/tree.ts";
import { CLI_SCRIPT } from "../../helpers/cli.ts";
import { deliver, outputTimes, startAgent, waitFor } from "../../helpers/agent.ts";

const CLI = [process.execPath, CLI_SCRIPT];

test("agent: BEGIN, then progress.txt, fixup.log, result.json and END last", async () => {
  const root = await copyTree(join(SAMPLE, "root"));
  const dir = join(await tempDir(), "fixup");
  const run = startAgent([...CLI, "agent", "--fixup-dir", dir, "--root", root, ...SKIP_CHROOT, "-q"]);
  await waitFor(() => existsSync(dir), 10_000, "the fixup dir");
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(existsSync(join(dir, FIXUP_FILES.end)), false, "nothing happens before BEGIN");
  await deliver(dir, join(SAMPLE, "inputs"));
  const { code } = await run.exit;
  assert.equal(code, 0);
  const t = await outputTimes(dir);
  assert.ok(t[FIXUP_FILES.result]! <= t[FIXUP_FILES.end]!, "END is written after result.json");
  const result = Result.parse(JSON.parse(await readFile(join(dir, FIXUP_FILES.result), "utf8")));
  assert.equal(result.status, "succeeded");
  assert.equal(result.migrationId, "demo-0001");
  assert.equal((result.guest.os as { id: string }).id, "debian");
  const progress = await readFile(join(dir, FIXUP_FILES.progress), "utf8");
  assert.match(progress, /stale-caches remove \/etc\/blkid\.tab/);
  assert.match(progress, /done succeeded/);
  assert.match(await readFile(join(dir, FIXUP_FILES.log), "utf8"), /stage 1 apply finished \(succeeded/);
  assert.equal((await readFile(join(dir, FIXUP_FILES.end), "utf8")).trim(), "succeeded 0");
});

test("agent: a bad map gives status failed with the field named, and the guest untouched", async () => {
  const root = await copyTree(join(SAMPLE, "root"));
  const before = await fingerprint(root);
  const dir = await tempDir();
  const inputs = await copyTree(join(SAMPLE, "inputs"));
  await writeFile(join(inputs, FIXUP_FILES.networkInterfaceMap), JSON.stringify({ interfaces: [{ sourceMac: "52:54:00:12:34:56", targetMac: "not-a-mac" }] }));
  await deliver(dir, inputs);
  const run = startAgent([...CLI, "agent", "--fixup-dir", dir, "--root", root, ...SKIP_CHROOT, "-q"]);
  const { code } = await run.exit;
  assert.equal(code, 2);
  const result = Result.parse(JSON.parse(await readFile(join(dir, FIXUP_FILES.result), "utf8")));
  assert.equal(result.status, "failed");
  assert.equal(result.code, CODES.INPUT_INVALID.code);
  assert.match(result.message, /network-interface-map\.json: interfaces\[0\]\.targetMac: must be a MAC address/);
  assert.ok(existsSync(join(dir, FIXUP_FILES.end)));
  assert.deepEqual(diffPrints(before, await fingerprint(root)), []);
});

test("agent: a missing root still ends with result.json and END", async () => {
  const dir = await tempDir();
  await deliver(dir, join(SAMPLE, "inputs"));
  const empty = await tempDir();
  const run = startAgent([...CLI, "agent", "--fixup-dir", dir, "--root", empty, "-q"]);
  const { code } = await run.exit;
  assert.equal(code, 1);
  const result = Result.parse(JSON.parse(await readFile(join(dir, FIXUP_FILES.result), "utf8")));
  assert.equal(result.code, CODES.GUEST_NOT_FOUND.code);
  assert.match(await readFile(join(dir, FIXUP_FILES.end), "utf8"), /^failed 200/);
});

test("agent: --timeout gives up waiting for BEGIN with a clear error", async () => {
  const dir = await tempDir();
  const run = startAgent([...CLI, "agent", "--fixup-dir", dir, "--timeout", "0.3", "-q"]);
  const { code, stderr } = await run.exit;
  assert.equal(code, 1);
  assert.match(stderr, /timed out after 300 ms waiting for .*BEGIN/);
});
