// Golden fixtures: test/golden/<area>/<case>/{root/, inputs/, expected/}. Each case plans and
// then applies the selected steps to a private copy of root/ and compares, byte for byte:
//   expected/root/       every file of the tree after apply (the stage-1 data dir excluded);
//   expected/plan.txt    the plan as `osam-fixup plan` prints it;
//   expected/warnings.txt the warnings, one per line (or expected/error.txt for a failed run).
// inputs/ holds any of the three maps; missing ones get small defaults (a migration id, BIOS,
// pvscsi/vmxnet3, one disk), so a case only writes what it is about.
// UPDATE_GOLDEN=1 rewrites expected/ from the actual results, for review in `git diff`.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, readlink, rm, symlink, writeFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { runStage1 } from "../../src/agent/stage1.ts";
import { renderPlan } from "../../src/engine/render.ts";
import { parseInput, type Inputs } from "../../src/protocol/inputs.ts";
import { NetworkInterfaceMap, ReplicaDiskMap, SystemConfiguration } from "../../src/protocol/schemas.ts";
import { FIXUP_FILES, GUEST_DATA_DIR } from "../../src/protocol/files.ts";
import { Logger } from "../../src/util/log.ts";
import { copyTree, removeTree } from "./tree.ts";

export const UPDATE = process.env.UPDATE_GOLDEN === "1";

const DEFAULTS = {
  [FIXUP_FILES.systemConfiguration]: { migrationId: "golden", source: { firmware: "bios" }, target: { firmware: "bios", scsiController: "pvscsi", nicModel: "vmxnet3" } },
  [FIXUP_FILES.replicaDiskMap]: { disks: [{ source: { device: "/dev/vda" }, target: { controller: "scsi0", unit: 0 }, boot: true }] },
  [FIXUP_FILES.networkInterfaceMap]: { interfaces: [] },
};

export async function loadCaseInputs(dir: string): Promise<Inputs> {
  const read = async (name: keyof typeof DEFAULTS): Promise<Buffer> => {
    const p = join(dir, name);
    return existsSync(p) ? readFile(p) : Buffer.from(JSON.stringify(DEFAULTS[name]));
  };
  return {
    system: parseInput(FIXUP_FILES.systemConfiguration, SystemConfiguration, await read(FIXUP_FILES.systemConfiguration)),
    disks: parseInput(FIXUP_FILES.replicaDiskMap, ReplicaDiskMap, await read(FIXUP_FILES.replicaDiskMap)),
    network: parseInput(FIXUP_FILES.networkInterfaceMap, NetworkInterfaceMap, await read(FIXUP_FILES.networkInterfaceMap)),
  };
}

const LINK = "\0symlink -> ";

/** Relative path -> content of every regular file and link (as "-> target") under root. */
export async function readTree(root: string, skip: (rel: string) => boolean = () => false): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  async function walk(dir: string): Promise<void> {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      const rel = relative(root, p);
      if (skip(rel)) continue;
      if (e.isDirectory()) await walk(p);
      else if (e.isSymbolicLink()) out.set(rel, Buffer.from(`${LINK}${await readlink(p)}`));
      else if (e.isFile()) out.set(rel, await readFile(p));
    }
  }
  if (existsSync(root)) await walk(root);
  return out;
}

export interface GoldenOptions {
  /** Steps to run (default: all). */
  only?: string[];
}

export interface GoldenOutcome {
  plan: string;
  warnings: string[];
  error?: string;
  tree: Map<string, Buffer>;
}

const DATA = GUEST_DATA_DIR.replace(/^\//, "");

export async function runCase(caseDir: string, opts: GoldenOptions = {}): Promise<GoldenOutcome> {
  const inputs = await loadCaseInputs(join(caseDir, "inputs"));
  const root = await copyTree(join(caseDir, "root"), "osam-golden-");
  try {
    const planned = await runStage1({ root, inputs, mode: "plan", log: new Logger(), ...(opts.only ? { only: opts.only } : {}) });
    const plan = renderPlan(planned.outcome.planned);
    const applied = await runStage1({ root, inputs, mode: "apply", log: new Logger(), ...(opts.only ? { only: opts.only } : {}), exec: async (argv) => ({ exitCode: 0, output: `golden: not run: ${argv.join(" ")}`, timedOut: false }) });
    const tree = await readTree(root, (rel) => rel === DATA || rel.startsWith(DATA + "/"));
    const failed = applied.result.status === "failed" ? `code ${applied.result.code}: ${applied.result.message}` : undefined;
    return { plan, warnings: applied.result.warnings, ...(failed ? { error: failed } : {}), tree };
  } finally {
    await removeTree(root);
  }
}

async function writeExpected(caseDir: string, o: GoldenOutcome): Promise<void> {
  const exp = join(caseDir, "expected");
  await rm(exp, { recursive: true, force: true });
  await mkdir(join(exp, "root"), { recursive: true });
  for (const [rel, data] of o.tree) {
    await mkdir(join(exp, "root", rel, ".."), { recursive: true });
    const t = data.toString("utf8");
    if (t.startsWith(LINK)) await symlink(t.slice(LINK.length), join(exp, "root", rel));
    else await writeFile(join(exp, "root", rel), data);
  }
  await writeFile(join(exp, "plan.txt"), o.plan);
  await writeFile(join(exp, "warnings.txt"), o.warnings.map((w) => w + "\n").join(""));
  if (o.error) await writeFile(join(exp, "error.txt"), o.error + "\n");
}

/** Registers one node:test test per case directory under dir. */
export async function goldenSuite(dir: string, opts: GoldenOptions = {}): Promise<void> {
  const cases = (await readdir(dir, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name).sort();
  for (const name of cases) {
    const caseDir = join(dir, name);
    test(`golden ${name}`, async () => {
      const o = await runCase(caseDir, opts);
      if (UPDATE) {
        await writeExpected(caseDir, o);
        return;
      }
      const exp = join(caseDir, "expected");
      assert.ok(existsSync(exp), `${exp} is missing: run with UPDATE_GOLDEN=1 and review the result`);
      const want = await readTree(join(exp, "root"));
      const got = o.tree;
      const missing = [...want.keys()].filter((k) => !got.has(k));
      const extra = [...got.keys()].filter((k) => !want.has(k));
      assert.deepEqual({ missing, extra }, { missing: [], extra: [] }, `${name}: files differ from expected/root`);
      for (const [k, v] of want) assert.equal(got.get(k)!.toString("utf8"), v.toString("utf8"), `${name}: ${k} differs from expected/root/${k}`);
      for (const [k, v] of want) assert.ok(got.get(k)!.equals(v), `${name}: ${k} differs byte for byte`);
      assert.equal(o.plan, await readFile(join(exp, "plan.txt"), "utf8"), `${name}: plan differs from expected/plan.txt`);
      assert.equal(o.warnings.map((w) => w + "\n").join(""), await readFile(join(exp, "warnings.txt"), "utf8"), `${name}: warnings differ`);
      const errFile = join(exp, "error.txt");
      assert.equal(o.error ? o.error + "\n" : undefined, existsSync(errFile) ? await readFile(errFile, "utf8") : undefined, `${name}: error differs`);
    });
  }
}
