// The read-only view of a guest that fixups plan against. In `plan` mode it is an overlay:
// the changes planned by earlier steps are visible to later ones (two steps that both edit
// /etc/default/grub see each other's edits) while the disk stays untouched.
import { dirname, posix } from "node:path";
import type { EntryKind, GuestRoot } from "./guest-root.ts";

export interface GuestView {
  readonly root: GuestRoot;
  readText(path: string): Promise<string | undefined>;
  readBytes(path: string): Promise<Buffer | undefined>;
  kind(path: string): Promise<EntryKind | undefined>;
  exists(path: string): Promise<boolean>;
  readdir(path: string): Promise<string[]>;
  /** readdir with each entry's kind, as kind() of its path says; sorted by name. */
  readdirKinds(path: string): Promise<[string, EntryKind | undefined][]>;
  readlink(path: string): Promise<string | undefined>;
}

/** The guest as it is on disk. */
export class DiskView implements GuestView {
  readonly root: GuestRoot;
  constructor(root: GuestRoot) {
    this.root = root;
  }
  readText(p: string) { return this.root.readText(p); }
  readBytes(p: string) { return this.root.readBytes(p); }
  kind(p: string) { return this.root.kind(p); }
  exists(p: string) { return this.root.exists(p); }
  readdir(p: string) { return this.root.readdir(p); }
  readdirKinds(p: string) { return this.root.readdirKinds(p); }
  readlink(p: string) { return this.root.readlink(p); }
}

type Entry = { t: "file"; data: Buffer } | { t: "symlink"; target: string } | { t: "removed" };

export class OverlayView implements GuestView {
  readonly root: GuestRoot;
  private readonly entries = new Map<string, Entry>();
  constructor(root: GuestRoot) {
    this.root = root;
  }

  private static norm(p: string): string {
    return posix.normalize(p).replace(/\/+$/, "") || "/";
  }

  setFile(p: string, data: Buffer): void { this.entries.set(OverlayView.norm(p), { t: "file", data }); }
  setLink(p: string, target: string): void { this.entries.set(OverlayView.norm(p), { t: "symlink", target }); }
  setRemoved(p: string): void { this.entries.set(OverlayView.norm(p), { t: "removed" }); }
  async rename(from: string, to: string): Promise<void> {
    const link = await this.readlink(from);
    if (link !== undefined) this.setLink(to, link);
    else this.setFile(to, (await this.readBytes(from)) ?? Buffer.alloc(0));
    this.setRemoved(from);
  }

  async readBytes(p: string): Promise<Buffer | undefined> {
    const e = this.entries.get(OverlayView.norm(p));
    if (e) return e.t === "file" ? e.data : e.t === "removed" ? undefined : this.readBytes(posix.resolve(dirname(p), e.target));
    return this.root.readBytes(p);
  }
  async readText(p: string): Promise<string | undefined> {
    return (await this.readBytes(p))?.toString("utf8");
  }
  async kind(p: string): Promise<EntryKind | undefined> {
    const e = this.entries.get(OverlayView.norm(p));
    if (e) return e.t === "file" ? "file" : e.t === "removed" ? undefined : "symlink";
    return this.root.kind(p);
  }
  async exists(p: string): Promise<boolean> {
    const e = this.entries.get(OverlayView.norm(p));
    if (e) return e.t !== "removed";
    return this.root.exists(p);
  }
  async readdir(p: string): Promise<string[]> {
    const dir = OverlayView.norm(p);
    const names = new Set(await this.root.readdir(p));
    for (const [path, e] of this.entries) {
      if (dirname(path) !== dir) continue;
      const name = path.slice(dir === "/" ? 1 : dir.length + 1);
      if (e.t === "removed") names.delete(name);
      else names.add(name);
    }
    return [...names].sort();
  }
  async readdirKinds(p: string): Promise<[string, EntryKind | undefined][]> {
    const dir = OverlayView.norm(p);
    const kinds = new Map(await this.root.readdirKinds(p));
    for (const [path, e] of this.entries) {
      if (dirname(path) !== dir) continue;
      const name = path.slice(dir === "/" ? 1 : dir.length + 1);
      if (e.t === "removed") kinds.delete(name);
      else kinds.set(name, e.t === "file" ? "file" : "symlink");
    }
    return [...kinds].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  }
  async readlink(p: string): Promise<string | undefined> {
    const e = this.entries.get(OverlayView.norm(p));
    if (e) return e.t === "symlink" ? e.target : undefined;
    return this.root.readlink(p);
  }
}
