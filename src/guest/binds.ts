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

/** Binds the host's /dev, /proc, /sys, /run into root; returns a function that unbinds them. */
export async function bindChrootDirs(root: string, log?: Logger): Promise<() => Promise<void>> {
  const guest = new GuestRoot(root);
  const done: string[] = [];
  const mounted = mountpoints();
  try {
    for (const d of BINDS) {
      // resolved inside the guest: a guest whose /run is a link must not bind onto the host
      const r = await guest.resolve(d);
      if (r.stat && !r.stat.isDirectory()) throw new Error(`${d} in the guest is not a directory`);
      if (mounted.has(r.host)) continue;
      if (!r.stat) mkdirSync(r.host, { recursive: true });
      await execa("mount", ["--rbind", d, r.host]);
      await execa("mount", ["--make-rslave", r.host]);
      done.push(r.host);
      log?.debug(`bound ${d} at ${r.host}`);
    }
  } catch (e) {
    await release(done, log);
    throw e;
  }
  return () => release(done, log);
}

async function release(done: string[], log?: Logger): Promise<void> {
  for (const p of [...done].reverse()) {
    const r = await execa("umount", ["-R", p], { reject: false });
    if (r.exitCode !== 0) {
      // busy (a daemon a package script started): detach lazily rather than leave it bound
      await execa("umount", ["-R", "-l", p], { reject: false });
      log?.warn(`unmounted ${p} lazily: ${r.stderr}`);
    }
  }
  done.length = 0;
}
