// How `plan` shows planned changes: a unified diff per file, and the commands it would run.
import { mkdir } from "node:fs/promises";
import { GuestRoot } from "../guest/guest-root.ts";
import { showArgv } from "../util/log.ts";
import { contentBuffer } from "./changes.ts";
import { isText, unifiedDiff } from "./diff.ts";
import type { PlannedChange } from "./run.ts";

function patch(path: string, before: Buffer | undefined, after: Buffer | undefined, header: string): string {
  return header + "\n" + unifiedDiff(path, before, after);
}

export function renderPlan(planned: PlannedChange[]): string {
  const out: string[] = [];
  for (const p of planned) {
    const c = p.change;
    const header = `# [${p.step}] ${c.reason}`;
    switch (c.action) {
      case "write":
        out.push(patch(c.path, p.before, contentBuffer(c.content), header + (c.mode !== undefined ? ` (mode ${c.mode.toString(8)})` : "")));
        break;
      case "remove":
        out.push(p.before ? patch(c.path, p.before, undefined, header) : `${header}\nremove ${c.path}\n`);
        break;
      case "rename":
        out.push(`${header}\nrename from ${c.path}\nrename to ${c.to}\n`);
        break;
      case "symlink":
        out.push(`${header}\nsymlink ${c.path} -> ${c.target}\n`);
        break;
      case "exec":
        out.push(`${header}\n$ chroot GUEST ${showArgv(c.argv)}\n`);
        break;
    }
  }
  return out.join("\n");
}

/** The plan as JSON: every change, with the full new content of each file written. */
export function planJson(planned: PlannedChange[]): unknown[] {
  return planned.map((p) => {
    const c = p.change;
    const base = { step: p.step, action: c.action, reason: c.reason };
    const enc = (b: Buffer) => (isText(b) ? { content: b.toString("utf8") } : { contentBase64: b.toString("base64") });
    switch (c.action) {
      case "write":
        return { ...base, path: c.path, ...(c.mode !== undefined ? { mode: c.mode } : {}), created: !p.before, ...enc(contentBuffer(c.content)) };
      case "remove":
        return { ...base, path: c.path };
      case "rename":
        return { ...base, path: c.path, to: c.to };
      case "symlink":
        return { ...base, path: c.path, target: c.target };
      case "exec":
        return { ...base, argv: c.argv, ...(c.produces ? { produces: c.produces } : {}) };
    }
  });
}

/** Writes the would-be content of every written or renamed file under outDir, at its guest path. */
export async function writePlanTree(planned: PlannedChange[], outDir: string): Promise<string[]> {
  await mkdir(outDir, { recursive: true });
  const out = new GuestRoot(outDir);
  const written: string[] = [];
  const files = new Map<string, Buffer>();
  for (const p of planned) {
    const c = p.change;
    if (c.action === "write") files.set(c.path, contentBuffer(c.content));
    else if (c.action === "rename") {
      const data = files.get(c.path) ?? p.moved;
      files.delete(c.path);
      if (data) files.set(c.to, data);
    } else if (c.action === "remove") files.delete(c.path);
  }
  for (const [path, data] of files) {
    await out.mkdirp(path.replace(/\/[^/]*$/, "") || "/");
    await out.writeFile(path, data);
    written.push(path);
  }
  return written;
}
