// Reads and validates the three input maps. Nothing here touches the guest: a bad map is
// reported before any change is planned.
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import type { z } from "zod";
import { FIXUP_FILES } from "./files.ts";
import { FixupError } from "./codes.ts";
import { findDuplicateKey } from "./duplicate-keys.ts";
import { NetworkInterfaceMap, ReplicaDiskMap, SystemConfiguration } from "./schemas.ts";

export interface Inputs {
  system: SystemConfiguration;
  disks: ReplicaDiskMap;
  network: NetworkInterfaceMap;
}

/** Maps are a few KB; anything this large is a mistake, not a guest. */
export const MAX_INPUT_BYTES = 4 * 1024 * 1024;

export function formatZodError(file: string, error: z.ZodError): string {
  const lines = error.issues.slice(0, 20).map((i) => {
    const where = i.path.length ? i.path.map((p) => (typeof p === "number" ? `[${p}]` : `.${String(p)}`)).join("").replace(/^\./, "") : "(top level)";
    return `${file}: ${where}: ${i.message}`;
  });
  if (error.issues.length > 20) lines.push(`${file}: ... and ${error.issues.length - 20} more problems`);
  return lines.join("; ");
}

export function parseInput<S extends z.ZodType>(file: string, schema: S, bytes: Buffer): z.output<S> {
  if (bytes.length > MAX_INPUT_BYTES) throw new FixupError("INPUT_INVALID", `${file}: ${bytes.length} bytes is larger than the ${MAX_INPUT_BYTES}-byte limit`);
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new FixupError("INPUT_INVALID", `${file}: not valid UTF-8 text`);
  }
  if (text.trim() === "") throw new FixupError("INPUT_INVALID", `${file}: the file is empty`);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new FixupError("INPUT_INVALID", `${file}: not valid JSON (${(e as Error).message})`);
  }
  const dup = findDuplicateKey(text);
  if (dup) throw new FixupError("INPUT_INVALID", `${file}: ${dup.path}: the key ${JSON.stringify(dup.key)} appears twice in one object; JSON would silently keep the last, so remove the one that is wrong`);
  const r = schema.safeParse(json);
  if (!r.success) throw new FixupError("INPUT_INVALID", formatZodError(file, r.error));
  return r.data;
}

async function readInput(dir: string, file: string): Promise<Buffer> {
  const p = join(dir, file);
  let st;
  try {
    st = await stat(p);
  } catch {
    throw new FixupError("INPUT_MISSING", `${file} is missing from ${dir}`);
  }
  if (!st.isFile()) throw new FixupError("INPUT_INVALID", `${file}: not a regular file`);
  if (st.size > MAX_INPUT_BYTES) throw new FixupError("INPUT_INVALID", `${file}: ${st.size} bytes is larger than the ${MAX_INPUT_BYTES}-byte limit`);
  return readFile(p);
}

/** Loads all three maps from a directory, or throws a FixupError naming the file and field. */
export async function loadInputs(dir: string): Promise<Inputs> {
  const system = parseInput(FIXUP_FILES.systemConfiguration, SystemConfiguration, await readInput(dir, FIXUP_FILES.systemConfiguration));
  const disks = parseInput(FIXUP_FILES.replicaDiskMap, ReplicaDiskMap, await readInput(dir, FIXUP_FILES.replicaDiskMap));
  const network = parseInput(FIXUP_FILES.networkInterfaceMap, NetworkInterfaceMap, await readInput(dir, FIXUP_FILES.networkInterfaceMap));
  return { system, disks, network };
}
