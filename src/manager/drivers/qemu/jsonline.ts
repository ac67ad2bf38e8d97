// A small JSON-over-unix-socket client for QMP and for qemu-guest-agent. Both speak one JSON
// object per command and per reply. Commands are serialised (one in flight), so a reply is
// matched to the command in flight by its "id" echo when present, else by order.
//
// QGA has no greeting and its host socket accepts one client at a time; a reply to a command
// that timed out may still arrive later. So before the first command, and after any timeout,
// the client resynchronises: it sends 0xFF and guest-sync-delimited with a fresh id; the
// agent flushes its parser and answers with 0xFF before the reply; everything up to the
// matching reply is dropped.
import { createConnection, type Socket } from "node:net";
import { randomInt } from "node:crypto";
import { EventEmitter } from "node:events";

export interface QmpError {
  class: string;
  desc: string;
}

export class JsonCommandError extends Error {
  readonly command: string;
  readonly errorClass: string;
  readonly desc: string;
  constructor(command: string, err: QmpError) {
    super(`${command}: ${err.class}: ${err.desc}`);
    this.name = "JsonCommandError";
    this.command = command;
    this.errorClass = err.class;
    this.desc = err.desc;
  }
}

export class JsonTimeoutError extends Error {
  constructor(what: string, ms: number) {
    super(`${what}: no answer within ${ms} ms`);
    this.name = "JsonTimeoutError";
  }
}

interface Waiter {
  id: number;
  resolve: (msg: Record<string, unknown>) => void;
  reject: (e: Error) => void;
}

export type Protocol = "qmp" | "qga";

export class JsonLineClient extends EventEmitter {
  readonly path: string;
  readonly protocol: Protocol;
  private sock: Socket | undefined;
  private buf: Buffer = Buffer.alloc(0);
  private waiter: Waiter | undefined;
  private syncing: { id: number; resolve: () => void } | undefined;
  private dropUntilFF = false;
  private chain: Promise<unknown> = Promise.resolve();
  private needSync = true;
  private closed = false;
  private nextId = 1;
  readonly events: Record<string, unknown>[] = [];

  constructor(path: string, protocol: Protocol) {
    super();
    this.path = path;
    this.protocol = protocol;
  }

  get isOpen(): boolean {
    return !!this.sock && !this.closed;
  }

  /** Connects; for QMP also reads the greeting and negotiates capabilities. */
  async connect(timeoutMs = 10_000): Promise<this> {
    const sock = createConnection(this.path);
    this.sock = sock;
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => {
        sock.destroy();
        reject(new JsonTimeoutError(`connect ${this.path}`, timeoutMs));
      }, timeoutMs);
      sock.once("connect", () => {
        clearTimeout(t);
        resolve();
      });
      sock.once("error", (e) => {
        clearTimeout(t);
        reject(e);
      });
    });
    sock.on("data", (d: Buffer) => this.onData(d));
    sock.on("error", () => undefined);
    sock.on("close", () => this.onClose());
    if (this.protocol === "qmp") {
      await this.readGreeting(timeoutMs);
      await this.execute("qmp_capabilities", undefined, timeoutMs);
    }
    return this;
  }

  private greeting: ((m: Record<string, unknown>) => void) | undefined;
  private readGreeting(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new JsonTimeoutError("QMP greeting", timeoutMs)), timeoutMs);
      this.greeting = () => {
        clearTimeout(t);
        resolve();
      };
    });
  }

  private onClose(): void {
    this.closed = true;
    const e = new Error(`${this.protocol} socket ${this.path} closed`);
    this.waiter?.reject(e);
    this.waiter = undefined;
    this.emit("close");
  }

  private onData(d: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    for (;;) {
      if (this.dropUntilFF) {
        const ff = this.buf.indexOf(0xff);
        if (ff < 0) {
          this.buf = Buffer.alloc(0);
          return;
        }
        this.buf = this.buf.subarray(ff + 1);
        this.dropUntilFF = false;
      }
      const nl = this.buf.indexOf(0x0a);
      if (nl < 0) return;
      const line = this.buf.subarray(0, nl).toString("utf8").replace(/\xff/g, "").trim();
      this.buf = this.buf.subarray(nl + 1);
      if (!line) continue;
      let msg: unknown;
      try {
        msg = JSON.parse(line);
      } catch {
        continue; // noise on the channel (a guest tty echo), never a reply
      }
      if (msg && typeof msg === "object") this.dispatch(msg as Record<string, unknown>);
    }
  }

  private dispatch(msg: Record<string, unknown>): void {
    if (this.greeting && "QMP" in msg) {
      const g = this.greeting;
      this.greeting = undefined;
      g(msg);
      return;
    }
    if ("event" in msg) {
      this.events.push(msg);
      if (this.events.length > 200) this.events.shift();
      this.emit("event", msg);
      return;
    }
    if (this.syncing) {
      if (msg.return === this.syncing.id) {
        const s = this.syncing;
        this.syncing = undefined;
        s.resolve();
      }
      return; // stale replies before the sync answer are dropped
    }
    const w = this.waiter;
    if (!w) return;
    if ("id" in msg && msg.id !== w.id) return; // a late reply to a command that timed out
    this.waiter = undefined;
    w.resolve(msg);
  }

  /** QGA only: flushes the agent's parser and drops stale replies. */
  async sync(timeoutMs: number): Promise<void> {
    const sock = this.sock;
    if (!sock || this.closed) throw new Error(`${this.protocol} socket ${this.path} is not connected`);
    const id = randomInt(1, 2 ** 31 - 1);
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => {
        this.syncing = undefined;
        reject(new JsonTimeoutError("guest-sync-delimited", timeoutMs));
      }, timeoutMs);
      this.syncing = {
        id,
        resolve: () => {
          clearTimeout(t);
          resolve();
        },
      };
      this.dropUntilFF = true;
      sock.write(Buffer.concat([Buffer.from([0xff]), Buffer.from(JSON.stringify({ execute: "guest-sync-delimited", arguments: { id } }) + "\n")]));
    });
    this.needSync = false;
  }

  /** Runs one command; rejects with JsonCommandError on an error reply. */
  execute<T = unknown>(command: string, args?: Record<string, unknown>, timeoutMs = 30_000): Promise<T> {
    const run = async (): Promise<T> => {
      if (this.protocol === "qga" && this.needSync) await this.sync(Math.min(timeoutMs, 5000));
      const sock = this.sock;
      if (!sock || this.closed) throw new Error(`${this.protocol} socket ${this.path} is not connected`);
      const id = this.nextId++;
      const reply = await new Promise<Record<string, unknown>>((resolve, reject) => {
        const t = setTimeout(() => {
          this.waiter = undefined;
          this.needSync = true;
          reject(new JsonTimeoutError(command, timeoutMs));
        }, timeoutMs);
        this.waiter = {
          id,
          resolve: (m) => {
            clearTimeout(t);
            resolve(m);
          },
          reject: (e) => {
            clearTimeout(t);
            reject(e);
          },
        };
        const msg: Record<string, unknown> = { execute: command, id };
        if (args) msg.arguments = args;
        sock.write(JSON.stringify(msg) + "\n");
      });
      if (reply.error) throw new JsonCommandError(command, reply.error as QmpError);
      return reply.return as T;
    };
    const p = this.chain.then(run, run);
    this.chain = p.catch(() => undefined);
    return p;
  }

  /** Sends a command whose reply may never come (guest-shutdown, quit). */
  async fire(command: string, args?: Record<string, unknown>): Promise<void> {
    await this.chain;
    if (!this.sock || this.closed) return;
    const msg: Record<string, unknown> = { execute: command };
    if (args) msg.arguments = args;
    this.sock.write(JSON.stringify(msg) + "\n");
    this.needSync = true;
  }

  close(): void {
    this.closed = true;
    this.sock?.destroy();
    this.sock = undefined;
  }
}
