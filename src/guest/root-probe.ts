// Which filesystem holds an OS: mounted read-only for a look at /etc, /usr and a release file.
import { existsSync, readFileSync } from "node:fs";
import { posix } from "node:path";
import { RELEASE_FILES } from "../distros/index.ts";
import type { Logger } from "../util/log.ts";
import { host, unmount } from "./host-cmd.ts";

/** The filesystems a Linux root may be on: the only ones probed for it. */
export const LINUX_FS: ReadonlySet<string> = new Set(["ext2", "ext3", "ext4", "xfs", "btrfs", "reiserfs", "jfs"]);

/** What a look at one filesystem found: the OS it holds, and the btrfs subvolume it is in. */
export interface RootLook {
  os: string;
  subvol?: string;
}

function looksLikeRoot(dir: string): string | undefined {
  if (!existsSync(posix.join(dir, "etc")) || !existsSync(posix.join(dir, "usr"))) return undefined;
  for (const { path } of RELEASE_FILES) {
    const f = path.slice(1);
    const p = posix.join(dir, f);
    if (!existsSync(p)) continue;
    try {
      const t = readFileSync(p, "utf8");
      return /PRETTY_NAME="?([^"\n]+)/.exec(t)?.[1] ?? t.split("\n")[0]!.trim();
    } catch {
      return f;
    }
  }
  return undefined;
}

/**
 * A read-only mount still replays a dirty ext3/4, xfs or btrfs journal, which writes to the
 * disk; these options leave it alone (and show the filesystem as of its last commit).
 */
const NO_REPLAY: Record<string, string> = { ext3: "noload", ext4: "noload", xfs: "norecovery", btrfs: "nologreplay" };

/**
 * Mounts a filesystem read-only at dir for a look; btrfs roots may sit in a subvolume (@,
 * root). Null when it holds no OS, undefined when it could not be mounted. replay: false
 * leaves a dirty journal unreplayed (nothing is written), where the filesystem allows it.
 */
export async function probeRoot(log: Logger, device: string, fsType: string, dir: string, o: { replay: boolean } = { replay: true }): Promise<RootLook | null | undefined> {
  const opts = ["ro", ...(!o.replay && NO_REPLAY[fsType] ? [NO_REPLAY[fsType]] : [])].join(",");
  const r = await host(log, "mount", ["-t", fsType, "-o", opts, device, dir], { reject: false });
  if (r.exitCode !== 0) {
    log.warn(`could not mount ${device} (${fsType}) to look for the root: ${r.output.trim()}`);
    return undefined;
  }
  try {
    const os = looksLikeRoot(dir);
    if (os) return { os };
    if (fsType === "btrfs") {
      for (const sv of ["@", "root", "@root"]) {
        const os2 = looksLikeRoot(posix.join(dir, sv));
        if (os2) return { os: os2, subvol: sv };
      }
    }
    return null;
  } finally {
    await unmount(log, dir);
  }
}
