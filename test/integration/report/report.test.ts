// The report pages in a real browser (Debian's chromium, no JavaScript): built from a real
// stage-1 run on the sample guest, from real migrations against vcsim (the pages the manager
// writes itself), from an e2e run when this machine has one, and a 300-migration wave.
// OSAM_REPORT_SHOTS=DIR also saves the screenshots the README shows.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import type { Page } from "playwright-core";
import { Result } from "../../../src/protocol/schemas.ts";
import { renderWavePage } from "../../../src/report/wave-page.ts";
import { filesIn, loadMigration } from "../../../src/report/load.ts";
import { REPO, SAMPLE, SKIP_CHROOT, copyTree, removeTree, tempDir } from "../../helpers/tree.ts";
import { launch, type Browser } from "./browser.ts";
import { synthWave } from "./wave-data.ts";

const MAIN = join(REPO, "src/cli/main.ts");
const SHOTS = process.env.OSAM_REPORT_SHOTS;
let browser: Browser;
let work: string;

function cli(...args: string[]): string {
  return execFileSync(process.execPath, [MAIN, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

/** A real stage-1 run on a copy of the sample guest, its logs collected as the manager names them. */
async function sampleRun(logDir: string, id: string): Promise<Result> {
  const root = await copyTree(join(SAMPLE, "root"));
  const fx = join(work, `fixup-${id}`);
  try {
    try {
      cli("apply", "--root", root, "--inputs", join(SAMPLE, "inputs"), "--fixup-dir", fx, ...SKIP_CHROOT, "-q");
    } catch (e) {
      throw new Error(`apply failed: ${(e as { stderr?: string }).stderr ?? String(e)}`);
    }
  } finally {
    await removeTree(root);
  }
  mkdirSync(logDir, { recursive: true });
  copyFileSync(join(fx, "result.json"), join(logDir, `${id}_result.json`));
  copyFileSync(join(fx, "fixup.log"), join(logDir, `${id}_fixup.log`));
  return Result.parse(JSON.parse(readFileSync(join(fx, "result.json"), "utf8")));
}

/** The + and - lines of a unified diff, as the page must show them. */
function diffLines(diff: string): { ins: string[]; del: string[] } {
  const lines = diff.split("\n").filter((l) => !l.startsWith("+++ ") && !l.startsWith("--- "));
  return { ins: lines.filter((l) => l.startsWith("+")).map((l) => l.slice(1)), del: lines.filter((l) => l.startsWith("-")).map((l) => l.slice(1)) };
}

function attrSel(v: string): string {
  return JSON.stringify(v);
}

/** The checks every migration page must pass against its result.json. */
async function checkMigrationPage(page: Page, r: Result | undefined, state: string): Promise<void> {
  const verdict = page.locator("#verdict");
  assert.equal(await verdict.getAttribute("data-state"), state);
  assert.ok(await verdict.isVisible(), "the verdict shows");
  if (!r) return;
  assert.ok((await verdict.textContent())?.includes(state));
  for (const s of r.steps) {
    const bar = page.locator(`figure[data-timeline="stage1-steps"] g.bar[data-bar=${attrSel(s.name)}]`);
    assert.equal(await bar.count(), 1, `one bar for step ${s.name}`);
    assert.equal(Number(await bar.getAttribute("data-ms")), s.durationMs, `bar of ${s.name}: its duration`);
    assert.equal(await bar.getAttribute("data-kind"), s.status);
    const box = await bar.locator("rect").first().boundingBox();
    assert.ok(box && box.width > 0 && box.height > 0, `bar of ${s.name} is drawn`);
    for (const c of s.changes) {
      const sel = `article.change[data-step=${attrSel(s.name)}][data-action=${attrSel(c.action)}]${c.path !== undefined ? `[data-path=${attrSel(c.path)}]` : ""}`;
      const art = page.locator(sel);
      assert.ok((await art.count()) >= 1, `change ${sel}`);
      const texts = await art.locator(".reason").allTextContents();
      assert.ok(texts.includes(c.reason), `the reason of ${sel}`);
      if (c.diff === undefined) continue;
      const want = diffLines(c.diff);
      const one = art.filter({ has: page.locator(".diff") }).first();
      // what the page shows as added and removed lines is exactly the diff's
      const ins = (await one.locator("td.d2h-ins .d2h-code-line-ctn").allTextContents()).map((t) => t.replace(/\u00a0/g, " "));
      const del = (await one.locator("td.d2h-del .d2h-code-line-ctn").allTextContents()).map((t) => t.replace(/\u00a0/g, " "));
      assert.deepEqual(ins, want.ins, `added lines of ${c.path}`);
      assert.deepEqual(del, want.del, `removed lines of ${c.path}`);
    }
  }
}

before(async () => {
  work = await tempDir("osam-report-");
  browser = await launch();
  if (SHOTS) mkdirSync(SHOTS, { recursive: true });
});

after(async () => {
  await browser?.close();
  if (work) await removeTree(work);
});

test("report of a real stage-1 run: verdict, a bar per step, every diff as in result.json, no request", { timeout: 240_000 }, async () => {
  const logs = join(work, "sample");
  const r = await sampleRun(logs, "web-042");
  assert.ok(r.steps.some((s) => s.changes.some((c) => c.diff)), "the run recorded diffs");
  const out = cli("report", join(logs, "web-042_result.json")).trim();
  assert.equal(out, join(logs, "web-042_report.html"));
  const { page, requests, loadMs } = await browser.open(out);
  console.log(`# migration page: ${statSync(out).size} bytes, loaded in ${loadMs.toFixed(0)} ms, ${r.steps.length} steps, ${r.steps.reduce((a, s) => a + s.changes.filter((c) => c.diff).length, 0)} diffs`);
  await checkMigrationPage(page, r, r.status);
  assert.equal(await page.locator("script").count(), 0);
  assert.ok((await page.locator("#log details pre").textContent())?.includes("stage 1 (apply)"), "the full log, folded");
  if (r.steps.length && readFileSync(join(logs, "web-042_result.json"), "utf8").includes('"timings"')) assert.ok((await page.locator('figure[data-timeline="stage1-phases"] g.bar').count()) > 0, "phase bars from the timings");
  assert.deepEqual(requests, [pathToFileURL(out).href], "no request but the page itself");
  if (SHOTS) {
    await page.setViewportSize({ width: 1280, height: 1700 });
    await page.screenshot({ path: join(SHOTS, "report-migration.png") });
  }
  await page.close();
});

test("hostile guest strings are shown as text, never as markup", { timeout: 120_000 }, async () => {
  const logs = join(work, "hostile");
  const r = await sampleRun(logs, "evil");
  const x = `<script>document.title='pwned'</script><img src="http://127.0.0.1:9/x.png"><link rel=stylesheet href="http://127.0.0.1:9/s.css">`;
  const step = r.steps.find((s) => s.changes.some((c) => c.diff));
  assert.ok(step);
  const change = step.changes.find((c) => c.diff)!;
  change.reason = `reason ${x}`;
  change.diff = `--- a${change.path}\n+++ b${change.path}\n@@ -1 +1 @@\n-old ${x}\n+new ${x}\n`;
  step.warnings.push(`warning ${x}`);
  r.warnings.push(`warning ${x}`);
  r.message = `message ${x}`;
  writeFileSync(join(logs, "evil_result.json"), JSON.stringify(r));
  writeFileSync(join(logs, "evil_fixup.log"), `2026-01-01T00:00:00.000Z INFO  exec (chroot /mnt): echo '${x}'\n    | ${x}\n2026-01-01T00:00:00.100Z INFO  exec: exit 0 after 100 ms\n`);
  writeFileSync(join(logs, "evil_stage2.json"), JSON.stringify({ status: "failed", reason: x, warnings: [x] }));
  const out = cli("report", join(logs, "evil_result.json")).trim();
  const html = readFileSync(out, "utf8");
  assert.ok(!html.includes("<script"), "no script element");
  assert.ok(!/<img|<link/i.test(html), "no img or link element");
  const { page, requests } = await browser.open(out);
  assert.equal(await page.title(), `evil: ${r.status}`, "the title is ours, not the guest's");
  assert.equal(await page.locator("script, img, link").count(), 0);
  assert.ok((await page.locator("#verdict").textContent())?.includes(x), "the message, as text");
  assert.ok((await page.locator("#commands pre").first().textContent())?.includes(x), "command output, as text");
  assert.deepEqual(requests, [pathToFileURL(out).href]);
  await page.close();
});

test("vcsim: the pages migrate writes (each migration, then the wave) match the state and the results", { timeout: 900_000 }, async () => {
  const { runVcsimWave } = await import("./vcsim-wave.ts");
  const logs = join(work, "vcsim-logs");
  const { states, stateDir } = await runVcsimWave(work, logs);
  const early = [...states].filter(([id]) => !existsSync(join(logs, `${id}_result.json`)));
  assert.deepEqual(early.map(([id, st]) => [id, st.status]), [["rep-nodisk1", "failed"]], "one migration stopped before its logs were collected");
  assert.ok(existsSync(join(logs, "index.html")), "the wave page");
  const { page, requests, loadMs } = await browser.open(join(logs, "index.html"));
  console.log(`# vcsim wave page: ${states.size} migrations, ${statSync(join(logs, "index.html")).size} bytes, loaded in ${loadMs.toFixed(0)} ms`);
  for (const [id, st] of states) {
    const row = page.locator(`table.wave tr[data-id=${attrSel(id)}]`);
    assert.equal(await row.getAttribute("data-state"), st.status, `${id} in the wave table`);
    const href = await row.locator("a").getAttribute("href");
    assert.equal(href, `${id}_report.html`);
    const file = join(logs, `${id}_report.html`);
    const m = await browser.open(file);
    const r = existsSync(join(logs, `${id}_result.json`)) ? Result.parse(JSON.parse(readFileSync(join(logs, `${id}_result.json`), "utf8"))) : undefined;
    await checkMigrationPage(m.page, r, st.status);
    for (const s of st.steps.filter((x) => x.durationMs !== undefined)) {
      const bar = m.page.locator(`figure[data-timeline="migration-steps"] g.bar[data-bar=${attrSel(s.name)}]`);
      assert.equal(Number(await bar.getAttribute("data-ms")), s.durationMs, `${id}: manager step ${s.name}`);
    }
    if (st.error?.code !== undefined) assert.equal(await m.page.locator("#verdict").getAttribute("data-code"), String(st.error.code));
    assert.deepEqual(m.requests, [pathToFileURL(file).href]);
    await m.page.close();
  }
  const failed = [...states.values()].filter((s) => s.status === "failed");
  assert.ok(failed.length >= 1 && failed.length < states.size, "the wave has both outcomes");
  for (const [id, st] of states) {
    if (st.status !== "failed") continue;
    // in exactly one group of failures, the one of its code
    const groups = page.locator(".failure-group").filter({ has: page.locator(`a[href=${attrSel(`${id}_report.html`)}]`) });
    assert.equal(await groups.count(), 1, `${id} in one failure group`);
    assert.equal(await groups.getAttribute("data-code"), String(st.error?.code ?? "none"), `${id}: the group of its code`);
  }
  assert.equal(await page.locator(`ul.counts li[data-state="failed"] b`).textContent(), String(failed.length));
  assert.deepEqual(requests, [pathToFileURL(join(logs, "index.html")).href]);
  await page.close();
  // the CLI on the same log directory: with the state directory it knows every migration, without it those with logs
  const withState = join(work, "vcsim-with-state.html");
  cli("report", logs, "--state-dir", stateDir, "--out", withState);
  const without = join(work, "vcsim-without-state.html");
  cli("report", logs, "--out", without);
  const rowsOf = (f: string) => [...readFileSync(f, "utf8").matchAll(/<tr data-id="([^"]+)" data-state="([^"]+)"/g)].map((m) => `${m[1]} ${m[2]}`);
  assert.deepEqual(rowsOf(withState), [...states].map(([id, st]) => `${id} ${st.status}`).sort());
  assert.deepEqual(rowsOf(without), [...states].filter(([id]) => !early.some(([e]) => e === id)).map(([id, st]) => `${id} ${existsSync(join(logs, `${id}_result.json`)) ? (Result.parse(JSON.parse(readFileSync(join(logs, `${id}_result.json`), "utf8"))).status) : st.status}`).sort());
});

test("e2e: the pages of the newest e2e runs on this machine", { timeout: 120_000 }, async (t) => {
  const runs = join(process.env.OSAM_E2E_DIR ?? "/var/tmp/osam-e2e", "runs");
  // the harness keeps <id>_result.json in the run directory, a migrate run in its logs/
  const results = existsSync(runs)
    ? readdirSync(runs)
        .flatMap((d) => [join(runs, d), join(runs, d, "logs")])
        .filter((d) => existsSync(d) && statSync(d).isDirectory())
        .flatMap((d) => readdirSync(d).filter((f) => f.endsWith("_result.json")).map((f) => join(d, f)))
    : [];
  if (!results.length) {
    t.skip(`no e2e run with a result.json under ${runs} on this machine`);
    return;
  }
  for (const res of results.slice(-3)) {
    const d = res.replace(/\/[^/]*$/, "");
    const out = join(work, `e2e-${res.split("/").slice(-3).join("-")}.html`);
    cli("report", res, "--out", out);
    const r = Result.parse(JSON.parse(readFileSync(res, "utf8")));
    const { page, requests, loadMs } = await browser.open(out);
    console.log(`# e2e ${d}: ${statSync(out).size} bytes, loaded in ${loadMs.toFixed(0)} ms`);
    await checkMigrationPage(page, r, r.status);
    assert.deepEqual(requests, [pathToFileURL(out).href]);
    await page.close();
  }
});

test("a 300-migration wave page loads in under 2 s", { timeout: 240_000 }, async () => {
  const logs = join(work, "wave-300");
  await sampleRun(logs, "seed");
  const ms = synthWave(loadMigration("seed", filesIn(logs, "seed")), 300);
  const file = join(logs, "index.html");
  const t0 = performance.now();
  writeFileSync(file, renderWavePage(ms, { title: "Wave 300" }));
  const renderMs = performance.now() - t0;
  const { page, requests, loadMs } = await browser.open(file);
  console.log(`# 300-migration wave page: ${statSync(file).size} bytes, rendered in ${renderMs.toFixed(0)} ms, loaded in ${loadMs.toFixed(0)} ms`);
  assert.equal(await page.locator("table.wave tbody tr").count(), 300);
  assert.deepEqual(requests, [pathToFileURL(file).href]);
  assert.ok(loadMs < 2000, `loaded in ${loadMs.toFixed(0)} ms`);
  if (SHOTS) {
    await page.setViewportSize({ width: 1280, height: 1800 });
    await page.screenshot({ path: join(SHOTS, "report-wave.png") });
  }
  await page.close();
});
