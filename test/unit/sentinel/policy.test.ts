// Stage 1's part of the stage-2 policy (issue 18): options.requireTools rendered into the
// sentinel, and the console watchdog planned as changes like everything else (journaled,
// listed in the manifest the sentinel removes, links before the units they start), only
// where single-user mode opens a root shell without a password.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { runStage1 } from "../../../src/agent/stage1.ts";
import { WATCHDOG_NAME, WATCHDOG_SERVICE_PATH, WATCHDOG_TIMER_PATH, WATCHDOG_WANTS } from "../../../src/fixups/sentinel.ts";
import type { Inputs } from "../../../src/protocol/inputs.ts";
import { GUEST_JOURNAL, NO_PASSWORD_DROPINS, SENTINEL_SCRIPT, stage2Path } from "../../../src/protocol/files.ts";
import { Logger } from "../../../src/util/log.ts";
import { loadCaseInputs } from "../../helpers/golden.ts";
import { copyTree, removeTree } from "../../helpers/tree.ts";

const GOLDEN = new URL("../../golden/sentinel/", import.meta.url).pathname;
const STEPS = ["stage2-state", "single-user", "selinux", "foreign-tools", "sentinel"];
const noExec = async () => ({ exitCode: 0, output: "", timedOut: false });
const g = (root: string, p: string) => join(root, p);

async function withStage1<T>(name: string, options: NonNullable<Inputs["system"]["options"]>, fn: (root: string, warnings: string[]) => Promise<T>): Promise<T> {
  const root = await copyTree(join(GOLDEN, name, "root"), "osam-policy-");
  try {
    const inputs = await loadCaseInputs(join(GOLDEN, name, "inputs"));
    inputs.system.options = { ...inputs.system.options, ...options };
    const r = await runStage1({ root, inputs, mode: "apply", log: new Logger(), only: STEPS, exec: noExec });
    assert.equal(r.result.status, "succeeded", r.result.message);
    return await fn(root, r.result.warnings);
  } finally {
    await removeTree(root);
  }
}

const manifest = async (root: string) => (await readFile(g(root, stage2Path("manifest")), "utf8")).split("\n").filter((l) => l.startsWith("/"));

test("options.requireTools is rendered into the sentinel: 'yes' when true, 'no' by default", async () => {
  await withStage1("rhel8-systemd", { requireTools: true }, async (root) => {
    assert.match(await readFile(g(root, SENTINEL_SCRIPT), "utf8"), /^REQUIRE_TOOLS='yes'$/m);
  });
  await withStage1("rhel8-systemd", {}, async (root) => {
    assert.match(await readFile(g(root, SENTINEL_SCRIPT), "utf8"), /^REQUIRE_TOOLS='no'$/m);
  });
});

test("systemd: the watchdog timer, its service and its links are journaled and in the manifest, links before units, after the drop-ins", async () => {
  await withStage1("rhel8-systemd", {}, async (root) => {
    const m = await manifest(root);
    const at = (p: string) => {
      const i = m.indexOf(p);
      assert.ok(i >= 0, `${p} is not in the manifest:\n${m.join("\n")}`);
      return i;
    };
    for (const w of WATCHDOG_WANTS) assert.ok(at(w) < at(WATCHDOG_TIMER_PATH), `${w} before the timer it starts`);
    assert.ok(at(WATCHDOG_TIMER_PATH) < at(SENTINEL_SCRIPT) && at(WATCHDOG_SERVICE_PATH) < at(SENTINEL_SCRIPT));
    for (const d of NO_PASSWORD_DROPINS) assert.ok(at(d) < at(WATCHDOG_WANTS[0]!), "the drop-ins go first");
    const journal = await readFile(g(root, GUEST_JOURNAL), "utf8");
    for (const p of [WATCHDOG_TIMER_PATH, WATCHDOG_SERVICE_PATH, ...WATCHDOG_WANTS]) assert.ok(journal.includes(p), `${p} is not journaled`);
  });
});

test("SysV with SINGLE=: the watchdog init script and its S00 links are in the manifest; no systemd watchdog", async () => {
  await withStage1("rhel6-sysv", {}, async (root) => {
    const m = await manifest(root);
    const script = m.find((p) => p.endsWith(`/init.d/${WATCHDOG_NAME}`));
    assert.ok(script, m.join("\n"));
    const links = m.filter((p) => p.endsWith(`/S00${WATCHDOG_NAME}`));
    assert.equal(links.length, 5, "runlevels 1-5");
    assert.ok(links.every((l) => m.indexOf(l) < m.indexOf(script)), "links before the script");
    assert.ok(!m.includes(WATCHDOG_TIMER_PATH));
  });
});

test("installStage2 false: no sentinel and no watchdog, and a warning that nothing closes the console", async () => {
  await withStage1("rhel8-systemd", { installStage2: false }, async (root, warnings) => {
    assert.match(warnings.join("\n"), /nothing of osam-fixup closes the root shell without a password/);
    for (const p of [SENTINEL_SCRIPT, WATCHDOG_TIMER_PATH, WATCHDOG_SERVICE_PATH]) await assert.rejects(readFile(g(root, p)), `${p} installed`);
  });
  await withStage1("rhel8-systemd", { singleUserMode: false }, async (root, warnings) => {
    assert.doesNotMatch(warnings.join("\n"), /closes the root shell/);
    await assert.rejects(readFile(g(root, WATCHDOG_TIMER_PATH)), "no drop-ins, no watchdog");
  });
});
