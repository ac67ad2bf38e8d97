// Golden fixtures, one harness and one format for every area:
// test/golden/<area>/<case>/{root/, inputs/, expected/}. Each case plans the selected steps
// (which must leave the tree as it was), then applies them to a private copy of root/ with a
// command runner that runs nothing and records each command, and compares, byte for byte:
//   expected/root/         every file and link of the tree after apply (the stage-1 data dir
//                          excluded), the executable bit included;
//   expected/plan.txt      the plan as `osam-fixup plan` prints it;
//   expected/warnings.txt  the warnings, one per line;
//   expected/error.txt     code and message, for a failed run only;
//   expected/commands.txt  the commands apply ran, environment first;
//   expected/summary.json  status, code, message, the files removed, the planned changes, and
//                          each step's status, changes and warnings.
// inputs/ holds any of the three maps (missing ones get small defaults: a migration id, BIOS,
// pvscsi/vmxnet3, one disk, so a case only writes what it is about) and, optionally,
// devices.json: what blkid would report on the fixup VM, and hardlinks.json: pairs of paths
// under root/ [file, other name] that git cannot store as hard links; the copy of root/ gets
// them, and after apply each pair must still be one file.
// UPDATE_GOLDEN (any value) rewrites expected/ from the actual results, for review in
// `git diff`. Such a case compared nothing: it is reported as skipped, never as passed, and
// under CI=true the flag fails the case instead of rewriting anything.
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { chmod, copyFile, link, lstat, mkdir, readdir, readFile, readlink, rm, symlink, writeFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { runStage1 } from "../../src/agent/stage1.ts";
import { renderPlan } from "../../src/engine/render.ts";
import type { ExecRunner } from "../../src/engine/exec.ts";
import type { KnownDevice } from "../../src/fixups/types.ts";
import { parseInput, type Inputs } from "../../src/protocol/inputs.ts";
import { NetworkInterfaceMap, ReplicaDiskMap, SystemConfiguration } from "../../src/protocol/schemas.ts";
import { FIXUP_FILES, GUEST_BACKUP_DIR, GUEST_DATA_DIR } from "../../src/protocol/files.ts";
import { Logger } from "../../src/util/log.ts";
import { memoryDisks } from "./disks.ts";
import { copyTree, diffPrints, fingerprint, removeTree } from "./tree.ts";

/** Why UPDATE_GOLDEN may not be used in this environment, or undefined when it may. */
export function updateRefusal(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (!env.UPDATE_GOLDEN) return undefined;
  if (env.CI === "true") return `UPDATE_GOLDEN=${env.UPDATE_GOLDEN} is set under CI=true: a CI run compares goldens, it never rewrites them (unset UPDATE_GOLDEN)`;
  return undefined;
}

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

/**
 * What grub-install does to its platform directory, which stage 1 moved into the backup tree
 * whole and left empty: fills it again, here with the same version's files (the backup's).
 */
async function refillPlatformDir(root: string): Promise<void> {
  for (const dir of ["boot/grub/i386-pc", "boot/grub2/i386-pc"]) {
    const backup = join(root, GUEST_BACKUP_DIR, dir);
    if (!existsSync(backup) || (await readdir(join(root, dir))).length) continue;
    for (const n of await readdir(backup)) await copyFile(join(backup, n), join(root, dir, n));
  }
}

/** A regular file's bytes, or a link as LINK + target; and whether anyone may execute it. */
export interface TreeEntry {
  data: Buffer;
  executable: boolean;
}

/** Relative path -> every regular file and link under root. */
export async function readTree(root: string, skip: (rel: string) => boolean = () => false): Promise<Map<string, TreeEntry>> {
  const out = new Map<string, TreeEntry>();
  async function walk(dir: string): Promise<void> {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      const rel = relative(root, p);
      if (skip(rel)) continue;
      if (e.isDirectory()) await walk(p);
      else if (e.isSymbolicLink()) out.set(rel, { data: Buffer.from(`${LINK}${await readlink(p)}`), executable: false });
      else if (e.isFile()) out.set(rel, { data: await readFile(p), executable: ((await lstat(p)).mode & 0o111) !== 0 });
    }
  }
  if (existsSync(root)) await walk(root);
  return out;
}

export interface GoldenOptions {
  /** Steps to run (default: all). */
  only?: string[];
  /** The area has at least this many cases (a lost directory is a failure, not fewer tests). */
  minCases?: number;
}

export interface GoldenOutcome {
  plan: string;
  warnings: string[];
  error?: string;
  tree: Map<string, TreeEntry>;
  commands: string;
  summary: string;
}

const DATA = GUEST_DATA_DIR.replace(/^\//, "");
/** The product's directory and its parents: never a guest file a step is about. */
const PRODUCT = DATA.slice(0, DATA.lastIndexOf("/"));
const isProduct = (r: string) => r === PRODUCT || r.startsWith(PRODUCT + "/") || PRODUCT.startsWith(r + "/");

/** A command as a person would type it: environment first, odd arguments quoted. */
function commandLine(argv: string[], env: Record<string, string> = {}): string {
  const vars = Object.entries(env).map(([k, v]) => `${k}=${v} `).join("");
  return `${vars}${argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a}'`)).join(" ")}`;
}

export async function runCase(caseDir: string, opts: GoldenOptions = {}): Promise<GoldenOutcome> {
  const inputs = await loadCaseInputs(join(caseDir, "inputs"));
  const devicesFile = join(caseDir, "inputs/devices.json");
  const devices = existsSync(devicesFile) ? (JSON.parse(await readFile(devicesFile, "utf8")) as KnownDevice[]) : undefined;
  const only = opts.only ? { only: opts.only } : {};
  const root = await copyTree(join(caseDir, "root"), "osam-golden-");
  try {
    const linksFile = join(caseDir, "inputs/hardlinks.json");
    const links = existsSync(linksFile) ? (JSON.parse(await readFile(linksFile, "utf8")) as [string, string][]) : [];
    for (const [file, other] of links) {
      await rm(join(root, other), { force: true });
      await link(join(root, file), join(root, other));
    }
    const before = await fingerprint(root);
    const planned = await runStage1({ root, inputs, mode: "plan", log: new Logger(), ...(devices ? { devices } : {}), ...only });
    assert.deepEqual(diffPrints(before, await fingerprint(root)), [], "plan changed the tree");
    const plan = renderPlan(planned.outcome.planned);

    const commands: string[] = [];
    const exec: ExecRunner = async (argv, o) => {
      commands.push(commandLine(argv, o?.env));
      if (/^grub2?-install$/.test(argv[0] ?? "") && argv.includes("--target=i386-pc")) await refillPlatformDir(root);
      return { exitCode: 0, output: "", timedOut: false };
    };
    const { result } = await runStage1({ root, inputs, mode: "apply", log: new Logger(), ...(devices ? { devices } : {}), exec, disks: memoryDisks(), ...only });
    for (const [file, other] of links) assert.equal((await lstat(join(root, other))).ino, (await lstat(join(root, file))).ino, `${other} is no longer a hard link to ${file}`);
    const tree = await readTree(root, (rel) => rel === DATA || rel.startsWith(DATA + "/"));
    const after = await fingerprint(root, isProduct);
    const removed = [...before.keys()].filter((p) => !after.has(p) && !isProduct(p));
    const summary = {
      status: result.status,
      code: result.code,
      message: result.message,
      removed,
      planned: planned.outcome.planned.map((p) => `${p.step}: ${p.change.action} ${p.change.action === "exec" ? p.change.argv.join(" ") : p.change.path}`),
      steps: result.steps.map((s) => ({ name: s.name, status: s.status, changes: s.changes, warnings: s.warnings })),
    };
    const failed = result.status === "failed" ? `code ${result.code}: ${result.message}` : undefined;
    return {
      plan,
      warnings: result.warnings,
      ...(failed ? { error: failed } : {}),
      tree,
      commands: commands.map((c) => c + "\n").join(""),
      summary: JSON.stringify(summary, null, 2) + "\n",
    };
  } finally {
    await removeTree(root);
  }
}

/** The expected files other than root/, as the case's outcome gives them. */
function textFiles(o: GoldenOutcome): Record<string, string | undefined> {
  return {
    "plan.txt": o.plan,
    "warnings.txt": o.warnings.map((w) => w + "\n").join(""),
    "error.txt": o.error ? o.error + "\n" : undefined,
    "commands.txt": o.commands,
    "summary.json": o.summary,
  };
}

async function writeExpected(caseDir: string, o: GoldenOutcome): Promise<void> {
  const exp = join(caseDir, "expected");
  await rm(exp, { recursive: true, force: true });
  await mkdir(join(exp, "root"), { recursive: true });
  for (const [rel, e] of o.tree) {
    const p = join(exp, "root", rel);
    await mkdir(join(p, ".."), { recursive: true });
    const t = e.data.toString("utf8");
    if (t.startsWith(LINK)) await symlink(t.slice(LINK.length), p);
    else {
      await writeFile(p, e.data);
      await chmod(p, e.executable ? 0o755 : 0o644);
    }
  }
  for (const [name, text] of Object.entries(textFiles(o))) if (text !== undefined) await writeFile(join(exp, name), text);
}

async function compare(name: string, caseDir: string, o: GoldenOutcome): Promise<void> {
  const exp = join(caseDir, "expected");
  assert.ok(existsSync(exp), `${exp} is missing: run with UPDATE_GOLDEN=1 and review the result`);
  const want = await readTree(join(exp, "root"));
  const got = o.tree;
  const missing = [...want.keys()].filter((k) => !got.has(k));
  const extra = [...got.keys()].filter((k) => !want.has(k));
  assert.deepEqual({ missing, extra }, { missing: [], extra: [] }, `${name}: files differ from expected/root`);
  for (const [k, w] of want) {
    const g = got.get(k)!;
    assert.equal(g.data.toString("utf8"), w.data.toString("utf8"), `${name}: ${k} differs from expected/root/${k}`);
    assert.ok(g.data.equals(w.data), `${name}: ${k} differs byte for byte`);
    assert.equal(g.executable, w.executable, `${name}: ${k} is ${g.executable ? "" : "not "}executable, expected/root/${k} is ${w.executable ? "" : "not "}`);
  }
  for (const [file, text] of Object.entries(textFiles(o))) {
    const p = join(exp, file);
    assert.equal(text, existsSync(p) ? await readFile(p, "utf8") : undefined, `${name}: ${file} differs from expected/${file}`);
  }
}

/** Registers one node:test test per case directory (one with a root/) under dir. */
export async function goldenSuite(dir: string, opts: GoldenOptions = {}): Promise<void> {
  const cases = (await readdir(dir, { withFileTypes: true })).filter((e) => e.isDirectory() && existsSync(join(dir, e.name, "root"))).map((e) => e.name).sort();
  if (opts.minCases) {
    test(`there are at least ${opts.minCases} golden cases in ${relative(process.cwd(), dir) || dir}`, () => {
      assert.ok(cases.length >= opts.minCases!, `found ${cases.length}: ${cases.join(", ")}`);
    });
  }
  for (const name of cases) {
    const caseDir = join(dir, name);
    test(`golden ${name}`, async (t: TestContext) => {
      const refused = updateRefusal();
      assert.equal(refused, undefined, refused);
      const o = await runCase(caseDir, opts);
      if (process.env.UPDATE_GOLDEN) {
        await writeExpected(caseDir, o);
        t.skip(`UPDATE_GOLDEN: expected/ rewritten from this run, nothing compared (review git diff ${relative(process.cwd(), caseDir)})`);
        return;
      }
      await compare(name, caseDir, o);
    });
  }
}
