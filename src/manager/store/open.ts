// Which store a command uses: --store, else OSAM_STORE, else the embedded default (files).
export type StoreChoice = { kind: "files" } | { kind: "postgres"; url: string };

export class StoreChoiceError extends Error {}

export function chooseStore(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): StoreChoice {
  const v = flag ?? env.OSAM_STORE;
  if (v === undefined || v === "" || v === "files") return { kind: "files" };
  if (/^postgres(ql)?:\/\//.test(v)) return { kind: "postgres", url: v };
  throw new StoreChoiceError(`--store (or OSAM_STORE) must be "files" or a postgres://… URL, not ${JSON.stringify(describeUrl(v))}`);
}

/** The URL for messages, without its password (socket URLs such as postgres://u@/db?host=/run are not WHATWG URLs). */
export function describeUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:@/]*):[^/?]*@/i, "$1:***@");
}
