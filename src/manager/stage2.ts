// How the manager learns the outcome of stage 2 without guest credentials: the sentinel prints
// stage2-result.json on its consoles between two marker lines (src/protocol/files.ts), and the
// driver hands over the guest's serial output (QEMU: the ttyS0 file). A block is taken only
// when it is whole: its end line carries the byte count of the JSON line, so a block that a
// kernel message cut into is ignored rather than misread.
import { STAGE2_RESULT_MARKERS } from "../protocol/files.ts";
import { Stage2Result } from "../protocol/schemas.ts";

export interface Stage2Block {
  result: Stage2Result;
  /** The JSON line as printed. */
  raw: string;
}

const END_RE = /(\d+)\s*$/;

/** Every intact result block in console output, oldest first. */
export function parseStage2Blocks(text: string): Stage2Block[] {
  const lines = text.replace(/\r/g, "").split("\n");
  const out: Stage2Block[] = [];
  for (let i = 0; i + 2 < lines.length; i++) {
    // a console line may carry other output before the marker (no newline in between)
    if (!lines[i]!.endsWith(STAGE2_RESULT_MARKERS.begin)) continue;
    const raw = lines[i + 1]!;
    const end = lines[i + 2]!;
    if (!end.startsWith(`${STAGE2_RESULT_MARKERS.end} bytes=`)) continue;
    if (Number(END_RE.exec(end)?.[1]) !== Buffer.byteLength(raw) + 1) continue;
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch {
      continue;
    }
    const r = Stage2Result.safeParse(json);
    if (r.success) out.push({ result: r.data, raw });
    i += 2;
  }
  return out;
}

/** The newest intact result in console output, if any. */
export function lastStage2Result(text: string): Stage2Block | undefined {
  return parseStage2Blocks(text).at(-1);
}

/** One line for a person: what stage 2 reported. */
export function describeStage2(r: Stage2Result): string {
  const tools = r.tools.installed ? "VMware Tools in place" : `VMware Tools missing (${r.tools.code}: ${r.tools.detail})`;
  return `stage 2 ${r.status} (${r.code}): ${r.reason}; ${tools}`;
}
