// /dev, /proc, /sys and /run bound into the guest root, so that the guest's own tools
// (dracut, update-initramfs, grub-install) work in a chroot. Released in reverse order.
import { execa } from "execa";
import { mkdirSync, readFileSync } from "node:fs";
import type { Logger } from "../util/log.ts";
import { GuestRoot } from "./guest-root.ts";
import { decodeField } from "../formats/fstab.ts";

const BINDS = ["/dev", "/proc", "/sys", "/run"] as const;

function mountpoints(): Set<string> {
  const set = new Set<string>();
  for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
    const f = line.split(" ");
    if (f[4]) set.add(decodeField(f[4]));
  }
  return set;
}

/**
 * Binds the host's /dev, /proc, /sys, /run into root; returns a function that unbinds them.
 * Each is one mount call (util-linux applies --make-rslave after the bind itself), and /dev,
 * /proc and /sys are bound at once: in the fixup VM every process start costs a tenth of a
 * second or more. /run goes last, on its own, as before: the guest root is itself under the
 * host's /run, so /run's recursive bind copies the binds already made below it.
 */
export async function bindChrootDirs(root: string, log?: Logger): Promise<() => Promise<void>> {
  const guest = new GuestRoot(root);
  const mounted = mountpoints();
  const targets: { dir: string; host: string }[] = [];
  for (const d of BINDS) {
    // resolved inside the guest: a guest whose /run is a link must not bind onto the host
    const r = await guest.resolve(d);
    if (r.stat && !r.stat.isDirectory()) throw new Error(`${d} in the guest is not a directory`);
    if (mounted.has(r.host)) continue;
    if (!r.stat) mkdirSync(r.host, { recursive: true });
    targets.push({ dir: d, host: r.host });
  }
  const done: string[] = [];
  const bind = async (batch: { dir: string; host: string }[]) => {
    const results = await Promise.allSettled(batch.map((t) => execa("mount", ["--rbind", "--make-rslave", t.dir, t.host])));
    for (const [i, t] of batch.entries()) if (results[i]!.status === "fulfilled") done.push(t.host);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) {
      await release(done, log);
      throw failed.reason;
    }
    for (const t of batch) log?.debug(`bound ${t.dir} at ${t.host}`);
  };
  await bind(targets.filter((t) => t.dir !== "/run"));
  await bind(targets.filter((t) => t.dir === "/run"));
  return () => release(done, log);
}

/** Unbinds in reverse: the last bind (/run, with its copies of the others) alone, then the rest at once. */
async function release(done: string[], log?: Logger): Promise<void> {
  const unbind = async (p: string) => {
    const r = await execa("umount", ["-R", p], { reject: false });
    if (r.exitCode !== 0) {
      // busy (a daemon a package script started): detach lazily rather than leave it bound
      await execa("umount", ["-R", "-l", p], { reject: false });
      log?.warn(`unmounted ${p} lazily: ${r.stderr}`);
    }
  };
  const last = done.at(-1);
  if (last !== undefined) await unbind(last);
  await Promise.all(done.slice(0, -1).map(unbind));
  done.length = 0;
}
