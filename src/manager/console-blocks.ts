// How the manager reads what the guest prints on its serial console without guest
// credentials: a JSON line between a begin marker and an end marker that carries the line's
// byte count, so that a block a kernel message cut into is ignored rather than misread. The
// stage-2 result and the first-boot verification use the same framing (src/protocol/files.ts).
import type { z } from "zod";

export interface ConsoleBlock<T> {
  value: T;
  /** The JSON line as printed. */
  raw: string;
}

const END_RE = /(\d+)\s*$/;

/** Every intact block in console output that validates against `schema`, oldest first. */
export function parseConsoleBlocks<S extends z.ZodType>(text: string, markers: { begin: string; end: string }, schema: S): ConsoleBlock<z.infer<S>>[] {
  const lines = text.replace(/\r/g, "").split("\n");
  const out: ConsoleBlock<z.infer<S>>[] = [];
  for (let i = 0; i + 2 < lines.length; i++) {
    // a console line may carry other output before the marker (no newline in between)
    if (!lines[i]!.endsWith(markers.begin)) continue;
    const raw = lines[i + 1]!;
    const end = lines[i + 2]!;
    if (!end.startsWith(`${markers.end} bytes=`)) continue;
    if (Number(END_RE.exec(end)?.[1]) !== Buffer.byteLength(raw) + 1) continue;
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch {
      continue;
    }
    const r = schema.safeParse(json);
    if (r.success) out.push({ value: r.data, raw });
    i += 2;
  }
  return out;
}
