// Report rendering without a browser: escaping of hostile guest strings, the timeline bars, the
// commands parsed from a real fixup.log, the wave's counts and groups, and result diffs.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execFileSync } from "node:child_process";
import { changeDiff, MAX_RESULT_DIFF } from "../../../src/engine/diff.ts";
import { chrootRunner } from "../../../src/engine/exec.ts";
import type { Result } from "../../../src/protocol/schemas.ts";
import { Logger } from "../../../src/util/log.ts";
import { diffHtml } from "../../../src/report/diff-html.ts";
import { esc, fmtMs } from "../../../src/report/html.ts";
import { commandsOf, type MigrationInput } from "../../../src/report/load.ts";
import { phaseBars, renderMigrationPage, stepBars } from "../../../src/report/migration-page.ts";
import { renderWavePage } from "../../../src/report/wave-page.ts";

const EVIL = `<script>alert(1)</script><img src=x onerror=alert(2)>"'&`;

function result(over: Partial<Result> = {}): Result {
  return {
    migrationId: "m1",
    status: "succeeded",
    code: 0,
    message: "stage 1 succeeded",
    startedAt: "2026-01-01T00:00:00.000Z",
    finishedAt: "2026-01-01T00:00:02.000Z",
    durationMs: 2000,
    version: "test",
    guest: {},
    steps: [
      { name: "device-refs", status: "changed", durationMs: 300, changes: [{ action: "write", path: "/etc/fstab", reason: "by UUID", diff: "--- a/etc/fstab\n+++ b/etc/fstab\n@@ -1 +1 @@\n-/dev/vda1 / ext4\n+UUID=1 / ext4\n" }], warnings: [] },
      { name: "initrd", status: "changed", durationMs: 1200, changes: [{ action: "exec", argv: ["update-initramfs", "-u"], reason: "drivers" }], warnings: [] },
    ],
    warnings: [],
    ...over,
  };
}

test("esc and fmtMs", () => {
  assert.equal(esc(EVIL), "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;&quot;&#39;&amp;");
  assert.equal(esc(undefined), "");
  assert.equal(esc({ a: "<" }), "{&quot;a&quot;:&quot;&lt;&quot;}");
  assert.deepEqual([fmtMs(850), fmtMs(12_340), fmtMs(245_000), fmtMs(3_725_000), fmtMs(undefined)], ["850 ms", "12.3 s", "4 min 05 s", "1 h 02 min", "–"]);
});

test("a migration page escapes every guest string and carries no script", () => {
  const r = result({ status: "failed", code: 310, message: `msg ${EVIL}`, step: "initrd", warnings: [`w ${EVIL}`] });
  r.steps[0]!.changes[0]!.reason = `reason ${EVIL}`;
  r.steps[0]!.changes[0]!.path = `/etc/${EVIL}`;
  r.steps[0]!.changes[0]!.diff = `--- a/etc/${EVIL}\n+++ b/etc/${EVIL}\n@@ -1 +1 @@\n-${EVIL}\n+${EVIL}2\n`;
  r.steps[1]!.status = "failed";
  r.steps[1]!.error = { code: 310, message: `failed ${EVIL}` };
  const m: MigrationInput = {
    id: "m1",
    result: r,
    log: `2026-01-01T00:00:00.000Z INFO  exec (chroot /mnt): ${EVIL}\n    | out ${EVIL}\n2026-01-01T00:00:01.000Z INFO  exec: exit 1 after 1000 ms\n`,
    stage2: { status: "failed", reason: EVIL, nested: { [EVIL]: [EVIL, true] } },
    preflight: { verdict: "blocked", findings: [{ code: "LUKS_ROOT", severity: "blocker", file: `/etc/${EVIL}`, line: 3, why: EVIL, todo: EVIL }] },
    notes: [EVIL],
  };
  const html = renderMigrationPage(m);
  assert.ok(!/<script|<img|onerror=alert\(2\)>/i.test(html.replace(/&lt;[^&]*&gt;/g, "")), "no markup from the guest");
  assert.ok(!html.includes("<script"));
  assert.ok(!html.includes("<img"));
  assert.ok(html.includes("&lt;script&gt;alert(1)&lt;/script&gt;"));
  assert.match(html, /<p id="verdict" data-state="failed" data-code="310">/);
  assert.match(html, /INITRD_FAILED/);
  assert.match(html, /What to do:/);
  assert.match(html, /<tr class="finding" data-code="LUKS_ROOT">/);
  assert.match(html, /<details class="command failed">/);
});

test("the first-boot verification: a row per check, failures first, the guest's strings escaped; a missing or malformed one says so", () => {
  const check = (name: string, status: "ok" | "failed" | "skipped", subject: string) => ({ check: name, subject, status, code: status === "failed" ? "ADDRESS_MISSING" : status === "skipped" ? "NOT_APPLICABLE" : "OK", expected: "10.0.3.15/24", actual: status === "failed" ? "" : "10.0.3.15/24", detail: `d ${EVIL}` });
  const verify = { version: 1, verified: false, summary: `not verified: eth1 lacks 10.0.3.15/24 ${EVIL}`, hypervisor: "vmware", checks: [check("root", "ok", "/"), check("tools", "skipped", "vmtoolsd"), check("address", "failed", `eth1 ${EVIL}`)], startedAt: "t0", finishedAt: "t1", log: "/var/log/osam-verify.log" };
  const html = renderMigrationPage({ id: "m1", result: result(), verify, notes: [] });
  assert.ok(!html.includes("<script") && !html.includes("<img"));
  const section = /<section id="first-boot">[\s\S]*?<\/section>/.exec(html)?.[0] ?? "";
  assert.match(section, /<span class="badge bad">not verified<\/span>/);
  assert.deepEqual([...section.matchAll(/<tr class="check" data-status="(\w+)">/g)].map((x) => x[1]), ["failed", "skipped", "ok"]);
  assert.match(section, /ADDRESS_MISSING/);
  assert.match(renderMigrationPage({ id: "m1", result: result(), notes: [] }), /No first-boot verification was collected/);
  assert.match(renderMigrationPage({ id: "m1", result: result(), verify: { verified: "yes" }, notes: [] }), /verification.json does not match its schema/);
});

test("step bars: end to end without timings, placed by their phases with them; one bar per phase", () => {
  const r = result();
  assert.deepEqual(stepBars(r, undefined).map((b) => [b.key, b.segments[0]?.startMs, b.totalMs, b.kind]), [
    ["device-refs", 0, 300, "changed"],
    ["initrd", 300, 1200, "changed"],
  ]);
  const timings = [
    { phase: "validate", step: "initrd", startMs: 10, durationMs: 5 },
    { phase: "plan", step: "device-refs", startMs: 100, durationMs: 50 },
    { phase: "plan", step: "initrd", startMs: 500, durationMs: 20 },
    { phase: "exec", step: "initrd", what: "update-initramfs -u", startMs: 520, durationMs: 1100 },
  ];
  assert.deepEqual(stepBars(r, timings).map((b) => [b.key, b.segments[0]?.startMs]), [
    ["device-refs", 100],
    ["initrd", 500],
  ]);
  const phases = phaseBars(timings);
  assert.deepEqual(phases.map((b) => [b.key, b.segments.length, b.totalMs]), [
    ["validate", 1, 5],
    ["plan", 2, 70],
    ["exec", 1, 1100],
  ]);
  assert.match(phases[2]!.segments[0]!.title, /update-initramfs -u/);
});

test("commands come from fixup.log as the engine writes it", { skip: process.getuid?.() !== 0 && "chroot needs root" }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "osam-report-"));
  try {
    const log = new Logger({ file: join(dir, "fixup.log") });
    const run = chrootRunner("/", log);
    await run(["sh", "-c", "echo one; echo '<b>two</b>' >&2"]);
    log.info("something between");
    await run(["sh", "-c", "exit 3"]);
    const cmds = commandsOf(readFileSync(join(dir, "fixup.log"), "utf8"));
    assert.equal(cmds.length, 2);
    assert.equal(cmds[0]?.command, `sh -c 'echo one; echo '\\''<b>two</b>'\\'' >&2'`);
    assert.equal(cmds[0]?.output, "one\n<b>two</b>");
    assert.equal(cmds[0]?.exitCode, 0);
    assert.ok((cmds[0]?.durationMs ?? -1) >= 0);
    assert.match(cmds[0]?.time ?? "", /^\d{4}-\d\d-\d\dT/);
    assert.deepEqual([cmds[1]?.exitCode, cmds[1]?.output], [3, ""]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a wave page: a row and a link per migration, counts per state, failures by code, slowest steps", () => {
  const ok = (id: string, ms: number): MigrationInput => ({ id, result: result({ migrationId: id, durationMs: ms, steps: [{ name: "initrd", status: "changed", durationMs: ms, changes: [], warnings: [] }] }), notes: [] });
  const bad = (id: string, code: number): MigrationInput => ({ id, result: result({ migrationId: id, status: "failed", code, message: `failed ${EVIL}` }), notes: [] });
  const stuck: MigrationInput = { id: "a b&c", state: { status: "failed", steps: [{ name: "wait-end", status: "failed", durationMs: 9000 }], error: { step: "wait-end", message: "timed out" } }, notes: [] };
  const html = renderWavePage([ok("m1", 100), ok("m2", 5000), bad("m3", 310), bad("m4", 310), bad("m5", 204), stuck]);
  assert.equal((html.match(/<tr data-id=/g) ?? []).length, 6);
  assert.match(html, /<li data-state="succeeded"><span class="badge ok">succeeded<\/span> <b>2<\/b><\/li>/);
  assert.match(html, /<li data-state="failed"><span class="badge bad">failed<\/span> <b>4<\/b><\/li>/);
  assert.match(html, /<div class="failure-group" data-code="310"><h3>code 310 <code>INITRD_FAILED<\/code>: 2 migration\(s\)/);
  assert.match(html, /data-code="none"><h3>no code, stopped in <code>wait-end<\/code>/);
  assert.ok(html.includes(`href="a%20b%26c_report.html"`), "links are encoded");
  // the slowest step across the wave first, with where it took longest
  assert.match(html, /<tr data-step="wait-end">.*?<td class="num">9.00 s<\/td>/);
  assert.match(html, /<tr data-step="initrd"><td><code>initrd<\/code><\/td><td class="muted">stage 1<\/td><td class="num">\d+<\/td><td class="num">[^<]+<\/td><td class="num">5.00 s<\/td><td><a href="m2_report.html">m2<\/a>/);
  assert.ok(!html.includes("<script"));
});

test("result diffs: created, changed, removed, unchanged, binary, and cut when long", () => {
  const w = (content: string) => ({ action: "write" as const, path: "/etc/x", content, reason: "r" });
  assert.match(changeDiff(w("a\n"), undefined) ?? "", /^--- \/dev\/null\n\+\+\+ b\/etc\/x\n@@ -0,0 \+1(,1)? @@\n\+a\n/);
  assert.match(changeDiff(w("b\n"), Buffer.from("a\n")) ?? "", /^--- a\/etc\/x\n\+\+\+ b\/etc\/x\n@@ -1(,1)? \+1(,1)? @@\n-a\n\+b\n/);
  assert.match(changeDiff({ action: "remove", path: "/etc/x", reason: "r" }, Buffer.from("a\n")) ?? "", /\+\+\+ \/dev\/null/);
  assert.equal(changeDiff(w("a\n"), Buffer.from("a\n")), undefined);
  assert.equal(changeDiff({ action: "remove", path: "/etc/x", reason: "r" }, undefined), undefined);
  assert.equal(changeDiff({ action: "exec", argv: ["true"], reason: "r" }, undefined), undefined);
  assert.match(changeDiff(w("a\n"), Buffer.from([0, 1, 2])) ?? "", /^Binary file \/etc\/x differs \(3 -> 2 bytes\)/);
  const long = changeDiff(w("x".repeat(100) + "\n".repeat(1) + "y\n".repeat(MAX_RESULT_DIFF / 2)), undefined) ?? "";
  assert.ok(long.length <= MAX_RESULT_DIFF + 100);
  assert.match(long, /\n\\ diff cut at 65536 bytes of \d+\n$/);
});

test("diffHtml: new and deleted files tagged, names escaped, non-diffs as text", () => {
  assert.match(diffHtml(`--- /dev/null\n+++ b/etc/${EVIL}\n@@ -0,0 +1 @@\n+x\n`), /d2h-added-tag/);
  assert.match(diffHtml(`--- a/etc/x\n+++ /dev/null\n@@ -1 +0,0 @@\n-x\n`), /d2h-deleted-tag/);
  const h = diffHtml(`--- a/etc/${EVIL}\n+++ b/etc/${EVIL}\n@@ -1 +1 @@\n-${EVIL}\n+y\n`);
  assert.ok(!h.includes("<script") && !h.includes("<img"));
  assert.equal(diffHtml(`Binary file /etc/${EVIL} differs (1 -> 2 bytes)\n`), `<pre class="diff-text">Binary file /etc/${esc(EVIL)} differs (1 -&gt; 2 bytes)\n</pre>`);
});

test("osam-fixup report: --help, and usage errors exit 2", () => {
  const main = join(import.meta.dirname, "../../../src/cli/main.ts");
  assert.match(execFileSync(process.execPath, [main, "report", "--help"], { encoding: "utf8" }), /^Usage: osam-fixup report/);
  assert.match(execFileSync(process.execPath, [main, "--help"], { encoding: "utf8" }), /\n {2}report {4}/);
  for (const args of [[], ["/nonexistent"], ["/etc/hostname"]]) {
    try {
      execFileSync(process.execPath, [main, "report", ...args], { encoding: "utf8", stdio: "pipe" });
      assert.fail(`report ${args.join(" ")} should fail`);
    } catch (e) {
      assert.equal((e as { status: number }).status, 2, args.join(" "));
    }
  }
});
