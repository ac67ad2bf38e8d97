// The few pieces every report page is made of. Every string that reaches a page goes through
// esc(): guest file names, command output, reasons and messages are hostile input.

const ESC: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

/** Any value from a JSON file as text: strings as they are, anything else as JSON. */
export function text(v: unknown): string {
  if (v === undefined || v === null) return "";
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  return JSON.stringify(v);
}

/** Escapes text for an element's content or a quoted attribute value. */
export function esc(v: unknown): string {
  return text(v).replace(/[&<>"']/g, (c) => ESC[c] ?? c);
}

/** A duration as a person reads it: 850 ms, 12.3 s, 4 min 05 s, 1 h 02 min. */
export function fmtMs(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return "–";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  const s = Math.round(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")} min`;
}

/** A page: inline style only, no script, no external resource of any kind. */
export function page(title: string, css: string, body: string): string {
  // default-src 'none' also keeps a page that someone edits from fetching anything
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>${css}</style>
</head>
<body>
${body}
</body>
</html>
`;
}

/** A folded block: the summary always shows, the rest opens on a click (no script needed). */
export function details(summary: string, inner: string, cls = ""): string {
  return `<details${cls ? ` class="${esc(cls)}"` : ""}><summary>${summary}</summary>${inner}</details>`;
}

export function pre(text: string): string {
  return `<pre>${esc(text)}</pre>`;
}

/** The CSS class of a state, for the colour of its badge. */
export function stateClass(state: string): string {
  if (/^(succeeded|verified|ready|done|changed|unchanged|OK|ok)$/.test(state)) return "ok";
  if (/warn/.test(state)) return "warn";
  if (/^(failed|blocked|not verified)$/.test(state)) return "bad";
  return "neutral";
}

export function badge(state: string, extra = ""): string {
  return `<span class="badge ${stateClass(state)}"${extra}>${esc(state)}</span>`;
}
