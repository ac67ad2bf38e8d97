// Persisted migration state: one JSON file per migration, replaced atomically (temp file,
// fsync, rename) at every step boundary, so a manager killed at any moment finds on restart
// either the state before a step or the state after it. A lock file with the owner's pid
// keeps two live managers off the same migration; a dead owner's lock is taken over.
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeSync, constants as C } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { writeAtomic } from "../util/fs.ts";
import type { VmRef } from "./drivers/types.ts";
import type { MigrationSpec } from "./spec.ts";

export type StepStatus = "pending" | "running" | "done" | "failed";

export interface StepRecord {
  name: string;
  status: StepStatus;
  attempts: number;
  startedAt?: string;
  finishedAt?: string;
  durationMs?: number;
  error?: string;
}

export interface Stage1Summary {
  status: "succeeded" | "failed";
  code: number;
  message: string;
  step?: string;
}

/** What the stage-2 sentinel reported (stage2-result.json, read from the serial console). */
export interface Stage2Summary {
  status: "succeeded" | "succeeded-with-warnings" | "failed";
  code: string;
  reason: string;
  toolsInstalled: boolean;
  toolsCode: string;
}

/** What the first-boot verification reported (verification.json, read from the serial console). */
export interface VerificationSummary {
  verified: boolean;
  summary: string;
  hypervisor: string;
  /** The failed checks, one line each. */
  failed: string[];
}

export interface MigrationState {
  version: 1;
  id: string;
  driver: string;
  spec: MigrationSpec;
  specPath?: string;
  logDir: string;
  status: "running" | "succeeded" | "failed";
  createdAt: string;
  updatedAt: string;
  startedAtMs: number;
  steps: StepRecord[];
  vm?: VmRef;
  stage1?: Stage1Summary;
  collected?: { log: string; result: string; stage2?: string; verify?: string };
  /** Bytes of serial output before the stage-2 boot: a result printed earlier is not this boot's. */
  stage2SerialOffset?: number;
  stage2?: Stage2Summary;
  /** Bytes of serial output before the first boot in the restored target. */
  firstBootSerialOffset?: number;
  verification?: VerificationSummary;
  error?: { step: string; message: string; code?: number };
}

export class StateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "StateError";
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

export class StateStore {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  }

  file(id: string): string {
    return join(this.dir, `${id}.json`);
  }

  logFile(id: string): string {
    return join(this.dir, `${id}.log`);
  }

  async load(id: string): Promise<MigrationState | undefined> {
    let text: string;
    try {
      text = await readFile(this.file(id), "utf8");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw e;
    }
    try {
      const st = JSON.parse(text) as MigrationState;
      if (st.version !== 1 || st.id !== id) throw new Error("unexpected content");
      return st;
    } catch (e) {
      throw new StateError(`${this.file(id)}: unreadable state (${(e as Error).message}); move it away to start over`);
    }
  }

  async save(st: MigrationState): Promise<void> {
    st.updatedAt = new Date().toISOString();
    await writeAtomic(this.file(st.id), JSON.stringify(st, null, 2) + "\n", 0o600);
  }

  ids(): string[] {
    return readdirSync(this.dir)
      .filter((f) => f.endsWith(".json"))
      .map((f) => f.slice(0, -5))
      .sort();
  }

  /** Takes the migration's lock; throws when another live process holds it. */
  lock(id: string): () => void {
    const path = join(this.dir, `${id}.lock`);
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const fd = openSync(path, C.O_WRONLY | C.O_CREAT | C.O_EXCL, 0o600);
        writeSync(fd, `${process.pid}\n`);
        closeSync(fd);
        return () => rmSync(path, { force: true });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
        let owner = 0;
        try {
          owner = Number(readFileSync(path, "utf8").trim());
        } catch {
          continue;
        }
        if (owner > 0 && owner !== process.pid && pidAlive(owner)) throw new StateError(`migration ${id} is being run by another manager (pid ${owner})`);
        rmSync(path, { force: true }); // its owner died (killed manager): take over
      }
    }
    throw new StateError(`migration ${id}: could not take the lock ${path}`);
  }
}
