// The test command itself: a stage that prints no test counts (build, schema checks) must not
// end the run, and the summary line must add up. CI once stopped after the build because of it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { tempDir } from "../../helpers/tree.ts";

const script = fileURLToPath(new URL("../../../scripts/test-all.sh", import.meta.url));

test("stages without test counts run through to the summary line", async () => {
  const logs = await tempDir();
  const r = await execa("bash", [script], {
    env: { OSAM_TEST_STAGES: "schemas,sentinel-embedded", OSAM_TEST_LOGS: logs },
    reject: false,
  });
  assert.equal(r.exitCode, 0, r.all ?? `${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /=== schemas: exit 0, 0 passed, 0 failed, 0 skipped/);
  assert.match(r.stdout, /=== sentinel-embedded: exit 0/);
  assert.equal(r.stdout.trimEnd().split("\n").at(-1), "tests: 0 passed, 0 failed, 0 skipped");
});

test("an unknown stage name is refused before anything runs", async () => {
  const r = await execa("bash", [script], { env: { OSAM_TEST_STAGES: "unit,nope" }, reject: false });
  assert.equal(r.exitCode, 2);
  assert.match(r.stderr, /unknown stage 'nope'/);
  assert.doesNotMatch(r.stdout, /install-deps/);
});
