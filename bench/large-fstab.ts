// A guest whose fstab has a million lines (issue 12, kind 8): every tenth names a source disk
// and is rewritten to UUID=, the rest are bind mounts left alone, so the plan's diff has a
// hundred thousand hunks spread over the whole file. The unit test checks the plan; `npm run
// bench` prints how long `osam-fixup plan` takes on it and its peak memory.
import { spawnSync } from "node:child_process";
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runStage1 } from "../src/agent/stage1.ts";
import { renderPlan } from "../src/engine/render.ts";
import { contentBuffer } from "../src/engine/changes.ts";
import { loadInputs } from "../src/protocol/inputs.ts";
import { Logger } from "../src/util/log.ts";

const REPO = new URL("..", import.meta.url).pathname;
const SAMPLE = join(REPO, "examples/debian12-kvm");
export const LARGE_FSTAB_LINES = 1_000_000;

export interface LargeTree {
  root: string;
  before: string;
  headerLines: number;
  changedLines: number;
}

/** A copy of the sample guest with a fstab of `lines` more lines; remove `root` when done. */
export async function largeFstabTree(lines = LARGE_FSTAB_LINES): Promise<LargeTree> {
  const root = await mkdtemp(join(tmpdir(), "osam-large-fstab-"));
  await cp(join(SAMPLE, "root"), root, { recursive: true, verbatimSymlinks: true });
  const header = await readFile(join(SAMPLE, "root/etc/fstab"), "utf8");
  const headerLines = header.split("\n").length - 1;
  const body: string[] = [];
  let changedLines = header.split("\n").filter((l) => /^\/dev\/vd/.test(l)).length;
  for (let i = 0; i < lines; i++) {
    if (i % 10 === 5) {
      body.push(`/dev/vdb1 /srv/data/d${i} xfs defaults 0 2`);
      changedLines++;
    } else body.push(`/srv/data/d${i - (i % 10) + 5} /exports/e${i} none bind 0 0`);
  }
  const before = header + body.join("\n") + "\n";
  await writeFile(join(root, "etc/fstab"), before);
  return { root, before, headerLines, changedLines };
}

export interface LargePlan extends Omit<LargeTree, "root"> {
  status: string;
  message: string;
  after: string;
  /** The printed diff of each written file, by guest path. */
  patches: Map<string, string>;
}

/** Plans every step on the large tree, in this process, and splits the printed plan per file. */
export async function planLargeFstab(lines = LARGE_FSTAB_LINES): Promise<LargePlan> {
  const t = await largeFstabTree(lines);
  try {
    const { result, outcome } = await runStage1({ root: t.root, inputs: await loadInputs(join(SAMPLE, "inputs")), mode: "plan", log: new Logger() });
    const text = renderPlan(outcome.planned);
    const patches = new Map<string, string>();
    for (const section of text.split(/\n(?=# \[)/)) {
      const m = /^--- (?:a(\/\S+)|\/dev\/null)\n\+\+\+ (?:b(\/\S+)|\/dev\/null)$/m.exec(section);
      if (m) patches.set((m[1] ?? m[2])!, section.slice(m.index));
    }
    const w = outcome.planned.filter((p) => p.change.action === "write" && p.change.path === "/etc/fstab").at(-1);
    const after = w?.change.action === "write" ? contentBuffer(w.change.content).toString("utf8") : t.before;
    return { status: result.status, message: result.message, before: t.before, after, patches, headerLines: t.headerLines, changedLines: t.changedLines };
  } finally {
    await rm(t.root, { recursive: true, force: true });
  }
}

/** `osam-fixup plan` (from source) on the large tree: wall and CPU time (the machine may be busy) and peak RSS. */
export async function benchLargeFstab(): Promise<string> {
  const t = await largeFstabTree();
  try {
    const r = spawnSync("/usr/bin/time", ["-f", "%M %e %U %S", process.execPath, join(REPO, "src/cli/main.ts"), "plan", "--root", t.root, "--inputs", join(SAMPLE, "inputs")], { encoding: "utf8", maxBuffer: 1 << 30 });
    const [kib, secs, user, sys] = r.stderr.trim().split("\n").at(-1)!.split(" ").map(Number);
    const hunks = r.stdout.split("\n").filter((l) => l.startsWith("@@")).length;
    return `| plan, ${LARGE_FSTAB_LINES.toLocaleString("en")}-line fstab (${(t.before.length / 1048576).toFixed(0)} MiB, ${hunks.toLocaleString("en")} hunks) | ${secs!.toFixed(1)} s wall, ${(user! + sys!).toFixed(1)} s CPU, peak RSS ${(kib! / 1024).toFixed(0)} MiB (exit ${r.status}) |`;
  } finally {
    await rm(t.root, { recursive: true, force: true });
  }
}
