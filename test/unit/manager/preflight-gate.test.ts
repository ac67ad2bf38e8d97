// migrate and a spec's preflight report: a blocked source is refused before anything starts,
// unless --force; warnings are shown first.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { preflightGate } from "../../../src/manager/spec.ts";
import { runPreflight } from "../../../src/preflight/preflight.ts";
import { SAMPLE } from "../../helpers/tree.ts";
import { CLI_SCRIPT } from "../../helpers/cli.ts";
import { sampleSpec } from "./spec-sample.ts";

const report = (verdict: "ready" | "ready with warnings" | "blocked") => ({
  version: "t",
  root: "/",
  checkedAt: new Date(0).toISOString(),
  durationMs: 1,
  target: { scsiController: "pvscsi", nicModel: "vmxnet3", firmware: "bios" },
  verdict,
  findings: [
    ...(verdict === "blocked" ? [{ code: "LEFTOVER_BLOCKER", severity: "blocker", file: "/etc/fstab", line: 3, why: "/data on /dev/vdc1 without nofail", todo: "nofail" }] : []),
    ...(verdict !== "ready" ? [{ code: "CLOUD_INIT_NETWORK", severity: "warning", why: "cloud-init", todo: "disable" }] : []),
  ],
  skipped: [],
  plan: [],
  guest: {},
});

test("the gate: ready passes quietly, warnings are shown, blocked is refused unless forced", async () => {
  assert.deepEqual(preflightGate(sampleSpec("m1"), false), { warnings: [] });
  assert.deepEqual(preflightGate(sampleSpec("m1", { preflight: report("ready") }), false), { warnings: [] });
  const w = preflightGate(sampleSpec("m1", { preflight: report("ready with warnings") }), false);
  assert.equal(w.refusal, undefined);
  assert.match(w.warnings.join("\n"), /m1: preflight warning CLOUD_INIT_NETWORK/);
  const b = preflightGate(sampleSpec("m1", { preflight: report("blocked") }), false);
  assert.match(b.refusal ?? "", /m1: the source's preflight report is blocked \(LEFTOVER_BLOCKER \/etc\/fstab:3: .*--force/);
  const f = preflightGate(sampleSpec("m1", { preflight: report("blocked") }), true);
  assert.equal(f.refusal, undefined);
  assert.match(f.warnings.join("\n"), /preflight blocker LEFTOVER_BLOCKER/);
  // a real report fits the spec as it is
  sampleSpec("m2", { preflight: JSON.parse(JSON.stringify(await runPreflight({ root: join(SAMPLE, "root") }))) as unknown });
});

test("migrate refuses a spec whose preflight report is blocked, with exit 2 and nothing started", () => {
  const d = mkdtempSync(join(tmpdir(), "osam-gate-"));
  try {
    const spec = { ...JSON.parse(JSON.stringify(sampleSpec("gate1"))) as object, preflight: report("blocked") };
    writeFileSync(join(d, "spec.json"), JSON.stringify(spec));
    const r = spawnSync(process.execPath, [CLI_SCRIPT, "migrate", "--state-dir", join(d, "state"), "--log-dir", join(d, "logs"), join(d, "spec.json")], { encoding: "utf8", timeout: 60_000 });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /gate1: the source's preflight report is blocked/);
    assert.deepEqual(existsSync(join(d, "state")) ? readdirSync(join(d, "state")) : [], [], "no migration state was written");
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});
