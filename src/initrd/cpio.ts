// A streaming reader of cpio "newc" archives (070701, and 070702 with checksums), as the
// kernel unpacks them into its rootfs: archives follow one another, each closed by
// TRAILER!!!, with zero bytes allowed between them. It is fed chunks of any size, so a
// decompressed initramfs of hundreds of MB never has to be in memory at once: only the
// entries the caller asks for keep their data.

export type CpioKind = "file" | "dir" | "symlink" | "other";

export interface CpioEntry {
  /** The path without a leading "./" or "/" ("usr/lib/modules/6.1.0-27-amd64/modules.dep"). */
  name: string;
  kind: CpioKind;
  mode: number;
  size: number;
  /** The content, for the entries the caller asked to keep. */
  data?: Buffer;
}

export class CpioError extends Error {}

const HEADER = 110;
const TRAILER = "TRAILER!!!";

function kindOf(mode: number): CpioKind {
  switch (mode & 0o170000) {
    case 0o100000:
      return "file";
    case 0o040000:
      return "dir";
    case 0o120000:
      return "symlink";
    default:
      return "other";
  }
}

/** "./a/b", "/a/b" and "a/b" are the same path in the unpacked rootfs; "." is its top, "". */
export function cpioPath(name: string): string {
  const p = name.replace(/^(\.\/|\/)+/, "").replace(/\/+$/, "");
  return p === "." ? "" : p;
}

const STOP = -2;
const pad4 = (n: number) => (4 - (n % 4)) % 4;

export interface CpioReaderOptions {
  /** Whether to keep an entry's content (called once per entry, before its data). */
  keep?: (name: string, size: number, kind: CpioKind) => boolean;
  onEntry: (e: CpioEntry) => void;
}

type State =
  | { t: "between" }
  | { t: "header" }
  | { t: "name"; mode: number; size: number; nameSize: number }
  | { t: "data"; entry: CpioEntry; left: number; parts: Buffer[] | undefined; trailer: boolean };

export class CpioReader {
  private state: State = { t: "between" };
  private pending: Buffer = Buffer.alloc(0);
  /** Bytes consumed so far: newc pads headers and data to multiples of 4 counted from here. */
  private pos = 0;
  private readonly opts: CpioReaderOptions;
  private stopped = false;
  archives = 0;
  /**
   * Stop, instead of failing, at data that is not an archive after a trailer: an image's
   * uncompressed prefix is followed by its compressed part.
   */
  stopAtForeign = false;

  constructor(opts: CpioReaderOptions) {
    this.opts = opts;
  }

  /** True after a TRAILER!!! (and any zero padding): the stream may end here. */
  get atBoundary(): boolean {
    return this.state.t === "between" && this.pending.length === 0;
  }

  /** Bytes taken so far (zero padding included; after a stop, up to the foreign data). */
  get consumed(): number {
    return this.pos;
  }

  push(chunk: Buffer): void {
    if (this.stopped) return;
    let buf = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = Buffer.alloc(0);
    for (;;) {
      const used = this.step(buf);
      if (used === STOP) {
        this.stopped = true;
        return;
      }
      if (used < 0) {
        this.pending = Buffer.from(buf);
        return;
      }
      buf = buf.subarray(used);
      this.pos += used;
    }
  }

  /** Throws when the stream stopped inside an archive. */
  end(): void {
    if (this.state.t !== "between" || this.pending.length) throw new CpioError(`the cpio stream ends inside an archive (at byte ${this.pos + this.pending.length})`);
    if (!this.archives) throw new CpioError("no cpio archive found");
  }

  /** Consumes what it can from the front of buf; -1 when it needs more bytes, STOP at foreign data. */
  private step(buf: Buffer): number {
    const s = this.state;
    switch (s.t) {
      case "between": {
        let i = 0;
        while (i < buf.length && buf[i] === 0) i++;
        if (i) return i;
        if (this.stopAtForeign && this.archives && buf.length && buf[0] !== 0x30) return STOP;
        if (buf.length < 6) return -1;
        const magic = buf.toString("latin1", 0, 6);
        if (magic !== "070701" && magic !== "070702" && this.stopAtForeign && this.archives) return STOP;
        if (magic !== "070701" && magic !== "070702") throw new CpioError(`not a newc cpio archive (magic ${JSON.stringify(magic)} at byte ${this.pos})`);
        this.state = { t: "header" };
        return 0;
      }
      case "header": {
        if (buf.length < HEADER) return -1;
        const magic = buf.toString("latin1", 0, 6);
        if (magic !== "070701" && magic !== "070702") throw new CpioError(`bad cpio header magic ${JSON.stringify(magic)} at byte ${this.pos}`);
        const field = (i: number) => {
          const h = buf.toString("latin1", 6 + i * 8, 14 + i * 8);
          if (!/^[0-9A-Fa-f]{8}$/.test(h)) throw new CpioError(`bad cpio header field at byte ${this.pos + 6 + i * 8}`);
          return parseInt(h, 16);
        };
        const nameSize = field(11);
        if (nameSize < 1 || nameSize > 65536) throw new CpioError(`bad cpio name size ${nameSize} at byte ${this.pos}`);
        this.state = { t: "name", mode: field(1), size: field(6), nameSize };
        return HEADER;
      }
      case "name": {
        const len = s.nameSize + pad4(this.pos + s.nameSize);
        if (buf.length < len) return -1;
        const raw = buf.toString("utf8", 0, s.nameSize - 1);
        const trailer = raw === TRAILER;
        const entry: CpioEntry = { name: cpioPath(raw), kind: kindOf(s.mode), mode: s.mode, size: s.size };
        const keep = !trailer && (this.opts.keep?.(entry.name, entry.size, entry.kind) ?? false);
        this.state = { t: "data", entry, left: s.size, parts: keep ? [] : undefined, trailer };
        return len;
      }
      case "data": {
        if (s.left > 0) {
          if (!buf.length) return -1;
          const n = Math.min(s.left, buf.length);
          s.parts?.push(Buffer.from(buf.subarray(0, n)));
          s.left -= n;
          return n;
        }
        const p = pad4(this.pos);
        if (buf.length < p) return -1;
        if (s.parts) s.entry.data = Buffer.concat(s.parts);
        if (s.trailer) {
          this.archives++;
          this.state = { t: "between" };
        } else {
          this.opts.onEntry(s.entry);
          this.state = { t: "header" };
        }
        return p;
      }
    }
  }
}

export interface NewcFile {
  name: string;
  /** Default: a regular file 0644 (directories: 040755, links: 0120777 with the target as data). */
  mode?: number;
  data?: Buffer | string;
}

/**
 * Writes a newc archive closed by TRAILER!!!: the segment initrd/append.ts adds to an image,
 * and the images tests build. mtime is in seconds since the epoch.
 */
export function writeNewc(files: NewcFile[], opts: { mtime?: number } = {}): Buffer {
  const parts: Buffer[] = [];
  let pos = 0;
  let ino = 1;
  const put = (b: Buffer) => {
    parts.push(b);
    pos += b.length;
  };
  const hex = (n: number) => n.toString(16).padStart(8, "0");
  for (const f of [...files, { name: TRAILER, mode: 0, data: "" }]) {
    const data = typeof f.data === "string" ? Buffer.from(f.data) : (f.data ?? Buffer.alloc(0));
    const name = Buffer.from(f.name + "\0");
    const mode = f.mode ?? 0o100644;
    const fields = [ino++, mode, 0, 0, 1, opts.mtime ?? 0, data.length, 0, 0, 0, 0, name.length, 0];
    put(Buffer.from("070701" + fields.map(hex).join(""), "latin1"));
    put(name);
    put(Buffer.alloc(pad4(pos)));
    put(data);
    put(Buffer.alloc(pad4(pos)));
  }
  return Buffer.concat(parts);
}
