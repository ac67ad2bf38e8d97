// Checks made before the first change: the root is writable and / and /boot have room for
// a new initramfs per kernel plus the backups of the old ones. Stopping here leaves the guest
// untouched; running out of space half-way through an initramfs rebuild would not.
import { statfs, stat } from "node:fs/promises";
import { FixupError } from "../protocol/codes.ts";
import { notWritable } from "../guest/writable.ts";
import { OverlayView } from "../guest/view.ts";
import type { FixupContext, FixupStep } from "./types.ts";

const MiB = 1024 * 1024;
/** An initramfs rebuild without host-only mode is tens of MB; this is the floor. */
export const MIN_FREE_BOOT = 64 * MiB;
export const MIN_FREE_ROOT = 64 * MiB;

export interface SpaceNeed {
  boot: number;
  root: number;
}

/** The images are rebuilt one by one (the new one beside the old), and every old one is backed up on /. */
export function spaceNeeded(initrdSizes: number[]): SpaceNeed {
  const largest = Math.max(0, ...initrdSizes);
  const total = initrdSizes.reduce((a, b) => a + b, 0);
  return { boot: Math.max(MIN_FREE_BOOT, largest * 3), root: MIN_FREE_ROOT + total };
}

async function freeOf(path: string): Promise<{ free: number; dev: number }> {
  const s = await statfs(path);
  return { free: s.bavail * s.bsize, dev: (await stat(path)).dev };
}


export async function checkPreflight(ctx: FixupContext): Promise<void> {
  const guest = ctx.view.root;
  const root = guest.root;
  const sizes: number[] = [];
  for (const k of ctx.info.kernels) if (k.initrd) sizes.push((await guest.stat(k.initrd))?.size ?? 0);
  const need = spaceNeeded(sizes);
  const boot = (await guest.kind("/boot")) === "dir" ? (await guest.resolve("/boot")).host : root;
  const r = await freeOf(root);
  const b = await freeOf(boot);
  const mb = (n: number) => `${Math.round(n / MiB)} MB`;
  if (r.dev === b.dev) {
    const sum = need.root + need.boot;
    if (r.free < sum) throw new FixupError("GUEST_NO_SPACE", `/ (with /boot) has ${mb(r.free)} free; rebuilding ${ctx.info.kernels.length} initramfs image(s) with backups needs about ${mb(sum)}`);
  } else {
    if (b.free < need.boot) throw new FixupError("GUEST_NO_SPACE", `/boot has ${mb(b.free)} free; a new initramfs needs about ${mb(need.boot)} (remove an old kernel)`);
    if (r.free < need.root) throw new FixupError("GUEST_NO_SPACE", `/ has ${mb(r.free)} free; the backups of the initramfs images and the configuration need about ${mb(need.root)}`);
  }
  ctx.log.info(`preflight: / has ${mb(r.free)} free${r.dev === b.dev ? " (with /boot)" : `, /boot ${mb(b.free)}`}; need about ${mb(need.root)} / ${mb(need.boot)}`);
}

export const preflight: FixupStep = {
  name: "preflight",
  title: "check the guest root is writable with room for the initramfs rebuild",
  fatal: true,
  failCode: "GUEST_NO_SPACE",
  validate: checkPreflight,
  async plan(ctx) {
    // validate cannot tell plan from apply; a plan of a read-only mount is fine
    const why = await notWritable(ctx.view.root.root);
    if (why && ctx.view instanceof OverlayView) return { changes: [], warnings: [`${why} (apply will fail)`] };
    if (why) throw new FixupError("GUEST_NO_SPACE", why);
    return { changes: [], warnings: [] };
  },
};
