// The journal of a stage-1 run, kept inside the guest so that `rollback` and a re-run after
// a crash both work from the guest alone. Order on disk for every change: original copied to
// the backup tree, journal entry appended and synced, then the change. So whatever point a
// crash hits, every path that may have changed has its original and its entry.
import { appendFileSync, closeSync, fsyncSync, openSync, writeFileSync, constants as C, type Stats } from "node:fs";
import { posix } from "node:path";
import { GUEST_BACKUP_DIR, GUEST_DATA_DIR, GUEST_JOURNAL } from "../protocol/files.ts";
import type { GuestRoot } from "../guest/guest-root.ts";
import { FixupError } from "../protocol/codes.ts";
import type { Logger } from "../util/log.ts";
import { type DiskAccess, type Range, identityOf, layoutOf, realDisks } from "../bootloader/boot-area.ts";

export type JournalEntry =
  | { t: "run"; startedAt: string; version: string }
  | { t: "mkdir"; paths: string[] }
  | { t: "orig"; path: string; kind: "absent" }
  | { t: "orig"; path: string; kind: "file"; backup: string; mode: number; uid: number; gid: number; atimeMs?: number; mtimeMs?: number; links?: HardLinks }
  | { t: "orig"; path: string; kind: "symlink"; target: string }
  /**
   * A directory a command rewrites as a whole, moved into the backup tree in one rename (the
   * entry is written first: a crash before the rename leaves the directory where it was, and
   * no backup). Rollback removes what is at `path` now and renames the backup back.
   */
  | { t: "orig"; path: string; kind: "dir"; backup: string; mode: number; uid: number; gid: number; atimeMs: number; mtimeMs: number }
  /** Bytes outside any file system a command writes (grub-install's boot code), by host device. */
  | { t: "disk"; device: string; size: number; ranges: Range[]; identity: string; backup: string }
  | { t: "step"; name: string }
  | { t: "done"; step: string; action: string; path?: string }
  | { t: "complete"; status: "succeeded" | "failed" };

/**
 * A file with several names (hard links) is changed in its own inode, so every name sees the
 * change, and put back the same way. The anchor is one more name for the inode in the backup
 * tree: it lets rollback give the inode back a name that a rename or remove took away. It is
 * absent where the file lives on another file system than the backup tree.
 */
export interface HardLinks {
  ino: number;
  nlink: number;
  anchor?: string;
}

/**
 * TMPDIR of the commands run in the guest (mkinitramfs and dracut build their tree there): a
 * command killed half-way leaves its temporary files here, not in the guest's /var/tmp, and
 * they are removed after every command, on rollback and before a re-run.
 */
export const EXEC_TMPDIR = `${GUEST_DATA_DIR}/tmp`;

const diskKey = (device: string): string => `disk:${device}`;

export function backupPathOf(guestPath: string): string {
  return posix.join(GUEST_BACKUP_DIR, guestPath);
}

const LINK_ANCHORS = posix.join(GUEST_BACKUP_DIR, "@links");

/** Whether a change to this file must be made in place: it has other names that must see it. */
export function hasOtherNames(st: { nlink: number; isFile(): boolean } | undefined): boolean {
  return st !== undefined && st.isFile() && st.nlink > 1;
}

/** The journal and the backups are never a change's target. */
function assertNotJournal(path: string): void {
  if (path === GUEST_JOURNAL || path.startsWith(GUEST_BACKUP_DIR + "/")) throw new Error(`refusing to change ${path}: it belongs to the journal`);
}

export class Journal {
  readonly guest: GuestRoot;
  entries: JournalEntry[] = [];
  private readonly originals = new Set<string>();
  /** Directories moved into the backup tree whole: what is under them has its original there. */
  private readonly movedDirs = new Set<string>();
  private hostFile = "";
  /** What the last rollback could not put back, and why. */
  readonly unrestored: string[] = [];
  /** The disks outside the guest root (boot code): real ones unless a test gives others. */
  private readonly disks: DiskAccess;

  private constructor(guest: GuestRoot, disks: DiskAccess) {
    this.guest = guest;
    this.disks = disks;
  }

  /** Reads an existing journal, if any, without creating anything. */
  static async read(guest: GuestRoot, disks: DiskAccess = realDisks): Promise<Journal> {
    const j = new Journal(guest, disks);
    const kind = await guest.kind(GUEST_JOURNAL);
    if (kind && kind !== "file") throw new FixupError("GUEST_UNSAFE", `${GUEST_JOURNAL} in the guest is a ${kind}, not a file; remove it and run again`);
    const text = await guest.readText(GUEST_JOURNAL);
    if (text) {
      j.hostFile = await guest.hostPath(GUEST_JOURNAL);
      for (const line of text.split("\n")) {
        if (!line.trim()) continue;
        try {
          j.entries.push(JSON.parse(line) as JournalEntry);
        } catch {
          // a torn last line from a crash mid-append: everything before it is intact
        }
      }
      for (const e of j.entries) if (e.t === "orig") j.originals.add(e.path);
      for (const e of j.entries) if (e.t === "orig" && e.kind === "dir") j.movedDirs.add(e.path);
      for (const e of j.entries) if (e.t === "disk") j.originals.add(diskKey(e.device));
    }
    return j;
  }

  get isEmpty(): boolean {
    return this.entries.length === 0;
  }

  get lastStatus(): "succeeded" | "failed" | "incomplete" | "none" {
    if (this.isEmpty) return "none";
    const c = [...this.entries].reverse().find((e) => e.t === "complete");
    return c && c.t === "complete" ? c.status : "incomplete";
  }

  /** Starts a fresh journal (creating the data directory and recording what it created). */
  async begin(version: string): Promise<void> {
    const created = await this.guest.mkdirp(GUEST_DATA_DIR);
    this.hostFile = posix.join(await this.guest.hostPath(GUEST_DATA_DIR), posix.basename(GUEST_JOURNAL));
    this.entries = [];
    this.originals.clear();
    this.movedDirs.clear();
    // O_NOFOLLOW: the journal is ours; a link planted in its place must not redirect it
    closeSync(openSync(this.hostFile, C.O_WRONLY | C.O_CREAT | C.O_TRUNC | C.O_NOFOLLOW, 0o600));
    this.append({ t: "run", startedAt: new Date().toISOString(), version });
    if (created.length) this.append({ t: "mkdir", paths: created });
  }

  append(...es: JournalEntry[]): void {
    this.appendEntries(es, true);
  }

  /**
   * Appends entries, flushed to disk unless durable is false: an entry that only records
   * progress ("done") needs no flush of its own; the next flushed one carries it.
   */
  appendEntries(es: JournalEntry[], durable: boolean): void {
    if (!es.length) return;
    const fd = openSync(this.hostFile, C.O_WRONLY | C.O_APPEND | C.O_NOFOLLOW);
    try {
      appendFileSync(fd, es.map((e) => JSON.stringify(e) + "\n").join(""));
      if (durable) fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    this.entries.push(...es);
  }

  /** Journal position, to roll back one step's changes only. */
  mark(): number {
    return this.entries.length;
  }

  /**
   * Saves the original of a guest path (already resolved as the change will touch it) once
   * per run: a later change to the same path must not replace the true original.
   */
  async saveOriginal(path: string): Promise<void> {
    if (this.saved(path)) return;
    assertNotJournal(path);
    await this.saveOriginalUnchecked(path);
  }

  /**
   * saveOriginal for many paths at once (the files a command may rewrite: grub-install's
   * hundreds of platform files). The backups are written first, made durable together, and
   * then journaled in one append: the same order as one by one (a journal entry never points
   * at a backup that is not on disk), with their flushes issued together instead of three in
   * a row per file.
   */
  async saveOriginals(paths: string[]): Promise<void> {
    const entries: JournalEntry[] = [];
    const written: string[] = [];
    const done: string[] = [];
    // the backups of one directory's files share their directory: made (and checked) once
    const dirsReady = new Set<string>();
    const flush = async () => {
      if (written.length) await this.guest.syncWritten(written);
      this.append(...entries);
      for (const p of done) this.originals.add(p);
      entries.length = written.length = done.length = 0;
    };
    for (const path of new Set(paths)) {
      if (this.saved(path) || done.includes(path)) continue;
      assertNotJournal(path);
      const st = await this.guest.lstat(path);
      if (st?.isFile() && hasOtherNames(st)) {
        // its anchor link is made and journaled on its own: keep the order of what came before
        await flush();
        await this.saveOriginalUnchecked(path);
        continue;
      }
      const e = await this.originalOf(path, st, { durable: false, mkdir: (m) => entries.push(m), dirsReady });
      if (!e) continue;
      if (e.kind === "file") written.push(e.backup);
      entries.push(e);
      done.push(path);
    }
    await flush();
  }

  /** Whether the original of a path is saved: its own, or a directory above it moved whole. */
  private saved(path: string): boolean {
    return this.originals.has(path) || this.movedWhole(posix.dirname(path));
  }

  /** Whether this directory, or one above it, was moved into the backup tree whole. */
  private movedWhole(dir: string): boolean {
    for (let d = dir; d !== "/" && d !== "."; d = posix.dirname(d)) if (this.movedDirs.has(d)) return true;
    return false;
  }

  /**
   * Saves a directory that a command rewrites as a whole (grub-install's platform directory:
   * hundreds of files) by moving it into the backup tree in one rename, where a file's backup
   * would be, and leaves an empty directory with its mode and owner for the command to fill.
   * Returns false, having changed nothing, where its files are to be saved one by one
   * instead: it is no directory here (absent, or a link), an original under it is already
   * saved on its own, something is already where its backup goes, or the backup tree is on
   * another file system (a separate /boot).
   */
  async moveDirAside(dir: string): Promise<boolean> {
    if (this.movedWhole(dir)) return true;
    if (this.originals.has(dir)) return false;
    assertNotJournal(dir);
    const st = await this.guest.lstat(dir);
    if (!st?.isDirectory()) return false;
    for (const p of this.originals) if (p.startsWith(dir + "/")) return false;
    const backup = backupPathOf(dir);
    if (await this.guest.lstat(backup)) return false;
    const parent = posix.dirname(backup);
    const created = await this.guest.mkdirp(parent, 0o700);
    if (created.length) this.append({ t: "mkdir", paths: created });
    if ((await this.guest.lstat(parent))?.dev !== st.dev) return false;
    const owner = { uid: st.uid, gid: st.gid };
    this.append({ t: "orig", path: dir, kind: "dir", backup, mode: st.mode & 0o7777, ...owner, atimeMs: st.atimeMs, mtimeMs: st.mtimeMs });
    this.originals.add(dir);
    this.movedDirs.add(dir);
    await this.guest.moveDir(dir, backup);
    await this.guest.mkdir(dir, st.mode & 0o7777, owner);
    return true;
  }

  private async saveOriginalUnchecked(path: string): Promise<void> {
    const st = await this.guest.lstat(path);
    const e = await this.originalOf(path, st, { durable: true, mkdir: (m) => this.append(m) });
    if (!e) return;
    if (e.kind === "file" && st && hasOtherNames(st)) e.links = await this.anchorLinks(path, st);
    // appended (and synced) only now: the backup and the anchor are durable before the change
    this.append(e);
    this.originals.add(path);
  }

  /**
   * The entry that records a path's original: a file is first copied into the backup tree
   * (with its mode, owner and times; durable now, or left for the caller to flush), a link
   * or nothing is noted as such. The backup's new directories go to `mkdir` as they are made.
   * Undefined for a directory: directories are never replaced by a change, and other types
   * are refused by GuestRoot.
   */
  private async originalOf(path: string, st: Stats | undefined, o: { durable: boolean; mkdir: (e: JournalEntry) => void; dirsReady?: Set<string> }): Promise<Extract<JournalEntry, { t: "orig" }> | undefined> {
    if (!st) return { t: "orig", path, kind: "absent" };
    if (st.isSymbolicLink()) return { t: "orig", path, kind: "symlink", target: (await this.guest.readlink(path))! };
    if (!st.isFile()) return undefined;
    const backup = backupPathOf(path);
    const dir = posix.dirname(backup);
    if (!o.dirsReady?.has(dir)) {
      const created = await this.guest.mkdirp(dir, 0o700);
      if (created.length) o.mkdir({ t: "mkdir", paths: created });
      o.dirsReady?.add(dir);
    }
    await this.guest.writeFile(backup, await this.guest.readFile(path), st.mode & 0o7777, { uid: st.uid, gid: st.gid }, { durable: o.durable, times: st });
    return { t: "orig", path, kind: "file", backup, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, atimeMs: st.atimeMs, mtimeMs: st.mtimeMs };
  }

  /** Gives a hard-linked file's inode one more name in the backup tree, where it can. */
  private async anchorLinks(path: string, st: Stats): Promise<HardLinks> {
    const { ino, nlink } = st;
    const anchor = posix.join(LINK_ANCHORS, String(ino));
    const have = await this.guest.lstat(anchor);
    if (have?.isFile() && have.ino === ino && have.dev === st.dev) return { ino, nlink, anchor };
    if (have) return { ino, nlink }; // an inode number of another file system, already taken
    const created = await this.guest.mkdirp(LINK_ANCHORS, 0o700);
    if (created.length) this.append({ t: "mkdir", paths: created });
    try {
      await this.guest.link(path, anchor);
    } catch (e) {
      // on another file system (a separate /boot) no name can be kept: restored in place only
      if (["EXDEV", "EPERM", "EMLINK"].includes((e as NodeJS.ErrnoException).code ?? "")) return { ino, nlink };
      throw e;
    }
    return { ino, nlink, anchor };
  }

  /**
   * Saves what a command may write outside the file systems of `device` (the boot code and
   * GRUB's embedding area), once per run, into the backup tree like a file's original.
   */
  async saveBootArea(device: string): Promise<void> {
    const key = diskKey(device);
    if (this.originals.has(key)) return;
    const size = this.disks.size(device);
    const layout = layoutOf(this.disks, device, size);
    const backup = posix.join(GUEST_BACKUP_DIR, "@disks", `${posix.basename(device)}.boot-area`);
    const created = await this.guest.mkdirp(posix.dirname(backup), 0o700);
    if (created.length) this.append({ t: "mkdir", paths: created });
    await this.guest.writeFile(backup, this.disks.read(device, layout.ranges), 0o600);
    this.append({ t: "disk", device, size, ranges: layout.ranges, identity: identityOf(this.disks, device, layout.identity), backup });
    this.originals.add(key);
  }

  /** Directories a change created (parents of a new file), removed again on rollback. */
  recordCreatedDirs(paths: string[]): void {
    if (paths.length) this.append({ t: "mkdir", paths });
  }

  /**
   * Puts back every original recorded since `from` (all of them by default), newest first,
   * and removes the directories created since then. With from = 0 the journal, the backups
   * and the data directory go too, so the guest is as it was before stage 1.
   */
  async rollback(log: Logger, from = 0): Promise<number> {
    await this.clearExecTmp();
    const slice = this.entries.slice(from);
    let restored = 0;
    // the originals first, then the directories the run created: a step's originals are
    // journaled together before the directories its writes create, and a directory goes only
    // once the files in it are gone (no original lives in a directory the run created)
    for (const e of [...slice].reverse()) {
      if (e.t === "orig") {
        await this.restore(e);
        restored++;
        this.originals.delete(e.path);
        if (e.kind === "dir") this.movedDirs.delete(e.path);
        log.info(`rollback: restored ${e.path} (${e.kind === "absent" ? "removed, it did not exist" : e.kind})`);
      } else if (e.t === "disk") {
        const why = await this.restoreBootArea(e);
        this.originals.delete(diskKey(e.device));
        if (why) {
          // the backup tree goes at the end of a rollback: this one is kept for a person
          const kept = posix.join(GUEST_DATA_DIR, "unrestored", posix.basename(e.backup));
          const data = await this.guest.readBytes(e.backup);
          if (data) {
            await this.guest.mkdirp(posix.dirname(kept), 0o700);
            await this.guest.writeFile(kept, data, 0o600);
          }
          const msg = `the boot code on ${e.device} was not restored: ${why}${data ? `; its original (${e.ranges.map(([o, l]) => `${l} bytes at ${o}`).join(", ")}) is kept in the guest at ${kept}` : ""}`;
          this.unrestored.push(msg);
          log.warn(`rollback: ${msg}`);
        } else {
          restored++;
          log.info(`rollback: restored the boot area of ${e.device} (${e.ranges.map(([o, l]) => `${l} bytes at ${o}`).join(", ")})`);
        }
      }
    }
    for (const e of [...slice].reverse()) {
      if (e.t !== "mkdir") continue;
      for (const d of [...e.paths].reverse()) {
        // ours: the data directory and the backup tree go below, once nothing needs them
        if (d === GUEST_DATA_DIR || GUEST_DATA_DIR.startsWith(d + "/") || d === GUEST_BACKUP_DIR || d.startsWith(GUEST_BACKUP_DIR + "/")) continue;
        await this.removeDirIfEmpty(d, log);
      }
    }
    if (from === 0) {
      await this.removeTree(GUEST_BACKUP_DIR);
      await this.guest.remove(GUEST_JOURNAL);
      const dataCreated = this.entries.find((e) => e.t === "mkdir");
      if (dataCreated && dataCreated.t === "mkdir") for (const d of [...dataCreated.paths].reverse()) await this.removeDirIfEmpty(d, log);
      this.entries = [];
    } else {
      this.entries = this.entries.slice(0, from);
      // keep the on-disk journal consistent with what is left
      writeFileSync(this.hostFile, this.entries.map((x) => JSON.stringify(x) + "\n").join(""));
    }
    return restored;
  }

  /** Removes what commands left in EXEC_TMPDIR (a command killed half-way cannot clean up). */
  async clearExecTmp(): Promise<void> {
    await this.removeTree(EXEC_TMPDIR);
  }

  private async restore(e: Extract<JournalEntry, { t: "orig" }>): Promise<void> {
    if (e.kind === "dir") return this.restoreDir(e);
    const cur = await this.guest.lstat(e.path);
    if (e.kind === "file" && e.links) {
      await this.restoreLinked(e, e.links, cur);
    } else {
      if (cur && !cur.isDirectory()) await this.guest.remove(e.path);
      if (e.kind === "file") await this.guest.writeFile(e.path, await this.guest.readFile(e.backup), e.mode, { uid: e.uid, gid: e.gid });
      else if (e.kind === "symlink") await this.guest.symlink(e.path, e.target);
    }
    if (e.kind === "file" && e.mtimeMs !== undefined) await this.guest.setTimes(e.path, e.atimeMs ?? e.mtimeMs, e.mtimeMs);
  }

  /**
   * Puts a directory moved whole back in its place: what the command wrote there goes first.
   * No backup: the crash came before the move, and the directory never left.
   */
  private async restoreDir(e: Extract<JournalEntry, { t: "orig"; kind: "dir" }>): Promise<void> {
    if ((await this.guest.lstat(e.backup))?.isDirectory() !== true) return;
    await this.removeTree(e.path);
    await this.guest.moveDir(e.backup, e.path);
    await this.guest.setTimes(e.path, e.atimeMs, e.mtimeMs);
  }

  /** Puts a hard-linked file back into its own inode, under this name again if it lost it. */
  private async restoreLinked(e: Extract<JournalEntry, { t: "orig"; kind: "file" }>, links: HardLinks, cur: Stats | undefined): Promise<void> {
    const data = await this.guest.readFile(e.backup);
    const owner = { uid: e.uid, gid: e.gid };
    if (!(cur?.isFile() && cur.ino === links.ino)) {
      if (cur && !cur.isDirectory()) await this.guest.remove(e.path);
      const anchor = links.anchor ? await this.guest.lstat(links.anchor) : undefined;
      if (!(anchor?.isFile() && anchor.ino === links.ino)) {
        // the inode cannot be reached any more: this name gets the content, on its own
        await this.guest.writeFile(e.path, data, e.mode, owner);
        return;
      }
      await this.guest.link(links.anchor!, e.path);
    }
    await this.guest.writeInPlace(e.path, data, e.mode, owner);
  }

  /** Writes a boot area back; returns why it did not, if it did not. */
  private async restoreBootArea(e: Extract<JournalEntry, { t: "disk" }>): Promise<string | undefined> {
    const refused = this.disks.refuse(this.guest.root, e.device);
    if (refused) return refused;
    const size = this.disks.size(e.device);
    if (size !== e.size) return `it is not the disk stage 1 wrote to (${size} bytes, not ${e.size})`;
    if (identityOf(this.disks, e.device, layoutOf(this.disks, e.device, size).identity) !== e.identity) return "it is not the disk stage 1 wrote to (its partition table or disk identifier differs)";
    const data = await this.guest.readBytes(e.backup);
    const want = e.ranges.reduce((n, [, l]) => n + l, 0);
    if (data?.length !== want) return `its backup is ${data === undefined ? "missing" : `${data.length} bytes, not ${want}`}`;
    if (!this.disks.read(e.device, e.ranges).equals(data)) this.disks.write(e.device, e.ranges, data);
    return undefined;
  }

  private async removeDirIfEmpty(d: string, log: Logger): Promise<void> {
    const k = await this.guest.kind(d);
    if (k !== "dir") return;
    if ((await this.guest.readdir(d)).length === 0) await this.guest.remove(d);
    else log.warn(`rollback: left ${d} in place, it is not empty`);
  }

  private async removeTree(d: string): Promise<void> {
    const k = await this.guest.kind(d);
    if (k !== "dir") {
      if (k) await this.guest.remove(d);
      return;
    }
    for (const n of await this.guest.readdir(d)) await this.removeTree(posix.join(d, n));
    await this.guest.remove(d);
  }
}
