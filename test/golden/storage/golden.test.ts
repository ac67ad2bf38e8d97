// Golden fixtures for the storage steps: each case is a guest tree as a person finds it on
// that distribution (root/), the input maps plus what blkid would report on the fixup VM
// (inputs/), and every file the steps write, the commands they run and the per-step summary
// (expected/). The steps are planned, then applied to a temporary copy with a fake command
// runner; the result must match expected/ byte for byte. UPDATE_GOLDEN=1 rewrites expected/
// (review the diff before committing it).
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { runStage1 } from "../../../src/agent/stage1.ts";
import type { ExecRunner } from "../../../src/engine/exec.ts";
import type { KnownDevice } from "../../../src/fixups/types.ts";
import { loadInputs } from "../../../src/protocol/inputs.ts";
import { Logger } from "../../../src/util/log.ts";
import { copyTree, diffPrints, fingerprint, removeTree } from "../../helpers/tree.ts";
import { memoryDisks } from "../../helpers/disks.ts";

const HERE = dirname(new URL(import.meta.url).pathname);
const STEPS = ["preflight", "stale-caches", "device-refs", "initrd", "bootloader"];
const DATA_DIR = "opt/vmware/hcx/osam";
const UPDATE = process.env.UPDATE_GOLDEN === "1";

function listFiles(dir: string, rel = ""): string[] {
  const out: string[] = [];
  for (const n of readdirSync(join(dir, rel)).sort()) {
    const r = rel ? `${rel}/${n}` : n;
    if (statSync(join(dir, r)).isDirectory()) out.push(...listFiles(dir, r));
    else out.push(r);
  }
  return out;
}

export async function runCase(dir: string): Promise<Map<string, Buffer>> {
  const inputs = await loadInputs(join(dir, "inputs"));
  const devices = JSON.parse(readFileSync(join(dir, "inputs/devices.json"), "utf8")) as KnownDevice[];
  const root = await copyTree(join(dir, "root"), "osam-golden-");
  try {
    const before = await fingerprint(root);
    const planned = await runStage1({ root, inputs, mode: "plan", log: new Logger(), devices, only: STEPS });
    assert.equal(planned.result.status, "succeeded", `plan: ${planned.result.message}`);
    assert.deepEqual(diffPrints(before, await fingerprint(root)), [], "plan changed the tree");

    const commands: string[] = [];
    const exec: ExecRunner = async (argv, opts) => {
      const env = Object.entries(opts?.env ?? {}).map(([k, v]) => `${k}=${v} `).join("");
      commands.push(`${env}${argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a}'`)).join(" ")}`);
      return { exitCode: 0, output: "", timedOut: false };
    };
    const { result } = await runStage1({ root, inputs, mode: "apply", log: new Logger(), devices, exec, disks: memoryDisks(), only: STEPS });
    const after = await fingerprint(root, (r) => r === DATA_DIR || r.startsWith(DATA_DIR + "/") || r === "opt/vmware" || r === "opt");
    const out = new Map<string, Buffer>();
    const removed: string[] = [];
    for (const [p, v] of after) if (v.startsWith("file") && before.get(p) !== v) out.set(`files/${p}`, readFileSync(join(root, p)));
    for (const p of before.keys()) if (!after.has(p) && !p.startsWith("opt")) removed.push(p);
    out.set("commands.txt", Buffer.from(commands.map((c) => c + "\n").join("")));
    const summary = {
      status: result.status,
      code: result.code,
      message: result.message,
      removed,
      planned: planned.outcome.planned.map((p) => `${p.step}: ${p.change.action} ${p.change.action === "exec" ? p.change.argv.join(" ") : p.change.path}`),
      steps: result.steps.map((s) => ({ name: s.name, status: s.status, changes: s.changes, warnings: s.warnings })),
    };
    out.set("summary.json", Buffer.from(JSON.stringify(summary, null, 2) + "\n"));
    return out;
  } finally {
    await removeTree(root);
  }
}

const cases = readdirSync(HERE).filter((n) => existsSync(join(HERE, n, "root")));

test("there are golden storage cases", () => {
  assert.ok(cases.length >= 8, `found ${cases.length} cases`);
});

for (const c of cases) {
  test(`golden storage: ${c}`, async () => {
    const dir = join(HERE, c);
    const actual = await runCase(dir);
    const exp = join(dir, "expected");
    if (UPDATE) {
      rmSync(exp, { recursive: true, force: true });
      for (const [p, b] of actual) {
        mkdirSync(dirname(join(exp, p)), { recursive: true });
        writeFileSync(join(exp, p), b);
      }
      return;
    }
    assert.ok(existsSync(exp), `${exp} is missing: run with UPDATE_GOLDEN=1 and review`);
    const want = listFiles(exp);
    assert.deepEqual([...actual.keys()].sort(), want, "the set of changed files differs from expected/");
    for (const p of want) {
      const a = actual.get(p)!;
      const e = readFileSync(join(exp, p));
      if (!a.equals(e)) assert.equal(a.toString("utf8"), e.toString("utf8"), `${c}: ${p} differs from expected`);
      assert.ok(a.equals(e), `${c}: ${p} differs from expected (bytes)`);
    }
  });
}
