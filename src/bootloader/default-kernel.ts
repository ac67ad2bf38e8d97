// When the newest kernel (the one GRUB boots unless told otherwise) lacks the target's disk
// or NIC driver and an older kernel has it, the older one is made the default, by the guest's
// own mechanism, so that the unattended first boot on the target takes it:
//  - BLS (RHEL 8+, Fedora): the entry id (its file name) in grubenv's saved_entry when
//    GRUB_DEFAULT=saved, as grub2-set-default and grubby write it; else GRUB_DEFAULT=<id>;
//  - GRUB 2 menus made by grub-mkconfig: the id 10_linux gives the kernel's entry
//    (gnulinux-<version>-advanced-<device id>, inside the "advanced" submenu unless
//    GRUB_DISABLE_SUBMENU), in saved_entry when GRUB_DEFAULT=saved, else in GRUB_DEFAULT. The
//    device id is read from the current grub.cfg (for LVM it is lvmid/..., not the UUID);
//  - GRUB legacy: default=<index of the kernel's title block> in menu.lst/grub.conf.
// Where none of these can be determined the run stops (DEFAULT_KERNEL_UNSET): a guest that
// boots a kernel without its disk driver is worse than a refusal.
import { posix } from "node:path";
import { ShellVars } from "../formats/shell-vars.ts";
import type { Change } from "../engine/changes.ts";
import type { FixupContext } from "../fixups/types.ts";
import { CONTROLLER_DRIVER, NIC_DRIVER } from "../initrd/drivers.ts";
import { bootChoice, kernelFits, type BootChoice } from "../initrd/modules.ts";
import { FixupError } from "../protocol/codes.ts";
import { GRUBENV } from "./cmdline.ts";

export interface DefaultKernelPlan {
  changes: Change[];
  warnings: string[];
}

const GRUBENV_SIZE = 1024;

/** grubenv with `key` set (added if absent); undefined when it would outgrow its 1024 bytes. */
export function setGrubenv(text: string | undefined, key: string, value: string): string | undefined {
  const lines = (text ?? "# GRUB Environment Block\n").replace(/#+$/, "").split("\n").filter((l, i, a) => l !== "" || i < a.length - 1);
  const i = lines.findIndex((l) => l.startsWith(key + "="));
  if (i >= 0) lines[i] = `${key}=${value}`;
  else lines.push(`${key}=${value}`);
  const body = lines.filter((l) => l !== "").join("\n") + "\n";
  if (Buffer.byteLength(body) > GRUBENV_SIZE) return undefined;
  return body + "#".repeat(GRUBENV_SIZE - Buffer.byteLength(body));
}

/** The GRUB_DEFAULT in effect and the file it is set in (drop-ins in /etc/default/grub.d win). */
async function grubDefault(ctx: FixupContext): Promise<{ value?: string; path: string }> {
  let found: { value?: string; path: string } = { path: "/etc/default/grub" };
  const v = new ShellVars((await ctx.view.readText("/etc/default/grub")) ?? "").get("GRUB_DEFAULT");
  if (v !== undefined) found = { value: v, path: "/etc/default/grub" };
  for (const n of (await ctx.view.readdir("/etc/default/grub.d")).filter((x) => x.endsWith(".cfg")).sort()) {
    const p = `/etc/default/grub.d/${n}`;
    const d = new ShellVars((await ctx.view.readText(p)) ?? "").get("GRUB_DEFAULT");
    if (d !== undefined) found = { value: d, path: p };
  }
  return found;
}

/** The grubenv files GRUB reads (regular files; on RHEL 8 UEFI /boot/grub2/grubenv links to the ESP's). */
async function grubenvFiles(ctx: FixupContext): Promise<string[]> {
  const out: string[] = [];
  for (const p of GRUBENV) if ((await ctx.view.kind(p)) === "file") out.push(p);
  if (out.length) return out;
  for (const d of ["/boot/grub2", "/boot/grub"]) if ((await ctx.view.kind(d)) === "dir") return [`${d}/grubenv`];
  return [];
}

/** Points GRUB 2 at `entry`: saved_entry when GRUB_DEFAULT=saved, else GRUB_DEFAULT itself. */
async function setGrub2Default(ctx: FixupContext, entry: string, why: string): Promise<{ changes: Change[]; how: string }> {
  const def = await grubDefault(ctx);
  if (def.value === "saved") {
    const files = await grubenvFiles(ctx);
    if (!files.length) throw unset(ctx, why, "GRUB_DEFAULT=saved but the guest has no grubenv and no GRUB directory to put one in");
    const changes: Change[] = [];
    for (const p of files) {
      const nt = setGrubenv(await ctx.view.readText(p), "saved_entry", entry);
      if (nt === undefined) throw unset(ctx, why, `${p} has no room for saved_entry=${entry}`);
      changes.push({ action: "write", path: p, content: nt, reason: why });
    }
    return { changes, how: `saved_entry=${entry} in ${files.join(", ")} (GRUB_DEFAULT=saved)` };
  }
  const t = (await ctx.view.readText(def.path)) ?? "";
  const v = new ShellVars(t);
  v.set("GRUB_DEFAULT", entry);
  return { changes: [{ action: "write", path: def.path, content: v.toString(), reason: why }], how: `GRUB_DEFAULT="${entry}" in ${def.path}${def.value !== undefined ? ` (was ${def.value})` : ""}` };
}

function unset(ctx: FixupContext, why: string, detail: string): FixupError {
  return new FixupError("DEFAULT_KERNEL_UNSET", `${why}, but the guest's way of choosing its default kernel cannot be determined: ${detail}. Nothing was changed. Make that kernel the default on the source (grub2-set-default, GRUB_DEFAULT, default= in grub.conf), or remove the kernel without the driver, and run again`);
}

/** The BLS entry id of a kernel version: the file name of the entry whose linux line boots it. */
async function blsEntryId(ctx: FixupContext, version: string): Promise<string | undefined> {
  for (const p of ctx.info.bootloader.blsEntries) {
    const t = (await ctx.view.readText(p)) ?? "";
    const linux = /^\s*linux\s+(\S+)/m.exec(t)?.[1];
    if (linux && posix.basename(linux) === `vmlinuz-${version}`) return posix.basename(p, ".conf");
  }
  return undefined;
}

/** 10_linux's device id of the root (GRUB's grub_get_device_id), as the current grub.cfg names it. */
async function grubDeviceId(ctx: FixupContext): Promise<string | undefined> {
  for (const c of ctx.info.bootloader.configs) {
    const t = (await ctx.view.readText(c)) ?? "";
    const m = /\$menuentry_id_option\s+'gnulinux-(?:simple|advanced|.+?-advanced|.+?-recovery)-([^']+)'/.exec(t);
    if (m) return m[1]!;
  }
  return undefined;
}

async function usesBls(ctx: FixupContext): Promise<boolean> {
  if (!ctx.info.bootloader.blsEntries.length) return false;
  if (new ShellVars((await ctx.view.readText("/etc/default/grub")) ?? "").get("GRUB_ENABLE_BLSCFG") === "true") return true;
  for (const c of ctx.info.bootloader.configs) if (/^\s*blscfg\b/m.test((await ctx.view.readText(c)) ?? "")) return true;
  return false;
}

/** GRUB legacy: default=<index> of the title block whose kernel line boots `version`. */
async function planLegacy(ctx: FixupContext, version: string, why: string): Promise<{ changes: Change[]; how: string }> {
  const path = (await ctx.view.kind("/boot/grub/menu.lst")) === "file" ? "/boot/grub/menu.lst" : (await ctx.view.kind("/boot/grub/grub.conf")) === "file" ? "/boot/grub/grub.conf" : undefined;
  if (!path) throw unset(ctx, why, "no GRUB legacy menu.lst or grub.conf that is a file");
  const text = (await ctx.view.readText(path))!;
  const lines = text.split("\n");
  let index = -1;
  let found = -1;
  for (const l of lines) {
    if (/^\s*title\b/.test(l)) index++;
    const k = /^\s*kernel\s+(\S+)/.exec(l);
    if (k && index >= 0 && found < 0 && posix.basename(k[1]!.replace(/^\([^)]*\)/, "")) === `vmlinuz-${version}`) found = index;
  }
  if (found < 0) throw unset(ctx, why, `${path} has no title whose kernel line boots vmlinuz-${version}`);
  const di = lines.findIndex((l) => /^\s*default\b/.test(l));
  if (di >= 0) {
    const m = /^(\s*default\s*[=\s]\s*)(\S+)(.*)$/.exec(lines[di]!);
    if (!m || !/^\d+$/.test(m[2]!)) throw unset(ctx, why, `${path}:${di + 1} says "${lines[di]!.trim()}", not an entry number`);
    lines[di] = `${m[1]}${found}${m[3]}`;
  } else {
    lines.splice(Math.max(0, lines.findIndex((l) => /^\s*title\b/.test(l))), 0, `default=${found}`);
  }
  const nt = lines.join("\n");
  return { changes: nt === text ? [] : [{ action: "write", path, content: nt, reason: why }], how: `default=${found} in ${path}` };
}

/** What the bootloader step does about the default kernel (nothing when the newest has the drivers). */
export async function planDefaultKernel(ctx: FixupContext, choice?: BootChoice): Promise<DefaultKernelPlan> {
  const { info } = ctx;
  const target = ctx.inputs.system.target;
  const controller = CONTROLLER_DRIVER[target.scsiController];
  const c = choice ?? bootChoice(await kernelFits(ctx.view, info.kernels, [controller, NIC_DRIVER[target.nicModel]]), controller);
  if (!c?.pick) return { changes: [], warnings: [] };
  const version = c.pick.kernel.version;
  const why = `the newest kernel ${c.newest.kernel.version} lacks ${c.newest.lacks!.join(", ")}: make ${version}, the newest kernel with the target's drivers, the default`;
  let done: { changes: Change[]; how: string };
  const bl = info.bootloader;
  if (bl.kind === "grub-legacy") done = await planLegacy(ctx, version, why);
  else if (bl.kind === "grub2" && (await usesBls(ctx))) {
    const id = await blsEntryId(ctx, version);
    if (!id) throw unset(ctx, why, `no BLS entry in /boot/loader/entries boots vmlinuz-${version}`);
    done = await setGrub2Default(ctx, id, why);
  } else if (bl.kind === "grub2") {
    if (!bl.mkconfig) throw unset(ctx, why, "the guest has no grub-mkconfig to generate the menu the default would name");
    const devId = await grubDeviceId(ctx);
    if (!devId) throw unset(ctx, why, `no grub-mkconfig menu entry id in ${bl.configs.join(", ") || "any grub.cfg"} to learn GRUB's id of the root device from`);
    const defs = new ShellVars((await ctx.view.readText("/etc/default/grub")) ?? "");
    const entry = `gnulinux-${version}-advanced-${devId}`;
    const submenu = !["y", "true"].includes(defs.get("GRUB_DISABLE_SUBMENU") ?? "");
    done = await setGrub2Default(ctx, submenu ? `gnulinux-advanced-${devId}>${entry}` : entry, why);
  } else throw unset(ctx, why, "no GRUB configuration was found");
  return { changes: done.changes, warnings: [`kernel ${c.newest.kernel.version} lacks ${c.newest.lacks!.join(", ")}: ${version} is made the default boot entry (${done.how})`] };
}
