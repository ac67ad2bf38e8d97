// Small host-side file helpers for the agent's own files (never guest paths).
import { watch, existsSync, constants as C } from "node:fs";
import { open, rename } from "node:fs/promises";
import { basename, dirname } from "node:path";

/** Writes a host file atomically: temp file, fsync, rename. */
export async function writeAtomic(path: string, data: string | Buffer, mode = 0o644): Promise<void> {
  const tmp = `${dirname(path)}/.${basename(path)}.${process.pid}.tmp`;
  const fh = await open(tmp, C.O_WRONLY | C.O_CREAT | C.O_TRUNC | C.O_NOFOLLOW, mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
}

/**
 * Resolves when `path` exists. fs.watch wakes it at once where inotify works; a slow poll
 * covers filesystems where it does not (guest-agent writes over 9p/virtiofs, NFS).
 */
export function waitForFile(path: string, opts: { pollMs?: number; timeoutMs?: number; signal?: AbortSignal } = {}): Promise<void> {
  return new Promise((resolve, reject) => {
    if (existsSync(path)) return resolve();
    const dir = dirname(path);
    let done = false;
    const finish = (err?: Error) => {
      if (done) return;
      done = true;
      watcher?.close();
      clearInterval(poll);
      if (timer) clearTimeout(timer);
      opts.signal?.removeEventListener("abort", onAbort);
      if (err) reject(err);
      else resolve();
    };
    const check = () => {
      if (existsSync(path)) finish();
    };
    let watcher: ReturnType<typeof watch> | undefined;
    try {
      watcher = watch(dir, { persistent: true }, check);
      watcher.on("error", () => undefined);
    } catch {
      watcher = undefined;
    }
    const poll = setInterval(check, opts.pollMs ?? 1000);
    const timer = opts.timeoutMs ? setTimeout(() => finish(new Error(`timed out after ${opts.timeoutMs} ms waiting for ${path}`)), opts.timeoutMs) : undefined;
    const onAbort = () => finish(new Error(`stopped waiting for ${path}`));
    opts.signal?.addEventListener("abort", onAbort);
    check();
  });
}
