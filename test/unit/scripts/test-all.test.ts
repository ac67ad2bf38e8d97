// The test command itself: a stage that prints no test counts (build, schema checks) must not
// end the run, and the summary line must add up (CI once stopped after the build because of
// it); a stage that crashes is a failure even when it printed no failing test. The stages run
// through the script's own stage and finish functions (it only defines them when sourced).
import { test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { access } from "node:fs/promises";
import { tempDir } from "../../helpers/tree.ts";

const script = fileURLToPath(new URL("../../../scripts/test-all.sh", import.meta.url));

/** Sources test-all.sh (functions only), runs the given stages and the summary. */
async function stages(body: string) {
  const logs = await tempDir();
  return execa("bash", ["-c", `source "$1"\n${body}\nfinish`, "test-all", script], { env: { OSAM_TEST_LOGS: logs, OSAM_TEST_STAGES: "" }, reject: false });
}

test("stages without test counts run through to the summary line", async () => {
  const r = await stages(`stage build bash -c 'echo built'\nstage schemas true`);
  assert.equal(r.exitCode, 0, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /=== build: exit 0, 0 passed, 0 failed, 0 skipped/);
  assert.match(r.stdout, /=== schemas: exit 0, 0 passed, 0 failed, 0 skipped/);
  assert.equal(r.stdout.trimEnd().split("\n").at(-1), "tests: 0 passed, 0 failed, 0 skipped");
});

test("an unknown stage name is refused before anything runs", async () => {
  const r = await execa("bash", [script], { env: { OSAM_TEST_STAGES: "unit,nope" }, reject: false });
  assert.equal(r.exitCode, 2);
  assert.match(r.stderr, /unknown stage 'nope'/);
  assert.doesNotMatch(r.stdout, /install-deps/);
});

test("a stage that exits 1 without printing a count or a failure is a failure and fails the run", async () => {
  const r = await stages(`stage fine bash -c 'echo "# pass 3"; echo "# fail 0"'\nstage crash bash -c 'exit 1'`);
  assert.equal(r.exitCode, 1, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /=== crash: exit 1, 0 passed, 0 failed, 0 skipped/);
  assert.match(r.stdout, /^=== failed stages: crash$/m);
  assert.equal(r.stdout.trimEnd().split("\n").at(-1), "tests: 3 passed, 1 failed, 0 skipped");
});

test("a stage whose tests all passed but which then exits 1 still fails the run", async () => {
  const r = await stages(`stage late bash -c 'echo "# pass 4"; echo "# fail 0"; exit 1'`);
  assert.equal(r.exitCode, 1, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /^=== failed stages: late$/m);
  assert.equal(r.stdout.trimEnd().split("\n").at(-1), "tests: 4 passed, 1 failed, 0 skipped");
});

test("UPDATE_GOLDEN is refused before anything runs: a run that rewrites goldens compares none", async () => {
  const r = await execa("bash", [script], { env: { OSAM_TEST_STAGES: "unit", UPDATE_GOLDEN: "1" }, reject: false });
  assert.equal(r.exitCode, 2);
  assert.match(r.stderr, /UPDATE_GOLDEN=1 is set/);
  assert.doesNotMatch(r.stdout, /install-deps|===/);
});

// CI's run of 2026-11-30 printed "tests: 680 passed, 0 failed" and exited 1: the EXIT trap that
// stops the background image builds ran a kill that failed (the builds were long done), and
// set -e turned that into the script's exit status.
test("background builds that ended long before the summary leave a green run green", async () => {
  const r = await stages(`start_background "$OSAM_TEST_LOGS/images.log" true\nsleep 0.3\nstage fine bash -c 'echo "# pass 2"; echo "# fail 0"'`);
  assert.equal(r.exitCode, 0, `${r.stdout}\n${r.stderr}`);
  assert.equal(r.stdout.trimEnd().split("\n").at(-1), "tests: 2 passed, 0 failed, 0 skipped");
});

test("background builds still running at the summary are stopped, and the run keeps its own status", async () => {
  const marker = await tempDir();
  const body = `start_background "$OSAM_TEST_LOGS/images.log" bash -c 'sleep 2; touch "$1/late"' _ ${JSON.stringify(marker)}\nstage fine true`;
  const r = await stages(body);
  assert.equal(r.exitCode, 0, `${r.stdout}\n${r.stderr}`);
  await new Promise((done) => setTimeout(done, 3000));
  await assert.rejects(access(`${marker}/late`), "the background job outlived the run");
  const failing = await stages(`start_background "$OSAM_TEST_LOGS/images.log" sleep 5\nstage crash bash -c 'exit 1'`);
  assert.equal(failing.exitCode, 1, `${failing.stdout}\n${failing.stderr}`);
});
