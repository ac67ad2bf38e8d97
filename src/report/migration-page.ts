// One migration's page: the verdict, where the time went, every change with its diff and
// reason, every command with its output folded, the warnings and findings with their codes,
// and the stage-2 verification.
import { Verification, type Result } from "../protocol/schemas.ts";
import { codeInfo } from "./advice.ts";
import { diffHtml } from "./diff-html.ts";
import { badge, details, esc, fmtMs, page, pre, text } from "./html.ts";
import { commandsOf, type MigrationInput, type ManagerView, type Timing } from "./load.ts";
import { REPORT_CSS } from "./style.ts";
import { timeline, type Bar } from "./timeline.ts";

type Change = Result["steps"][number]["changes"][number];

/** Diffs longer than this many lines are folded. */
const FOLD_LINES = 60;

/** The migration's state in one word, and what to say next to it. */
export function verdictOf(m: MigrationInput): { state: string; message: string; code?: number; step?: string } {
  const st = m.state;
  const r = m.result;
  if (st) {
    const code = st.error?.code ?? (r && r.status === "failed" ? r.code : undefined);
    const message = st.error?.message ?? (st.status === "succeeded" ? `migrated${r ? `; ${r.message}` : ""}` : st.status === "running" ? "still running" : (r?.message ?? ""));
    return { state: st.status, message, ...(code !== undefined ? { code } : {}), ...(st.error?.step ? { step: st.error.step } : {}) };
  }
  if (r) return { state: r.status, message: r.message, ...(r.status === "failed" ? { code: r.code } : {}), ...(r.step ? { step: r.step } : {}) };
  return { state: "unknown", message: m.resultError ?? "no result" };
}

/** Wall time of the migration: the manager's when known, else stage 1's. */
export function durationOf(m: MigrationInput): number | undefined {
  const st = m.state;
  if (st) {
    const ends = st.steps.map((s) => (s.finishedAt ? Date.parse(s.finishedAt) : NaN)).filter((t) => Number.isFinite(t));
    if (st.startedAtMs !== undefined && ends.length) return Math.max(...ends) - st.startedAtMs;
  }
  return m.result?.durationMs;
}

function codeLine(code: number | undefined): string {
  if (code === undefined) return "";
  const c = codeInfo(code);
  return `<span class="code" data-code="${code}">code ${code}${c ? ` ${esc(c.name)}` : ""}</span>`;
}

function verdictSection(m: MigrationInput): string {
  const v = verdictOf(m);
  const r = m.result;
  const os = (r?.guest.os as { name?: unknown } | undefined)?.name;
  const facts: [string, string][] = [];
  const dur = durationOf(m);
  if (dur !== undefined) facts.push(["duration", fmtMs(dur)]);
  if (r) {
    facts.push(["stage 1", `${badge(r.status)} ${codeLine(r.code)} in ${esc(fmtMs(r.durationMs))}`]);
    facts.push(["started", esc(r.startedAt)], ["finished", esc(r.finishedAt)], ["osam-fixup", esc(r.version)]);
  }
  if (typeof os === "string") facts.push(["guest", esc(os)]);
  if (v.step) facts.push(["failed step", `<code>${esc(v.step)}</code>`]);
  const s2 = stage2Status(m.stage2);
  if (s2) facts.push(["stage 2", badge(s2)]);
  const info = v.code !== undefined ? codeInfo(v.code) : undefined;
  return `<header class="verdict-box ${v.state === "succeeded" ? "ok" : v.state === "failed" ? "bad" : "neutral"}">
<h1>Migration <span class="id">${esc(m.id)}</span></h1>
<p id="verdict" data-state="${esc(v.state)}"${v.code !== undefined ? ` data-code="${v.code}"` : ""}>${badge(v.state)} ${codeLine(v.code)} <span class="message">${esc(v.message)}</span></p>
${info?.todo && v.state === "failed" ? `<p class="todo"><b>What to do:</b> ${esc(info.todo)}</p>` : ""}
<dl class="facts">${facts.map(([k, val]) => `<dt>${esc(k)}</dt><dd>${val}</dd>`).join("")}</dl>
${m.notes.length || (m.resultError && m.state) ? `<ul class="notes">${[...(m.resultError && m.state ? [m.resultError] : []), ...m.notes].map((n) => `<li>${esc(n)}</li>`).join("")}</ul>` : ""}
</header>`;
}

function managerBars(st: ManagerView): Bar[] {
  const started = st.steps.filter((s) => s.startedAt && Number.isFinite(Date.parse(s.startedAt)));
  if (!started.length) return [];
  const t0 = Math.min(...started.map((s) => Date.parse(s.startedAt ?? "")));
  return started.map((s) => {
    const start = Date.parse(s.startedAt ?? "") - t0;
    const ms = s.durationMs ?? (s.finishedAt ? Date.parse(s.finishedAt) - Date.parse(s.startedAt ?? "") : 0);
    return { key: s.name, label: s.name, kind: s.status, totalMs: ms, segments: [{ startMs: start, durationMs: ms, title: `${s.name}: ${s.status}, ${fmtMs(ms)}${s.attempts && s.attempts > 1 ? `, ${s.attempts} attempts` : ""}${s.error ? `: ${s.error}` : ""}` }] };
  });
}

/** One bar per stage-1 step: placed by its phases when result.json has them, else end to end. */
export function stepBars(r: Result, timings: Timing[] | undefined): Bar[] {
  let at = 0;
  return r.steps.map((s) => {
    // validation runs for every step before the first one starts: it does not place the step
    const mine = (timings ?? []).filter((t) => t.step === s.name && t.phase !== "validate");
    const start = mine.length ? Math.min(...mine.map((t) => t.startMs)) : at;
    at = start + s.durationMs;
    const changes = s.changes.length;
    return { key: s.name, label: s.name, kind: s.status, totalMs: s.durationMs, segments: [{ startMs: start, durationMs: s.durationMs, title: `${s.name}: ${s.status}, ${fmtMs(s.durationMs)}, ${changes} change(s)${s.error ? `; code ${s.error.code}: ${s.error.message}` : ""}` }] };
  });
}

/** One bar per phase, each of its entries a segment (the step and what it worked on in its title). */
export function phaseBars(timings: Timing[]): Bar[] {
  const rows = new Map<string, Bar>();
  for (const t of [...timings].sort((a, b) => a.startMs - b.startMs)) {
    let b = rows.get(t.phase);
    if (!b) {
      b = { key: t.phase, label: t.phase, kind: t.phase, segments: [], totalMs: 0 };
      rows.set(t.phase, b);
    }
    b.segments.push({ startMs: t.startMs, durationMs: t.durationMs, title: `${t.phase}${t.step ? ` (${t.step})` : ""}${t.what ? `: ${t.what}` : ""}, ${fmtMs(t.durationMs)}` });
    b.totalMs += t.durationMs;
  }
  return [...rows.values()];
}

function timelineSection(m: MigrationInput): string {
  const parts: string[] = [];
  if (m.state) {
    const bars = managerBars(m.state);
    if (bars.length) parts.push(timeline(bars, "Migration steps (manager), from VM creation to connected NICs", "migration-steps"));
  }
  if (m.result) {
    if (m.result.steps.length) parts.push(timeline(stepBars(m.result, m.timings), `Stage 1 steps in the guest${m.timings ? "" : " (laid end to end: this result.json has no phase timings)"}`, "stage1-steps"));
    if (m.timings) parts.push(timeline(phaseBars(m.timings), "Stage 1 phases (all steps): discovery, mounts, inspection, plans, backups, writes and commands; hover a segment for its step", "stage1-phases"));
  }
  return `<section id="timeline"><h2>Timeline</h2>${parts.join("") || "<p>No step was recorded.</p>"}</section>`;
}

function changeHtml(step: string, c: Change): string {
  const target = c.action === "exec" ? `<code>${esc((c.argv ?? []).join(" "))}</code>` : `<code>${esc(c.path ?? "")}</code>${c.to !== undefined ? ` → <code>${esc(c.to)}</code>` : ""}`;
  const lines = c.diff?.split("\n").length ?? 0;
  // a long diff (a whole new script) is folded, so the page stays a page
  const body = c.diff === undefined ? "" : lines > FOLD_LINES ? `<div class="diff">${details(`diff, ${lines} lines`, diffHtml(c.diff))}</div>` : `<div class="diff">${diffHtml(c.diff)}</div>`;
  return `<article class="change" data-step="${esc(step)}" data-action="${esc(c.action)}"${c.path !== undefined ? ` data-path="${esc(c.path)}"` : ""}${c.diff !== undefined ? " data-diff" : ""}>
<p><span class="action">${esc(c.action)}</span> ${target}</p><p class="reason">${esc(c.reason)}</p>${body}</article>`;
}

function changesSection(r: Result | undefined): string {
  if (!r) return `<section id="changes"><h2>Changes</h2><p>No stage-1 result.</p></section>`;
  const steps = r.steps.filter((s) => s.changes.length || s.error || s.warnings.length);
  const n = r.steps.reduce((a, s) => a + s.changes.length, 0);
  const body = steps
    .map((s) => `<div class="step" id="step-${esc(s.name)}"><h3><code>${esc(s.name)}</code> ${badge(s.status)} <span class="muted">${esc(fmtMs(s.durationMs))}, ${s.changes.length} change(s)</span></h3>${s.changes.map((c) => changeHtml(s.name, c)).join("")}</div>`)
    .join("");
  return `<section id="changes"><h2>Changes in the guest (${n})</h2>${body || "<p>Stage 1 changed nothing.</p>"}</section>`;
}

function commandsSection(log: string | undefined): string {
  if (log === undefined) return `<section id="commands"><h2>Commands</h2><p>No fixup.log was collected.</p></section>`;
  const cmds = commandsOf(log);
  const body = cmds
    .map((c) => {
      const state = c.exitCode === undefined ? "no exit recorded" : c.timedOut ? `timed out (exit ${c.exitCode})` : `exit ${c.exitCode}`;
      const bad = c.exitCode !== 0;
      return details(`<time>${esc(c.time.replace(/^.*T/, ""))}</time> <code>${esc(c.command)}</code> <span class="${bad ? "bad-text" : "muted"}">${esc(state)}, ${esc(fmtMs(c.durationMs))}</span>`, c.output ? pre(c.output) : `<p class="muted">(no output)</p>`, `command${bad ? " failed" : ""}`);
    })
    .join("");
  return `<section id="commands"><h2>Commands run in the guest (${cmds.length})</h2>${body || "<p>None.</p>"}</section>`;
}

function codeRow(code: number, message: string, where: string): string {
  const c = codeInfo(code);
  return `<tr class="problem" data-code="${code}"><td><b>${code}</b>${c ? `<br><code>${esc(c.name)}</code>` : ""}</td><td>${esc(where)}</td><td>${esc(message)}${c ? `<br><span class="muted">${esc(c.summary)}</span>` : ""}</td><td>${esc(c?.todo ?? "")}</td></tr>`;
}

interface FindingLike {
  code?: unknown;
  severity?: unknown;
  file?: unknown;
  line?: unknown;
  why?: unknown;
  todo?: unknown;
}

function warningsSection(m: MigrationInput): string {
  const r = m.result;
  const parts: string[] = [];
  const errors = (r?.steps ?? []).filter((s) => s.error).map((s) => codeRow(s.error!.code, s.error!.message, s.name));
  if (r && r.status === "failed" && !r.steps.some((s) => s.error)) errors.push(codeRow(r.code, r.message, r.step ?? "stage 1"));
  if (m.state?.error) errors.push(codeRow(m.state.error.code ?? -1, m.state.error.message, `manager step ${m.state.error.step}`));
  if (errors.length) parts.push(`<table class="problems"><thead><tr><th>code</th><th>where</th><th>what happened</th><th>what to do</th></tr></thead><tbody>${errors.join("")}</tbody></table>`);
  const warnings = [...(r?.warnings ?? []), ...(m.state?.warnings ?? [])];
  if (warnings.length) parts.push(`<h3>Warnings (${warnings.length})</h3><ul class="warnings">${warnings.map((w) => `<li>${esc(w)}</li>`).join("")}</ul>`);
  const pf = m.preflight as { verdict?: unknown; findings?: unknown; checkedAt?: unknown } | undefined;
  if (pf && typeof pf === "object") {
    const findings = Array.isArray(pf.findings) ? (pf.findings as FindingLike[]) : [];
    const rows = findings.map((f) => `<tr class="finding" data-code="${esc(f.code)}"><td><code>${esc(f.code)}</code></td><td>${badge(text(f.severity))}</td><td>${esc(f.file ?? "")}${f.line !== undefined ? `:${esc(f.line)}` : ""}</td><td>${esc(f.why ?? "")}</td><td>${esc(f.todo ?? "")}</td></tr>`);
    parts.push(`<h3>Preflight ${pf.verdict !== undefined ? badge(text(pf.verdict)) : ""} <span class="muted">${esc(pf.checkedAt ?? "")}</span></h3>${rows.length ? `<table class="findings"><thead><tr><th>code</th><th>severity</th><th>file</th><th>why it matters</th><th>what to do</th></tr></thead><tbody>${rows.join("")}</tbody></table>` : "<p>No findings.</p>"}`);
  }
  return `<section id="warnings"><h2>Problems, warnings and findings</h2>${parts.join("") || "<p>None.</p>"}</section>`;
}

function stage2Status(s: unknown): string | undefined {
  const st = (s as { status?: unknown; verdict?: unknown } | undefined) ?? undefined;
  if (!st || typeof st !== "object") return undefined;
  const v = st.verdict ?? st.status;
  return typeof v === "string" ? v : undefined;
}

/** Any JSON as nested definition lists: the stage-2 result's fields may grow. */
function value(v: unknown, depth = 0): string {
  if (v === null || v === undefined) return `<span class="muted">–</span>`;
  if (typeof v === "boolean") return `<span class="badge ${v ? "ok" : "bad"}">${v ? "yes" : "no"}</span>`;
  if (typeof v === "string") return v.includes("\n") || v.length > 200 ? details(`${esc(v.split("\n")[0]?.slice(0, 80))}…`, pre(v)) : esc(v);
  if (typeof v === "number") return esc(v);
  if (Array.isArray(v)) return v.length ? `<ul>${v.map((x) => `<li>${value(x, depth + 1)}</li>`).join("")}</ul>` : `<span class="muted">none</span>`;
  if (typeof v === "object" && depth < 6) return `<dl class="kv">${Object.entries(v as Record<string, unknown>).map(([k, x]) => `<dt>${esc(k)}</dt><dd>${value(x, depth + 1)}</dd>`).join("")}</dl>`;
  return esc(JSON.stringify(v));
}

function verificationSection(s: unknown): string {
  if (s === undefined) return `<section id="verification"><h2>Verification (stage 2)</h2><p>No stage-2 result was collected.</p></section>`;
  const st = stage2Status(s);
  return `<section id="verification"><h2>Verification (stage 2) ${st ? badge(st) : ""}</h2>${value(s)}</section>`;
}

/** The guest's own check of its first boot: one row per check, failures first. */
function firstBootSection(raw: unknown): string {
  const head = (b = "") => `<section id="first-boot"><h2>First boot on the target ${b}</h2>`;
  if (raw === undefined) return `${head()}<p>No first-boot verification was collected.</p></section>`;
  const r = Verification.safeParse(raw);
  if (!r.success) return `${head()}<p>verification.json does not match its schema.</p>${value(raw)}</section>`;
  const v = r.data;
  const order = { failed: 0, skipped: 1, ok: 2 } as const;
  const rows = [...v.checks].sort((a, b) => order[a.status] - order[b.status]).map((c) => `<tr class="check" data-status="${esc(c.status)}"><td>${esc(c.check)}</td><td>${esc(c.subject)}</td><td>${badge(c.status)}</td><td><code>${esc(c.code)}</code></td><td>${esc(c.expected)}</td><td>${esc(c.actual)}</td><td>${esc(c.detail)}</td></tr>`);
  return `${head(badge(v.verified ? "verified" : "not verified"))}<p>${esc(v.summary)} <span class="muted">(on ${esc(v.hypervisor)}, ${esc(v.finishedAt)})</span></p><table class="checks"><thead><tr><th>check</th><th>subject</th><th>status</th><th>code</th><th>expected</th><th>found</th><th>detail</th></tr></thead><tbody>${rows.join("")}</tbody></table></section>`;
}

export function renderMigrationPage(m: MigrationInput, o: { waveLink?: string } = {}): string {
  const v = verdictOf(m);
  const nav = `<nav>${o.waveLink ? `<a href="${esc(o.waveLink)}">← wave</a> · ` : ""}<a href="#timeline">timeline</a> · <a href="#changes">changes</a> · <a href="#commands">commands</a> · <a href="#warnings">problems</a> · <a href="#verification">stage 2</a> · <a href="#first-boot">first boot</a> · <a href="#log">fixup.log</a></nav>`;
  const log = m.log !== undefined ? details(`fixup.log (${m.log.split("\n").length - 1} lines)`, pre(m.log)) : "<p>Not collected.</p>";
  const body = [nav, verdictSection(m), timelineSection(m), changesSection(m.result), commandsSection(m.log), warningsSection(m), verificationSection(m.stage2), firstBootSection(m.verify), `<section id="log"><h2>Full log</h2>${log}</section>`, `<footer>osam-fixup report · ${esc(new Date().toISOString())}</footer>`].join("\n");
  return page(`${m.id}: ${v.state}`, REPORT_CSS, body);
}
