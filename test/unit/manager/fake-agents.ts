// Fake QMP and qemu-guest-agent servers on unix sockets, for the client's unit tests.
import { createServer, type Server, type Socket } from "node:net";
import { mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";

type Msg = { execute: string; arguments?: Record<string, unknown>; id?: unknown };
type Handler = (m: Msg, sock: Socket) => unknown;

export interface FakeServer {
  path: string;
  received: Msg[];
  connections: number;
  close(): Promise<void>;
}

function lines(sock: Socket, onLine: (buf: Buffer) => void): void {
  let buf = Buffer.alloc(0);
  sock.on("data", (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    let nl;
    while ((nl = buf.indexOf(0x0a)) >= 0) {
      const line = buf.subarray(0, nl);
      buf = buf.subarray(nl + 1);
      onLine(line);
    }
  });
}

async function serve(name: string, onConnect: (s: Socket, fake: FakeServer) => void): Promise<FakeServer> {
  const dir = mkdtempSync(join(tmpdir(), "osam-fake-"));
  const path = join(dir, name);
  const socks = new Set<Socket>();
  const fake: FakeServer = {
    path,
    received: [],
    connections: 0,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of socks) s.destroy();
        server.close(() => {
          rmSync(dir, { recursive: true, force: true });
          resolve();
        });
      }),
  };
  const server: Server = createServer((s) => {
    fake.connections++;
    socks.add(s);
    s.on("close", () => socks.delete(s));
    s.on("error", () => undefined);
    onConnect(s, fake);
  });
  await new Promise<void>((r) => server.listen(path, r));
  return fake;
}

function reply(sock: Socket, m: Msg, body: unknown): void {
  const r: Record<string, unknown> = body instanceof Error ? { error: { class: "GenericError", desc: body.message } } : { return: body ?? {} };
  if (m.id !== undefined) r.id = m.id;
  sock.write(JSON.stringify(r) + "\n");
}

/** QMP: greeting, then qmp_capabilities, then `handler` for every other command. */
export function fakeQmp(handler: Handler): Promise<FakeServer> {
  return serve("qmp.sock", (s, fake) => {
    s.write(JSON.stringify({ QMP: { version: { qemu: { major: 7, minor: 2, micro: 0 } }, capabilities: [] } }) + "\n");
    lines(s, (line) => {
      const m = JSON.parse(line.toString()) as Msg;
      fake.received.push(m);
      if (m.execute === "qmp_capabilities") return reply(s, m, {});
      const r = handler(m, s);
      if (r !== undefined) reply(s, m, r);
    });
  });
}

export interface FakeGuestFs {
  files: Map<string, Buffer>;
  dirs: Set<string>;
}

/**
 * A qemu-guest-agent over an in-memory file system. `noise` is written before each sync reply
 * (what a guest tty echo or a stale reply looks like); `delay` holds one command's reply back.
 */
export function fakeQga(fs: FakeGuestFs, opts: { noise?: string; slow?: Set<string>; idEcho?: boolean } = {}): Promise<FakeServer> {
  const handles = new Map<number, { path: string; pos: number; mode: string }>();
  let nextHandle = 1000;
  const execs = new Map<number, { out: string; err: string; code: number }>();
  return serve("qga.sock", (s, fake) => {
    lines(s, (raw) => {
      let line = raw;
      const ff = line.lastIndexOf(0xff);
      if (ff >= 0) line = line.subarray(ff + 1);
      let m: Msg;
      try {
        m = JSON.parse(line.toString()) as Msg;
      } catch {
        return;
      }
      fake.received.push(m);
      if (opts.idEcho === false) delete m.id;
      const a = m.arguments ?? {};
      const send = (body: unknown) => {
        if (opts.slow?.has(m.execute)) {
          opts.slow.delete(m.execute);
          setTimeout(() => reply(s, m, body), 300);
        } else reply(s, m, body);
      };
      switch (m.execute) {
        case "guest-sync-delimited":
          if (opts.noise) s.write(opts.noise);
          s.write(Buffer.concat([Buffer.from([0xff]), Buffer.from(JSON.stringify({ return: a.id }) + "\n")]));
          return;
        case "guest-ping":
          return send({});
        case "guest-file-open": {
          const p = String(a.path);
          const mode = String(a.mode);
          if (mode === "r" && !fs.files.has(p) && !fs.dirs.has(p)) return send(new Error(`failed to open file '${p}' (mode: 'r'): No such file or directory`));
          if (mode === "w") fs.files.set(p, Buffer.alloc(0));
          const h = nextHandle++;
          handles.set(h, { path: p, pos: 0, mode });
          return send(h);
        }
        case "guest-file-read": {
          const h = handles.get(Number(a.handle));
          if (!h) return send(new Error("bad handle"));
          const data = fs.files.get(h.path) ?? Buffer.alloc(0);
          const chunk = data.subarray(h.pos, h.pos + Number(a.count));
          h.pos += chunk.length;
          return send({ count: chunk.length, "buf-b64": chunk.toString("base64"), eof: h.pos >= data.length });
        }
        case "guest-file-write": {
          const h = handles.get(Number(a.handle));
          if (!h) return send(new Error("bad handle"));
          const chunk = Buffer.from(String(a["buf-b64"]), "base64");
          fs.files.set(h.path, Buffer.concat([fs.files.get(h.path) ?? Buffer.alloc(0), chunk]));
          return send({ count: chunk.length, eof: false });
        }
        case "guest-file-close":
          handles.delete(Number(a.handle));
          return send({});
        case "guest-exec": {
          const args = (a.arg as string[]) ?? [];
          const dir = args[args.length - 1] ?? "";
          const pid = nextHandle++;
          if (a.path !== "ls" || !fs.dirs.has(dir)) {
            execs.set(pid, { out: "", err: `ls: ${dir}: No such file or directory\n`, code: 1 });
          } else {
            const names = new Set<string>();
            for (const f of fs.files.keys()) if (f.startsWith(dir + "/") && !f.slice(dir.length + 1).includes("/")) names.add(f.slice(dir.length + 1));
            for (const d of fs.dirs) if (d.startsWith(dir + "/") && !d.slice(dir.length + 1).includes("/")) names.add(d.slice(dir.length + 1) + "/");
            execs.set(pid, { out: [...names].sort().join("\n") + (names.size ? "\n" : ""), err: "", code: 0 });
          }
          return send({ pid });
        }
        case "guest-exec-status": {
          const e = execs.get(Number(a.pid));
          if (!e) return send(new Error("no such pid"));
          return send({ exited: true, exitcode: e.code, "out-data": Buffer.from(e.out).toString("base64"), "err-data": Buffer.from(e.err).toString("base64") });
        }
        default:
          return send(new Error(`The command ${m.execute} has not been found`));
      }
    });
  });
}
