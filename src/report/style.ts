// The pages' one stylesheet, inline in every page. It includes the few rules diff2html's markup
// needs (its own stylesheet is not bundled into the binary), and prints well.
export const REPORT_CSS = `
:root{--ok:#1a7f37;--bad:#cf222e;--warn:#9a6700;--muted:#57606a;--line:#d0d7de;--bg:#f6f8fa;font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;font-size:14px;color:#1f2328}
body{margin:0 auto;max-width:1200px;padding:16px 24px}
h1{font-size:22px;margin:0 0 8px}h2{font-size:18px;border-bottom:1px solid var(--line);padding-bottom:4px;margin-top:28px}h3{font-size:15px;margin:14px 0 6px}
code,pre,.d2h-code-line{font-family:ui-monospace,"DejaVu Sans Mono",Menlo,Consolas,monospace;font-size:12.5px}
pre{background:var(--bg);border:1px solid var(--line);padding:8px;overflow:auto;max-height:480px;white-space:pre-wrap;word-break:break-all;margin:4px 0}
a{color:#0969da}nav{margin-bottom:10px;color:var(--muted)}footer{margin-top:32px;color:var(--muted);font-size:12px}
.muted{color:var(--muted)}.bad-text{color:var(--bad);font-weight:600}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600;color:#fff;background:var(--muted);vertical-align:middle}
.badge.ok{background:var(--ok)}.badge.bad{background:var(--bad)}.badge.warn{background:var(--warn)}
.verdict-box{border:1px solid var(--line);border-left:6px solid var(--muted);border-radius:6px;padding:12px 16px;background:#fff}
.verdict-box.ok{border-left-color:var(--ok)}.verdict-box.bad{border-left-color:var(--bad)}
#verdict{font-size:16px;margin:4px 0 8px}#verdict .badge{font-size:15px;padding:2px 12px}
.code{font-weight:600}.todo{background:#fff8c5;padding:6px 10px;border-radius:4px}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:2px 16px;margin:8px 0 0}dl.facts dt{color:var(--muted)}dl.facts dd{margin:0}
dl.kv{display:grid;grid-template-columns:max-content 1fr;gap:2px 16px;margin:4px 0}dl.kv dt{color:var(--muted)}dl.kv dd{margin:0}
ul.notes{color:var(--bad)}
figure.timeline{margin:8px 0 16px}figcaption{color:var(--muted);margin-bottom:4px}
svg text{font-size:11px;fill:#1f2328}svg text.axis{fill:var(--muted);font-size:10px}svg line.tick{stroke:#eaeef2}
g.bar rect{fill:#54aeff}g.bar.k-changed rect,g.bar.k-done rect{fill:#2da44e}g.bar.k-unchanged rect{fill:#8c959f}g.bar.k-skipped rect{fill:#d0d7de}
g.bar.k-failed rect{fill:var(--bad)}g.bar.k-running rect{fill:#bf8700}g.bar.k-exec rect{fill:#8250df}g.bar.k-backup rect,g.bar.k-journal rect{fill:#bf8700}
g.bar.k-write rect{fill:#2da44e}g.bar.k-plan rect{fill:#54aeff}g.bar.k-mount rect,g.bar.k-discovery rect,g.bar.k-udev-settle rect,g.bar.k-probe rect{fill:#6e7781}
svg text.dur{fill:var(--muted)}
.step{margin-bottom:12px}article.change{border:1px solid var(--line);border-radius:6px;padding:6px 10px;margin:6px 0;background:#fff}
article.change p{margin:2px 0}.action{display:inline-block;min-width:52px;font-weight:600;text-transform:uppercase;font-size:11px;color:var(--muted)}.reason{color:#1f2328;font-style:italic}
details{border:1px solid var(--line);border-radius:4px;margin:3px 0;padding:2px 8px;background:#fff}details>summary{cursor:pointer;padding:2px 0}details.failed{border-color:var(--bad)}
details.command time{color:var(--muted);font-family:ui-monospace,monospace;font-size:12px}
table{border-collapse:collapse;width:100%;margin:6px 0}th,td{border:1px solid var(--line);padding:4px 8px;text-align:left;vertical-align:top}th{background:var(--bg)}td.num{text-align:right;white-space:nowrap}td.msg{max-width:480px;overflow-wrap:anywhere}
ul.counts{list-style:none;padding:0;display:flex;gap:18px;flex-wrap:wrap;margin:6px 0 0}
.failure-group{border-left:4px solid var(--bad);padding:2px 12px;margin:8px 0;background:#fff}
.d2h-wrapper{margin-top:4px}.d2h-file-header{background:var(--bg);border:1px solid var(--line);border-bottom:0;padding:4px 8px;font-weight:600;display:flex;align-items:center}
.d2h-file-name-wrapper{display:flex;align-items:center;gap:6px}.d2h-icon{fill:var(--muted)}.d2h-file-collapse{display:none}
.d2h-tag{font-size:10px;border:1px solid;border-radius:3px;padding:0 4px;margin-left:6px}.d2h-added-tag{color:var(--ok)}.d2h-deleted-tag{color:var(--bad)}.d2h-changed-tag{color:var(--warn)}.d2h-moved-tag{color:#0969da}
.d2h-file-diff{overflow-x:auto;border:1px solid var(--line)}.d2h-diff-table{border-collapse:collapse;width:100%;margin:0}.d2h-diff-table td{border:0;padding:0 6px;vertical-align:top}
.d2h-code-linenumber{width:1%;white-space:nowrap;color:var(--muted);text-align:right;border-right:1px solid var(--line)!important;user-select:none;font-size:11px;font-family:ui-monospace,monospace}
.d2h-code-linenumber div{display:inline-block;min-width:28px}
.d2h-code-line{white-space:pre;display:block}.d2h-code-line-prefix{display:inline-block;width:12px;user-select:none}
.d2h-del{background:#ffebe9}.d2h-ins{background:#dafbe1}.d2h-info{background:#ddf4ff;color:var(--muted)}.d2h-cntx{background:#fff}
.d2h-code-line del{background:#ffc1c0;text-decoration:none}.d2h-code-line ins{background:#abf2bc;text-decoration:none}
@media print{details{border:0}details>*{display:block}pre{max-height:none}nav{display:none}}
`;
