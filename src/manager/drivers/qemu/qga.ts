// Guest file operations through qemu-guest-agent on the VM's virtio-serial port. One client
// per socket (the agent's host socket serves a single connection), reconnected when the VM
// restarts. QGA has no directory listing: `ls` runs through guest-exec with an argument
// array, the path passed as an argument, never inside a shell string.
import { JsonCommandError, JsonLineClient } from "./jsonline.ts";
import { DriverError, GuestFileNotFoundError, sleep, type GuestFileInfo, type GuestOps, type WaitOptions } from "../types.ts";

const READ_CHUNK = 1024 * 1024;
const WRITE_CHUNK = 256 * 1024;
/** A guest-file-open of a missing file over the local socket: milliseconds, even under TCG. */
const QUICK_POLL_MS = 250;

function isNotFound(e: unknown): boolean {
  return e instanceof JsonCommandError && /No such file or directory/i.test(e.desc);
}

export class QgaGuest implements GuestOps {
  private readonly socketPath: string;
  private client: JsonLineClient | undefined;
  private connecting: Promise<JsonLineClient> | undefined;
  private readonly vmName: string;
  /** Timeout of one agent command. */
  commandTimeoutMs = 30_000;
  readonly quickPollMs = QUICK_POLL_MS;

  constructor(socketPath: string, vmName: string) {
    this.socketPath = socketPath;
    this.vmName = vmName;
  }

  private async conn(timeoutMs = 10_000): Promise<JsonLineClient> {
    if (this.client?.isOpen) return this.client;
    this.connecting ??= (async () => {
      const c = new JsonLineClient(this.socketPath, "qga");
      try {
        await c.connect(timeoutMs);
        await c.sync(timeoutMs);
      } catch (e) {
        c.close();
        throw e;
      }
      this.client = c;
      return c;
    })().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private async exec<T>(op: string, cmd: string, args?: Record<string, unknown>): Promise<T> {
    let c: JsonLineClient;
    try {
      c = await this.conn();
    } catch (e) {
      throw new DriverError(op, `${this.vmName}: guest agent not reachable on ${this.socketPath}: ${(e as Error).message}`, { cause: e });
    }
    return c.execute<T>(cmd, args, this.commandTimeoutMs);
  }

  async ready(opts: WaitOptions): Promise<void> {
    const deadline = Date.now() + opts.timeoutMs;
    let last = "";
    while (Date.now() < deadline) {
      opts.signal?.throwIfAborted();
      try {
        const c = await this.conn(Math.max(1000, Math.min(5000, deadline - Date.now())));
        await c.execute("guest-ping", undefined, 5000);
        return;
      } catch (e) {
        last = (e as Error).message;
        this.close();
      }
      await sleep(1000, opts.signal);
    }
    throw new DriverError("guest.ready", `${this.vmName}: the guest agent did not answer within ${opts.timeoutMs} ms (${last})`);
  }

  private async open(op: string, path: string, mode: "r" | "w"): Promise<number> {
    try {
      return await this.exec<number>(op, "guest-file-open", { path, mode });
    } catch (e) {
      if (isNotFound(e)) throw new GuestFileNotFoundError(path);
      throw e;
    }
  }

  async exists(path: string): Promise<boolean> {
    try {
      const h = await this.open("guest.exists", path, "r");
      await this.exec("guest.exists", "guest-file-close", { handle: h });
      return true;
    } catch (e) {
      if (e instanceof GuestFileNotFoundError) return false;
      throw e;
    }
  }

  async readFile(path: string): Promise<Buffer> {
    const h = await this.open("guest.readFile", path, "r");
    const parts: Buffer[] = [];
    try {
      for (;;) {
        const r = await this.exec<{ count: number; "buf-b64": string; eof: boolean }>("guest.readFile", "guest-file-read", { handle: h, count: READ_CHUNK });
        parts.push(Buffer.from(r["buf-b64"], "base64"));
        if (r.eof || r.count === 0) break;
      }
    } finally {
      await this.exec("guest.readFile", "guest-file-close", { handle: h }).catch(() => undefined);
    }
    return Buffer.concat(parts);
  }

  async writeFile(path: string, data: Buffer | string): Promise<void> {
    const buf = typeof data === "string" ? Buffer.from(data) : data;
    const h = await this.open("guest.writeFile", path, "w");
    try {
      for (let off = 0; off < buf.length; off += WRITE_CHUNK) {
        await this.exec("guest.writeFile", "guest-file-write", { handle: h, "buf-b64": buf.subarray(off, off + WRITE_CHUNK).toString("base64") });
      }
    } finally {
      await this.exec("guest.writeFile", "guest-file-close", { handle: h });
    }
  }

  /** Runs a program in the guest (argument array) and returns its exit code and output. */
  async run(path: string, args: string[], timeoutMs = 60_000): Promise<{ code: number; stdout: string; stderr: string }> {
    const { pid } = await this.exec<{ pid: number }>("guest.exec", "guest-exec", { path, arg: args, "capture-output": true });
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const s = await this.exec<{ exited: boolean; exitcode?: number; signal?: number; "out-data"?: string; "err-data"?: string }>("guest.exec", "guest-exec-status", { pid });
      if (s.exited) {
        return {
          code: s.exitcode ?? 128 + (s.signal ?? 0),
          stdout: Buffer.from(s["out-data"] ?? "", "base64").toString("utf8"),
          stderr: Buffer.from(s["err-data"] ?? "", "base64").toString("utf8"),
        };
      }
      if (Date.now() > deadline) throw new DriverError("guest.exec", `${this.vmName}: ${path} did not finish within ${timeoutMs} ms`);
      await sleep(100);
    }
  }

  async listDir(path: string): Promise<GuestFileInfo[]> {
    // -A: no . and ..; -p: a slash after directories; -1: one name per line
    const r = await this.run("ls", ["-1Ap", "--", path]);
    if (r.code !== 0) {
      if (/No such file|not found/i.test(r.stderr) || !(await this.exists(path))) throw new GuestFileNotFoundError(path);
      throw new DriverError("guest.listDir", `${this.vmName}: ls ${path} exited ${r.code}: ${r.stderr.trim()}`);
    }
    return r.stdout
      .split("\n")
      .filter((l) => l !== "")
      .map((l) => (l.endsWith("/") ? { name: l.slice(0, -1), type: "dir" as const } : { name: l, type: "file" as const }));
  }

  close(): void {
    this.client?.close();
    this.client = undefined;
  }
}
