// Path-confined access to a guest filesystem mounted at some host directory. Every guest
// path is resolved component by component, following symlinks as the guest itself would see
// them (an absolute link restarts at the guest's root, '..' stops at the guest's root), so
// no read or write can reach the host's own files, however the guest's links are laid out.
import { constants as C } from "node:fs";
import * as fs from "node:fs/promises";
import type { Stats } from "node:fs";
import { basename, dirname, posix } from "node:path";
import { chmodSync, chownSync, closeSync, fchmodSync, fchownSync, fsyncSync, futimesSync, lstatSync, mkdirSync, openSync, readFileSync, readdirSync, readlinkSync, realpathSync, renameSync, writeFileSync } from "node:fs";
import { execa } from "execa";
import { FixupError } from "../protocol/codes.ts";

const MAX_LINKS = 40; // the kernel's own limit (MAXSYMLINKS)
/** The fewest files flushed by one syncfs rather than by their own fsyncs. */
export const SYNCFS_MIN = 32;

/** What a guest path is, without following a final link ("dirlink": a link to a directory). */
export type EntryKind = "file" | "dir" | "symlink" | "dirlink" | "other";

export interface Resolved {
  /** Host path of the resolved location. */
  host: string;
  /** The guest path after following links. */
  guest: string;
  /** lstat of the final component, or undefined when it does not exist. */
  stat: Stats | undefined;
  /** Whether the path up to the final component resolved to an existing directory. */
  dirExists: boolean;
}

function splitGuest(p: string): string[] {
  return p.split("/").filter((c) => c !== "" && c !== ".");
}

export function assertGuestPath(p: string): void {
  if (typeof p !== "string" || !p.startsWith("/")) throw new FixupError("GUEST_UNSAFE", `guest path must be absolute: ${JSON.stringify(p)}`);
  if (p.includes("\0")) throw new FixupError("GUEST_UNSAFE", `guest path contains a NUL byte: ${JSON.stringify(p)}`);
}

/**
 * Flushes the whole file system that holds a host path, as syncfs(2) does; false where it
 * cannot (the caller then flushes file by file).
 */
export type FsSyncer = (hostPath: string) => Promise<boolean>;

let syncMissing = false;

/** syncfs(2) through coreutils' `sync --file-system` (Node has no syncfs). */
export const coreutilsSyncFs: FsSyncer = async (hostPath) => {
  if (syncMissing) return false;
  const r = await execa("sync", ["--file-system", hostPath], { reject: false });
  // not installed (or a sync without --file-system): no use asking again
  if ((r as { code?: string }).code === "ENOENT" || /unrecognized|invalid|unknown/i.test(r.stderr ?? "")) syncMissing = true;
  return !r.failed;
};

export interface GuestRootOptions {
  /** How a batch of writes is flushed at once (tests count the calls). */
  syncFs?: FsSyncer;
  /**
   * Whether the file system at the root belongs to the guest alone (nobody else writes it),
   * so one syncfs flushes our writes and no one else's. Default: the root is a mount point
   * of its own (the fixup VM's mounts, a loop disk), and not the host's "/".
   */
  ownFs?: boolean;
}

export class GuestRoot {
  readonly root: string;
  private readonly syncFs: FsSyncer;
  /** The device of the root's file system when it is the guest's own, else undefined. */
  private readonly ownDev: number | undefined;

  constructor(root: string, o: GuestRootOptions = {}) {
    this.root = realpathSync(root);
    this.syncFs = o.syncFs ?? coreutilsSyncFs;
    const dev = lstatSync(this.root).dev;
    const own = o.ownFs ?? (this.root !== "/" && lstatSync(dirname(this.root)).dev !== dev);
    this.ownDev = own ? dev : undefined;
  }

  private hostOf(components: string[]): string {
    return components.length ? `${this.root === "/" ? "" : this.root}/${components.join("/")}` : this.root;
  }

  /**
   * Resolves a guest path to a host path inside the root. With followLast false the final
   * component is not followed if it is a link (lstat semantics, as for rename or unlink).
   * The lookups are synchronous: each is a short metadata call, and in the fixup VM (QEMU
   * TCG) the thread pool's hand-off for an asynchronous one costs several times the call
   * itself, on every component of every path stage 1 reads or writes.
   */
  async resolve(guestPath: string, followLast = true): Promise<Resolved> {
    assertGuestPath(guestPath);
    const pending = splitGuest(guestPath);
    const done: string[] = [];
    let links = 0;
    let missing = false;
    let dirMissing = false;
    let last: Stats | undefined = lstatSync(this.root);
    while (pending.length) {
      const comp = pending.shift()!;
      if (comp === "..") {
        done.pop(); // at the guest's root, '..' is the root itself
        if (!missing) last = lstatSync(this.hostOf(done));
        continue;
      }
      done.push(comp);
      if (missing) continue;
      const host = this.hostOf(done);
      let st: Stats;
      try {
        st = lstatSync(host);
      } catch (e) {
        // a name longer than a file system allows (a guest file may say anything) cannot exist
        const code = (e as NodeJS.ErrnoException).code;
        if (code === "ENOENT" || code === "ENAMETOOLONG") {
          missing = true;
          dirMissing = pending.length > 0;
          last = undefined;
          continue;
        }
        throw e;
      }
      const isLast = pending.length === 0;
      if (st.isSymbolicLink() && (!isLast || followLast)) {
        if (++links > MAX_LINKS) throw new FixupError("GUEST_UNSAFE", `too many levels of symbolic links resolving ${guestPath} in the guest`);
        const target = readlinkSync(host);
        done.pop();
        if (target.startsWith("/")) done.length = 0;
        pending.unshift(...splitGuest(target));
        continue;
      }
      if (!isLast && !st.isDirectory()) throw new FixupError("GUEST_UNSAFE", `${"/" + done.join("/")} is not a directory in the guest (resolving ${guestPath})`);
      last = st;
    }
    if (missing) last = undefined;
    return { host: this.hostOf(done), guest: "/" + done.join("/"), stat: last, dirExists: !dirMissing };
  }

  /** Host path for a guest path (links followed inside the guest). For handing to tools. */
  async hostPath(guestPath: string): Promise<string> {
    return (await this.resolve(guestPath)).host;
  }

  async lstat(guestPath: string): Promise<Stats | undefined> {
    return (await this.resolve(guestPath, false)).stat;
  }

  async stat(guestPath: string): Promise<Stats | undefined> {
    return (await this.resolve(guestPath, true)).stat;
  }

  async exists(guestPath: string): Promise<boolean> {
    return (await this.stat(guestPath)) !== undefined;
  }

  async readFile(guestPath: string): Promise<Buffer> {
    const r = await this.resolve(guestPath);
    if (!r.stat) throw Object.assign(new Error(`ENOENT: no such file in the guest: ${guestPath}`), { code: "ENOENT" });
    if (!r.stat.isFile()) throw new FixupError("GUEST_UNSAFE", `${guestPath} is not a regular file in the guest`);
    // O_NOFOLLOW: the final component was checked above and must still not be a link now
    // synchronous for the reason resolve() gives; a file is read whole anyway
    const fd = openSync(r.host, C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK);
    try {
      return readFileSync(fd);
    } finally {
      closeSync(fd);
    }
  }

  /** The file's text, or undefined when it does not exist. */
  async readText(guestPath: string): Promise<string | undefined> {
    return (await this.readBytes(guestPath))?.toString("utf8");
  }

  async readBytes(guestPath: string): Promise<Buffer | undefined> {
    try {
      return await this.readFile(guestPath);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw e;
    }
  }

  async kind(guestPath: string): Promise<EntryKind | undefined> {
    const st = await this.lstat(guestPath);
    if (!st) return undefined;
    if (st.isSymbolicLink()) return (await this.stat(guestPath))?.isDirectory() ? "dirlink" : "symlink";
    return st.isFile() ? "file" : st.isDirectory() ? "dir" : "other";
  }

  async readdir(guestPath: string): Promise<string[]> {
    const r = await this.resolve(guestPath);
    if (!r.stat?.isDirectory()) return [];
    return readdirSync(r.host).sort();
  }

  /**
   * A directory's entries with what each is, as kind() says, sorted by name: the directory is
   * resolved once and the kinds come with the names (one lookup per link only, or where the
   * file system does not give the type), not a lookup of every entry's path from the root.
   */
  async readdirKinds(guestPath: string): Promise<[string, EntryKind | undefined][]> {
    const r = await this.resolve(guestPath);
    if (!r.stat?.isDirectory()) return [];
    const out: [string, EntryKind | undefined][] = [];
    for (const d of readdirSync(r.host, { withFileTypes: true })) {
      let k: EntryKind | undefined;
      if (d.isDirectory()) k = "dir";
      else if (d.isFile()) k = "file";
      else if (d.isBlockDevice() || d.isCharacterDevice() || d.isFIFO() || d.isSocket()) k = "other";
      // a link (what it points at, inside the guest, decides), or no type from the file system
      else k = await this.kind(posix.join(r.guest, d.name));
      out.push([d.name, k]);
    }
    return out.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  }

  async readlink(guestPath: string): Promise<string | undefined> {
    const r = await this.resolve(guestPath, false);
    if (!r.stat?.isSymbolicLink()) return undefined;
    return readlinkSync(r.host);
  }

  /** Creates the directory and its missing parents; returns the guest paths it created. */
  async mkdirp(guestPath: string, mode = 0o755): Promise<string[]> {
    assertGuestPath(guestPath);
    const created: string[] = [];
    const comps = splitGuest(guestPath);
    let cur = "";
    for (const c of comps) {
      cur = posix.join(cur || "/", c);
      const r = await this.resolve(cur);
      if (r.stat) {
        if (!r.stat.isDirectory()) throw new FixupError("GUEST_UNSAFE", `${cur} exists in the guest and is not a directory`);
        cur = r.guest;
        continue;
      }
      if (r.guest !== cur) {
        // a dangling link: create what it points at, inside the guest, parents included
        created.push(...(await this.mkdirp(r.guest, mode)));
      } else {
        try {
          await fs.mkdir(r.host, { mode });
          created.push(r.guest);
        } catch (e) {
          // made meanwhile by a step running alongside (see FixupStep.alongside): that step
          // journaled it; anything but a directory is still refused
          if ((e as NodeJS.ErrnoException).code !== "EEXIST" || !(await fs.lstat(r.host)).isDirectory()) throw e;
        }
      }
      cur = r.guest;
    }
    return created;
  }

  /**
   * Atomically replaces (or creates) a file: temp file in the same directory, fsync, rename.
   * An existing file keeps its mode and owner unless a mode is given. A link is followed, as
   * the guest would; a device node, FIFO or directory in its place is refused. `times` sets
   * the new file's access and modification times before it takes the name (a backup keeps
   * its original's). The file calls are synchronous, for the reason resolve() gives.
   */
  async writeFile(guestPath: string, data: Buffer | string, mode?: number, owner?: { uid: number; gid: number }, opts: { durable?: boolean; times?: { atimeMs: number; mtimeMs: number } } = {}): Promise<void> {
    const durable = opts.durable !== false;
    const r = await this.resolve(guestPath);
    if (r.stat && !r.stat.isFile()) throw new FixupError("GUEST_UNSAFE", `${guestPath} is not a regular file in the guest; refusing to replace it`);
    if (!r.dirExists) throw Object.assign(new Error(`ENOENT: no directory ${dirname(r.guest)} in the guest`), { code: "ENOENT" });
    const dir = dirname(r.host);
    const tmp = `${dir}/.${basename(r.host)}.osam-${process.pid}-${Date.now()}`;
    const fd = openSync(tmp, C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, 0o600);
    try {
      writeFileSync(fd, data);
      fchmodSync(fd, mode ?? (r.stat ? r.stat.mode & 0o7777 : 0o644));
      const own = owner ?? (r.stat ? { uid: r.stat.uid, gid: r.stat.gid } : undefined);
      if (own) fchownSync(fd, own.uid, own.gid);
      if (opts.times) futimesSync(fd, opts.times.atimeMs / 1000, opts.times.mtimeMs / 1000);
      if (durable) fsyncSync(fd);
    } catch (e) {
      closeSync(fd);
      await fs.rm(tmp, { force: true });
      throw e;
    }
    closeSync(fd);
    renameSync(tmp, r.host);
    if (durable) await syncDir(dir);
  }

  /**
   * Makes files written with durable: false durable. Where they all are on the guest's own
   * root file system, one syncfs does it for the batch: in the fixup VM every flush is a
   * flush of the virtual disk, and one costs what a few hundred fsyncs would. Elsewhere only
   * these files are flushed: syncfs(2) would also wait for every other writer's data on a
   * shared file system (268 s once in CI, after npm ci). Their fsyncs are then issued
   * together (a journaling file system commits them in a few transactions), then each
   * directory they are in once.
   */
  async syncWritten(written: string[]): Promise<void> {
    if (!written.length) return;
    // a few files: their fsyncs (one journal commit when issued together) cost less than
    // starting the sync process, a tenth of a second in the fixup VM
    if (written.length >= SYNCFS_MIN && (await this.syncOwnFs(written))) return;
    const dirs = new Set<string>();
    const hosts: string[] = [];
    for (const p of written) {
      const w = await this.resolve(p, false);
      if (!w.stat?.isFile()) continue;
      hosts.push(w.host);
      dirs.add(dirname(w.host));
    }
    const PARALLEL = 32;
    for (let i = 0; i < hosts.length; i += PARALLEL) {
      await Promise.all(
        hosts.slice(i, i + PARALLEL).map(async (h) => {
          const fh = await fs.open(h, C.O_RDONLY | C.O_NOFOLLOW);
          try {
            await fh.sync();
          } finally {
            await fh.close();
          }
        }),
      );
    }
    for (const d of dirs) await syncDir(d);
  }

  /**
   * One syncfs for files we wrote, when their directories are all on the root's own file
   * system (a file renamed into a directory is on the directory's file system); false when
   * they are not, or syncfs is not to be had.
   */
  private async syncOwnFs(written: string[]): Promise<boolean> {
    if (this.ownDev === undefined) return false;
    const dirs = new Map<string, string>();
    for (const p of written) {
      const d = posix.dirname(p);
      if (dirs.has(d)) continue;
      const r = await this.resolve(d);
      if (!r.stat?.isDirectory() || r.stat.dev !== this.ownDev) return false;
      dirs.set(d, r.host);
    }
    return this.syncFs(dirs.values().next().value!);
  }

  /**
   * Rewrites a regular file's content in its own inode: for a file with several hard links,
   * where a new file renamed into place would leave the other names with the old content.
   * Not atomic: the caller has a durable backup first. Mode and owner as given, or kept.
   */
  async writeInPlace(guestPath: string, data: Buffer | string, mode?: number, owner?: { uid: number; gid: number }): Promise<void> {
    const r = await this.resolve(guestPath);
    if (!r.stat?.isFile()) throw new FixupError("GUEST_UNSAFE", `${guestPath} is not a regular file in the guest; refusing to write into it`);
    const buf = typeof data === "string" ? Buffer.from(data, "utf8") : data;
    const fh = await fs.open(r.host, C.O_WRONLY | C.O_NOFOLLOW | C.O_NONBLOCK);
    try {
      if (!(await fh.stat()).isFile()) throw new FixupError("GUEST_UNSAFE", `${guestPath} is not a regular file in the guest; refusing to write into it`);
      await fh.writeFile(buf); // a fresh handle writes from offset 0, in full
      await fh.truncate(buf.length);
      if (mode !== undefined) await fh.chmod(mode);
      if (owner) await fh.chown(owner.uid, owner.gid);
      await fh.sync();
    } finally {
      await fh.close();
    }
  }

  /** Gives an existing file (not followed if a link) one more name, as link(2) does. */
  async link(existing: string, newPath: string): Promise<void> {
    const a = await this.resolve(existing, false);
    if (!a.stat?.isFile()) throw new FixupError("GUEST_UNSAFE", `${existing} is not a regular file in the guest; refusing to link it`);
    const b = await this.resolve(newPath, false);
    await fs.link(a.host, b.host);
    await syncDir(dirname(b.host));
  }

  /** Sets a file's access and modification times (the file itself, never through a link). */
  async setTimes(guestPath: string, atimeMs: number, mtimeMs: number): Promise<void> {
    const r = await this.resolve(guestPath, false);
    if (!r.stat) return;
    await fs.lutimes(r.host, atimeMs / 1000, mtimeMs / 1000);
  }

  /** Renames a file or link (the link itself, not its target). */
  async rename(from: string, to: string): Promise<void> {
    const a = await this.resolve(from, false);
    if (!a.stat) throw Object.assign(new Error(`ENOENT: ${from} does not exist in the guest`), { code: "ENOENT" });
    const b = await this.resolve(to, false);
    if (b.stat?.isDirectory()) throw new FixupError("GUEST_UNSAFE", `${to} is a directory in the guest; refusing to replace it`);
    await fs.rename(a.host, b.host);
    await syncDir(dirname(b.host));
  }

  /**
   * Moves a directory (never a link to one) to a new name that does not exist yet, on the same
   * file system (EXDEV otherwise, as rename(2) says). Durable in both parent directories.
   */
  async moveDir(from: string, to: string): Promise<void> {
    const a = await this.resolve(from, false);
    if (!a.stat?.isDirectory()) throw new FixupError("GUEST_UNSAFE", `${from} is not a directory in the guest; refusing to move it as one`);
    const b = await this.resolve(to, false);
    if (b.stat) throw Object.assign(new Error(`EEXIST: ${to} exists in the guest`), { code: "EEXIST" });
    renameSync(a.host, b.host);
    await syncDir(dirname(a.host));
    if (dirname(b.host) !== dirname(a.host)) await syncDir(dirname(b.host));
  }

  /** Creates one directory (its parent exists) with this mode and owner, durable in its parent. */
  async mkdir(guestPath: string, mode: number, owner: { uid: number; gid: number }): Promise<void> {
    const r = await this.resolve(guestPath, false);
    if (r.stat) throw Object.assign(new Error(`EEXIST: ${guestPath} exists in the guest`), { code: "EEXIST" });
    mkdirSync(r.host, { mode });
    // the umask narrowed the mode; the owner is the original's, not ours
    chownSync(r.host, owner.uid, owner.gid);
    chmodSync(r.host, mode);
    await syncDir(dirname(r.host));
  }

  async symlink(guestPath: string, target: string): Promise<void> {
    const r = await this.resolve(guestPath, false);
    if (r.stat?.isDirectory()) throw new FixupError("GUEST_UNSAFE", `${guestPath} is a directory in the guest; refusing to replace it with a link`);
    const tmp = `${dirname(r.host)}/.${basename(r.host)}.osam-${process.pid}-${Date.now()}`;
    await fs.symlink(target, tmp);
    await fs.rename(tmp, r.host);
    await syncDir(dirname(r.host));
  }

  /** Removes a file or link (not following it). Missing is fine. Directories only when empty. */
  async remove(guestPath: string): Promise<void> {
    const r = await this.resolve(guestPath, false);
    if (!r.stat) return;
    if (r.stat.isDirectory()) await fs.rmdir(r.host);
    else await fs.unlink(r.host);
    await syncDir(dirname(r.host));
  }

  /** Guest path of a host path inside the root, or undefined if it lies outside. */
  toGuest(hostPath: string): string | undefined {
    if (hostPath === this.root) return "/";
    const prefix = this.root === "/" ? "/" : this.root + "/";
    return hostPath.startsWith(prefix) ? "/" + hostPath.slice(prefix.length) : undefined;
  }
}

async function syncDir(dir: string): Promise<void> {
  try {
    const fh = await fs.open(dir, C.O_RDONLY | C.O_DIRECTORY);
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch {
    // some filesystems (tmpfs under tests, vfat) do not support fsync on directories
  }
}
