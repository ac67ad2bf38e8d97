// How the manager learns the outcome of stage 2 without guest credentials: the sentinel prints
// stage2-result.json on its consoles between two marker lines (src/protocol/files.ts), and the
// driver hands over the guest's serial output (QEMU: the ttyS0 file; vSphere: the serial
// port's file on the datastore), framed as console-blocks.ts reads it.
import { STAGE2_RESULT_MARKERS } from "../protocol/files.ts";
import { Stage2Result } from "../protocol/schemas.ts";
import { parseConsoleBlocks } from "./console-blocks.ts";

export interface Stage2Block {
  result: Stage2Result;
  /** The JSON line as printed. */
  raw: string;
}

/** Every intact result block in console output, oldest first. */
export function parseStage2Blocks(text: string): Stage2Block[] {
  return parseConsoleBlocks(text, STAGE2_RESULT_MARKERS, Stage2Result).map((b) => ({ result: b.value, raw: b.raw }));
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
