// A change's unified diff as HTML, by diff2html (static markup: readable without its script).
// diff2html escapes every line and file name itself; the tests feed it hostile content.
import { html as diff2html } from "diff2html";
import { esc } from "./html.ts";

/** The rendered diff, or the diff as plain text when it is not a unified diff (a binary file). */
export function diffHtml(diff: string): string {
  if (!/^--- .*\n\+\+\+ /m.test(diff)) return `<pre class="diff-text">${esc(diff)}</pre>`;
  // a git header tells diff2html that /dev/null means a new or deleted file, not a rename
  const created = /^--- \/dev\/null$/m.test(diff);
  const deleted = /^\+\+\+ \/dev\/null$/m.test(diff);
  const header = created ? "new file mode 100644\n" : deleted ? "deleted file mode 100644\n" : "";
  const name = /^(?:\+\+\+ b|--- a)(\/.*)$/m.exec(diff)?.[1] ?? "file";
  const text = header ? `diff --git a${name} b${name}\n${header}${diff}` : diff;
  // its templates indent every tag; a diff line never holds a newline, so this only drops that
  return diff2html(text, { outputFormat: "line-by-line", drawFileList: false, matching: "lines", diffStyle: "word" }).replace(/>\n\s*</g, "><");
}
