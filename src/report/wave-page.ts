// A wave's page: every migration in one table linking to its page, the counts per state, the
// slowest steps across the wave and the failures grouped by code.
import { codeInfo } from "./advice.ts";
import { badge, esc, fmtMs, page } from "./html.ts";
import { reportFileName, type MigrationInput } from "./load.ts";
import { durationOf, verdictOf } from "./migration-page.ts";
import { REPORT_CSS } from "./style.ts";

const SLOWEST = 15;

export function renderWavePage(ms: MigrationInput[], o: { title?: string } = {}): string {
  const rows = ms.map((m) => ({ m, v: verdictOf(m), ms: durationOf(m) }));
  const counts = new Map<string, number>();
  for (const r of rows) counts.set(r.v.state, (counts.get(r.v.state) ?? 0) + 1);

  // per step name: how long it took across the wave, and where it took longest
  const steps = new Map<string, { where: string; step: string; runs: number[]; maxId: string; max: number }>();
  const add = (where: string, step: string, id: string, ms: number) => {
    const k = `${where} ${step}`;
    const e = steps.get(k) ?? { where, step, runs: [], maxId: id, max: -1 };
    e.runs.push(ms);
    if (ms > e.max) Object.assign(e, { max: ms, maxId: id });
    steps.set(k, e);
  };
  for (const { m } of rows) {
    for (const s of m.state?.steps ?? []) if (s.durationMs !== undefined) add("manager", s.name, m.id, s.durationMs);
    for (const s of m.result?.steps ?? []) add("stage 1", s.name, m.id, s.durationMs);
  }
  const slowest = [...steps.values()].sort((a, b) => b.max - a.max).slice(0, SLOWEST);

  // by code; failures without one (a manager step timed out) by the step they stopped in
  const byCode = new Map<string, { code?: number; step?: string; ids: string[] }>();
  for (const { m, v } of rows) {
    if (v.state !== "failed") continue;
    const key = v.code === undefined ? `step ${v.step ?? "?"}` : String(v.code);
    const g = byCode.get(key) ?? { ...(v.code !== undefined ? { code: v.code } : { step: v.step ?? "?" }), ids: [] };
    g.ids.push(m.id);
    byCode.set(key, g);
  }

  const link = (id: string) => `<a href="${esc(encodeURIComponent(reportFileName(id)))}">${esc(id)}</a>`;
  const countHtml = `<ul class="counts">${[...counts].sort().map(([s, n]) => `<li data-state="${esc(s)}">${badge(s)} <b>${n}</b></li>`).join("")}<li data-state="all">all <b>${rows.length}</b></li></ul>`;
  const table = `<table class="wave sortable"><thead><tr><th>migration</th><th>state</th><th>duration</th><th>code</th><th>step</th><th>message</th></tr></thead><tbody>${rows
    .map(({ m, v, ms: d }) => {
      const c = v.code !== undefined ? codeInfo(v.code) : undefined;
      return `<tr data-id="${esc(m.id)}" data-state="${esc(v.state)}"><td>${link(m.id)}</td><td>${badge(v.state)}</td><td class="num">${esc(fmtMs(d))}</td><td>${v.code !== undefined ? `${v.code}${c ? ` <code>${esc(c.name)}</code>` : ""}` : ""}</td><td>${esc(v.step ?? "")}</td><td class="msg">${esc(v.message)}</td></tr>`;
    })
    .join("")}</tbody></table>`;
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)] ?? 0;
  const slow = `<table class="slowest"><thead><tr><th>step</th><th></th><th>runs</th><th>median</th><th>longest</th><th>in</th></tr></thead><tbody>${slowest
    .map((s) => `<tr data-step="${esc(s.step)}"><td><code>${esc(s.step)}</code></td><td class="muted">${esc(s.where)}</td><td class="num">${s.runs.length}</td><td class="num">${esc(fmtMs(median(s.runs)))}</td><td class="num">${esc(fmtMs(s.max))}</td><td>${link(s.maxId)}</td></tr>`)
    .join("")}</tbody></table>`;
  const failures = [...byCode.values()]
    .sort((a, b) => b.ids.length - a.ids.length)
    .map((g) => {
      const c = g.code !== undefined ? codeInfo(g.code) : undefined;
      return `<div class="failure-group" data-code="${esc(g.code ?? "none")}"><h3>${g.code !== undefined ? `code ${g.code}` : `no code, stopped in <code>${esc(g.step)}</code>`}${c ? ` <code>${esc(c.name)}</code>` : ""}: ${g.ids.length} migration(s)</h3>${c ? `<p>${esc(c.summary)}${c.todo ? `. <b>What to do:</b> ${esc(c.todo)}` : ""}</p>` : ""}<p>${g.ids.map(link).join(", ")}</p></div>`;
    })
    .join("");
  const title = o.title ?? "Wave";
  const body = [
    `<header class="verdict-box ${counts.get("failed") ? "bad" : "ok"}"><h1>${esc(title)}: ${rows.length} migration(s)</h1>${countHtml}</header>`,
    `<section id="failures"><h2>Failures by code</h2>${failures || "<p>None.</p>"}</section>`,
    `<section id="slowest"><h2>Slowest steps</h2>${slowest.length ? slow : "<p>No step durations were recorded.</p>"}</section>`,
    `<section id="migrations"><h2>Migrations</h2>${table}</section>`,
    `<footer>osam-fixup report · ${esc(new Date().toISOString())}</footer>`,
  ].join("\n");
  return page(`${title}: ${rows.length} migrations`, REPORT_CSS, body);
}
