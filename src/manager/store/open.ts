// Which store a command uses: --store, else OSAM_STORE, else the embedded default (files).
export type StoreChoice = { kind: "files" } | { kind: "postgres"; url: string };

export class StoreChoiceError extends Error {}

export function chooseStore(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): StoreChoice {
  const v = flag ?? env.OSAM_STORE;
  if (v === undefined || v === "" || v === "files") return { kind: "files" };
  if (/^postgres(ql)?:\/\//.test(v)) return { kind: "postgres", url: v };
  throw new StoreChoiceError(`--store (or OSAM_STORE) must be "files" or a postgres://… URL, not ${JSON.stringify(v.replace(/:[^:@/]*@/, ":***@"))}`);
}
