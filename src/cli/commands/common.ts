// Pieces shared by plan/apply/inspect/rollback: checking --root and loading the maps.
import { statSync } from "node:fs";
import { resolve } from "node:path";
import { FixupError } from "../../protocol/codes.ts";
import { loadInputs, type Inputs } from "../../protocol/inputs.ts";
import { ALL_STEPS } from "../../fixups/index.ts";
import { UsageError, str } from "../args.ts";
import { chooseStore, StoreChoiceError } from "../../manager/store/open.ts";

export function checkRoot(root: string): string {
  const abs = resolve(root);
  let st;
  try {
    st = statSync(abs);
  } catch {
    throw new UsageError(`--root ${root}: no such directory`);
  }
  if (!st.isDirectory()) throw new UsageError(`--root ${root}: not a directory`);
  return abs;
}

/** Loads the three maps; a bad map is a usage-class error (exit 2) with the field named. */
export async function inputsFrom(dir: string): Promise<Inputs> {
  try {
    return await loadInputs(resolve(dir));
  } catch (e) {
    if (e instanceof FixupError) throw new UsageError(`bad input (code ${e.code}): ${e.message}`);
    throw e;
  }
}

export const STEP_HELP = `Steps, in order (for --only and --skip):\n${ALL_STEPS.map((s) => `  ${s.name.padEnd(18)} ${s.title}${s.fatal ? " [fatal]" : ""}`).join("\n")}`;

/** The state store --store (or OSAM_STORE) names; a bad one is a usage error. */
export function storeArg(v: unknown, usage: string): ReturnType<typeof chooseStore> {
  try {
    return chooseStore(str(v));
  } catch (e) {
    if (e instanceof StoreChoiceError) throw new UsageError(`${e.message}\n\n${usage}`);
    throw e;
  }
}
