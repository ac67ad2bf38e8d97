// What a fixup may ask for. Fixups never write: they return these, and the engine applies
// them with backups and a journal, or renders them as a diff for `plan`.

export type Change =
  | { action: "write"; path: string; content: Buffer | string; mode?: number; reason: string }
  | { action: "rename"; path: string; to: string; reason: string }
  | { action: "symlink"; path: string; target: string; reason: string }
  | { action: "remove"; path: string; reason: string }
  | {
      action: "exec";
      argv: string[];
      reason: string;
      /** Guest files the command creates or rewrites: backed up first, restored if it fails. */
      produces?: string[];
      /**
       * Directories among the outputs that the command rewrites as a whole (grub-install's
       * platform directory): each is backed up by moving it into the backup tree in one rename,
       * where the backup tree is on its file system, instead of file by file.
       */
      rewritesDirs?: string[];
      /** A host block device whose boot code the command writes (grub-install): backed up first. */
      bootArea?: string;
      timeoutMs?: number;
      env?: Record<string, string>;
      /**
       * Consecutive commands with the same key may run at once (initramfs builds of several
       * kernels), as many as the CPUs and the free memory allow: each is backed up first, and
       * they are journaled done together when all have ended.
       */
      parallel?: string;
    };

export interface StepPlan {
  changes: Change[];
  warnings: string[];
  /** Set when the step does not apply to this guest; says why. */
  skipped?: string;
  /** What the step chose not to do and why (an initramfs kept as it is), for plan and result.json. */
  notes?: string[];
}

/** A change as result.json records it; `diff` is the write's or remove's unified diff (engine/diff.ts). */
export function summarize(c: Change, diff?: string): { action: Change["action"]; path?: string; to?: string; argv?: string[]; reason: string; diff?: string } {
  switch (c.action) {
    case "exec":
      return { action: c.action, argv: c.argv, reason: c.reason };
    case "rename":
      return { action: c.action, path: c.path, to: c.to, reason: c.reason };
    case "symlink":
      return { action: c.action, path: c.path, to: c.target, reason: c.reason };
    default:
      return { action: c.action, path: c.path, reason: c.reason, ...(diff !== undefined ? { diff } : {}) };
  }
}

export function contentBuffer(c: Buffer | string): Buffer {
  return typeof c === "string" ? Buffer.from(c, "utf8") : c;
}
