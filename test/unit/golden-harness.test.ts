// The golden harness (test/helpers/golden.ts) on a case of its own, run as node:test runs it:
// UPDATE_GOLDEN rewrites expected/ and reports the case as skipped, never passed; CI=true
// refuses the flag and leaves expected/ alone; without the flag a changed expected/ fails.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execa } from "execa";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { removeTree, tempDir } from "../helpers/tree.ts";

const HARNESS = fileURLToPath(new URL("../helpers/golden.ts", import.meta.url));

interface Counts {
  pass: number;
  fail: number;
  skipped: number;
  out: string;
}

async function runArea(area: string, env: Record<string, string>): Promise<Counts> {
  // a child of a test file: without NODE_TEST_CONTEXT it runs as a test run of its own
  const { NODE_TEST_CONTEXT: _, UPDATE_GOLDEN: _u, CI: _c, ...base } = process.env;
  const r = await execa(process.execPath, ["--test", join(area, "area.test.ts")], { env: { ...base, ...env }, extendEnv: false, reject: false, all: true });
  const out = r.all ?? "";
  const count = (k: string) => Number(new RegExp(`^# ${k} (\\d+)$`, "m").exec(out)?.[1] ?? NaN);
  return { pass: count("pass"), fail: count("fail"), skipped: count("skipped"), out };
}

test("UPDATE_GOLDEN cases are skipped, CI refuses the flag, and a changed expected/ fails", async () => {
  const area = await tempDir("osam-golden-harness-");
  try {
    const caseDir = join(area, "stale-blkid");
    mkdirSync(join(caseDir, "root/etc/blkid"), { recursive: true });
    writeFileSync(join(caseDir, "root/etc/os-release"), 'ID=debian\nVERSION_ID="12"\n');
    writeFileSync(join(caseDir, "root/etc/blkid/blkid.tab"), '<device DEVNO="0xfd01" UUID="x" TYPE="ext4">/dev/vda1</device>\n');
    writeFileSync(join(area, "area.test.ts"), `import { goldenSuite } from ${JSON.stringify(HARNESS)};\nawait goldenSuite(${JSON.stringify(area)}, { only: ["stale-caches"] });\n`);

    const first = await runArea(area, { UPDATE_GOLDEN: "1" });
    assert.deepEqual([first.pass, first.fail, first.skipped], [0, 0, 1], first.out);
    assert.match(first.out, /# SKIP UPDATE_GOLDEN: expected\/ rewritten/);
    const summary = join(caseDir, "expected/summary.json");
    const written = readFileSync(summary, "utf8");
    assert.match(written, /"removed": \[\n\s+"etc\/blkid\/blkid\.tab"/);

    const compared = await runArea(area, {});
    assert.deepEqual([compared.pass, compared.fail, compared.skipped], [1, 0, 0], compared.out);

    writeFileSync(summary, written.replace("blkid.tab", "blkid.tab.old"));
    const changed = await runArea(area, {});
    assert.deepEqual([changed.pass, changed.fail, changed.skipped], [0, 1, 0], changed.out);
    assert.match(changed.out, /summary\.json differs from expected\/summary\.json/);

    const ci = await runArea(area, { UPDATE_GOLDEN: "1", CI: "true" });
    assert.deepEqual([ci.pass, ci.fail, ci.skipped], [0, 1, 0], ci.out);
    assert.match(ci.out, /UPDATE_GOLDEN=1 is set under CI=true/);
    assert.equal(readFileSync(summary, "utf8"), written.replace("blkid.tab", "blkid.tab.old"), "CI rewrote expected/");

    const any = await runArea(area, { UPDATE_GOLDEN: "yes" });
    assert.deepEqual([any.pass, any.fail, any.skipped], [0, 0, 1], `any value of the flag rewrites and skips\n${any.out}`);
    assert.equal(readFileSync(summary, "utf8"), written);
  } finally {
    await removeTree(area);
  }
});
