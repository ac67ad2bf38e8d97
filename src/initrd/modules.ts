// Which modules an installed kernel has, read from its modules.dep and modules.builtin, and
// which kernel the guest should boot on the target: the one place both stage 1 (initrd,
// bootloader) and preflight ask.
import { posix } from "node:path";
import type { KernelInfo } from "../guest/inspect.ts";
import type { GuestView } from "../guest/view.ts";

/** Module names compare with '-' and '_' as the same character, as modprobe does. */
export function normModule(name: string): string {
  return name.replace(/-/g, "_");
}

/** A kernel module's file: .ko, or .ko compressed (xz, gz, zst). */
export const MODULE_FILE = /\.ko(\.(xz|gz|zst))?$/;

/** The module a file holds, as modprobe names it: kernel/fs/ext4/ext4.ko.xz is ext4. */
export function moduleNameOf(path: string): string {
  return normModule(posix.basename(path.trim()).replace(MODULE_FILE, ""));
}

/** The modules a kernel has (loadable or built in), or undefined when its modules dir cannot tell. */
export async function kernelModules(view: GuestView, version: string): Promise<Set<string> | undefined> {
  for (const base of ["/lib/modules", "/usr/lib/modules"]) {
    const dir = posix.join(base, version);
    const dep = await view.readText(posix.join(dir, "modules.dep"));
    const builtin = await view.readText(posix.join(dir, "modules.builtin"));
    if (dep === undefined && builtin === undefined) continue;
    const set = new Set<string>();
    const add = (path: string) => {
      if (MODULE_FILE.test(path.trim())) set.add(moduleNameOf(path));
    };
    for (const line of (dep ?? "").split("\n")) {
      const i = line.indexOf(":");
      if (i > 0) add(line.slice(0, i));
    }
    for (const line of (builtin ?? "").split("\n")) add(line);
    return set;
  }
  return undefined;
}

/**
 * Kernel versions compared as rpm and dpkg do where it matters here: number with number,
 * and a number newer than letters (3.10.0-1160.102.1.el7 is newer than 3.10.0-1160.el7).
 */
export function compareKernelVersions(a: string, b: string): number {
  const pa = a.split(/[.\-_+~]/), pb = b.split(/[.\-_+~]/);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i], y = pb[i];
    if (x === undefined || y === undefined) return x === undefined ? -1 : 1;
    const nx = /^\d+$/.test(x), ny = /^\d+$/.test(y);
    const c = nx && ny ? Number(x) - Number(y) : nx ? 1 : ny ? -1 : x.localeCompare(y);
    if (c) return c;
  }
  return 0;
}

export interface KernelFit {
  kernel: KernelInfo;
  /** The needed drivers this kernel lacks; undefined when its module list is unreadable. */
  lacks?: string[];
}

/** Each kernel, oldest first, with the drivers of `need` it lacks. */
export async function kernelFits(view: GuestView, kernels: KernelInfo[], need: string[]): Promise<KernelFit[]> {
  const out: KernelFit[] = [];
  for (const kernel of [...kernels].sort((a, b) => compareKernelVersions(a.version, b.version))) {
    const mods = await kernelModules(view, kernel.version);
    out.push(mods ? { kernel, lacks: need.filter((d) => !mods.has(normModule(d))) } : { kernel });
  }
  return out;
}

export interface BootChoice {
  /** The newest kernel: the one GRUB boots unless told otherwise. */
  newest: KernelFit;
  /** The kernel to make the default instead, when the newest lacks a needed driver. */
  pick?: KernelFit;
}

/**
 * When the newest kernel lacks one of the needed drivers: the newest kernel that has them all,
 * or failing that, where the newest lacks the disk controller's driver, the newest with it.
 */
export function bootChoice(fits: KernelFit[], controller: string): BootChoice | undefined {
  const newest = fits.at(-1);
  if (!newest?.lacks?.length) return undefined;
  const known = fits.filter((f) => f !== newest && f.lacks !== undefined);
  const pick = known.filter((f) => f.lacks!.length === 0).at(-1) ?? (newest.lacks.includes(controller) ? known.filter((f) => !f.lacks!.includes(controller)).at(-1) : undefined);
  return { newest, ...(pick ? { pick } : {}) };
}
