// 50 concurrent migrations against vcsim (see load.ts): all succeed, each guest runs stage 1
// and stage 2 exactly once with BEGIN written once, the guest simulator meets no error, and the
// manager's memory stays bounded.
import { test } from "node:test";
import assert from "node:assert/strict";
import { runLoad } from "./load.ts";

test("load: 50 concurrent migrations against vcsim", { timeout: 600_000 }, async () => {
  const s = await runLoad(50, 50);
  console.log(JSON.stringify(s));
  assert.deepEqual(s.failures, []);
  assert.equal(s.succeeded, 50);
  // per VM, not in total: one guest twice and another never would add up to 50 too
  assert.deepEqual(s.onceEach, []);
  assert.equal(s.stage1, 50);
  assert.equal(s.stage2, 50);
  assert.ok(s.peakRssMiB < 400, `peak RSS ${s.peakRssMiB} MiB`);
});
