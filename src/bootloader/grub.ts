// Reinstalling GRUB for the target VM and regenerating its configuration with the guest's own
// tools. Runs last: every command-line edit is in /etc/default/grub and the BLS entries by
// then, and the initramfs images exist.
//  - BIOS: grub-install/grub2-install to the boot disk (scsi0:0 or the disk marked boot), and
//    when /boot is on md RAID1 to every disk holding a member too (the firmware boots whichever
//    is left), only where the fixup VM really has that disk (never guessed from sdX order);
//  - UEFI: the target VM's NVRAM has no boot entry for the guest, so the ESP gets the
//    removable-media fallback EFI/BOOT/BOOTX64.EFI (shim when the guest boots through shim);
//  - grub.cfg regenerated for the guest's firmware, with os-prober off (it would list the
//    fixup disk and other guests' disks).
import { posix } from "node:path";
import { ShellVars } from "../formats/shell-vars.ts";
import type { Change, StepPlan } from "../engine/changes.ts";
import type { FixupContext } from "../fixups/types.ts";
import { deviceOfSpec, type KnownDevice } from "../guest/devices.ts";
import { bootDisk, splitPartition } from "../guest/discover-names.ts";
import { planDefaultKernel } from "./default-kernel.ts";
import { planGrubPcDebconf } from "./grub-pc-debconf.ts";
import type { GuestView } from "../guest/view.ts";

const MKCONFIG_TIMEOUT_MS = 10 * 60_000;
const NO_OS_PROBER = { GRUB_DISABLE_OS_PROBER: "true" };
/** Where grub-pc / grub2-pc keep the i386-pc platform files that grub-install copies. */
const GRUB_PC_PLATFORM_DIRS = ["/usr/lib/grub/i386-pc", "/usr/lib/grub2/i386-pc", "/usr/share/grub2/i386-pc"];
/** A check run after grub-mkconfig for UEFI guests: linux16/initrd16 only work under BIOS. */
export const NO_LINUX16_CHECK = `if grep -Eq '^[[:space:]]*(linux16|initrd16)[[:space:]]' "$1"; then echo "$1 uses linux16/initrd16, which UEFI firmware cannot boot" >&2; exit 1; fi`;

async function firstFile(view: GuestView, paths: string[]): Promise<string | undefined> {
  for (const p of paths) if ((await view.kind(p)) === "file") return p;
  return undefined;
}

/** The grub.cfg files grub-mkconfig writes (not the stubs on the ESP that load /boot's). */
async function mkconfigOutputs(ctx: FixupContext): Promise<string[]> {
  const out: string[] = [];
  for (const c of ctx.info.bootloader.configs) {
    const t = (await ctx.view.readText(c)) ?? "";
    if (/^### BEGIN \/etc\/grub\.d\//m.test(t) || /^\s*(linux|linux16|linuxefi)\s/m.test(t)) out.push(c);
  }
  if (out.length) return out;
  const mk = posix.basename(ctx.info.bootloader.mkconfig ?? "grub-mkconfig");
  return [mk.startsWith("grub2") ? "/boot/grub2/grub.cfg" : "/boot/grub/grub.cfg"];
}

async function espDir(ctx: FixupContext): Promise<string | undefined> {
  const mp = ctx.info.fstab.find((e) => e.file === "/boot/efi" || e.file === "/efi")?.file ?? "/boot/efi";
  const d = `${mp}/EFI`;
  return (await ctx.view.kind(d)) === "dir" ? d : undefined;
}

async function planEfiFallback(ctx: FixupContext, changes: Change[], warnings: string[]): Promise<void> {
  const efi = await espDir(ctx);
  if (!efi) {
    warnings.push("UEFI guest without an EFI system partition mounted at /boot/efi: EFI/BOOT/BOOTX64.EFI not checked");
    return;
  }
  const vendors = (await ctx.view.readdir(efi)).filter((n) => n.toUpperCase() !== "BOOT");
  const pref = ctx.info.profile.efiVendors(ctx.info.os.id);
  vendors.sort((a, b) => {
    const ia = pref.indexOf(a.toLowerCase()), ib = pref.indexOf(b.toLowerCase());
    return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib);
  });
  const fallback = `${efi}/BOOT/BOOTX64.EFI`;
  for (const v of vendors) {
    const dir = `${efi}/${v}`;
    const shim = await firstFile(ctx.view, [`${dir}/shimx64.efi`, `${dir}/shim.efi`]);
    const grub = await firstFile(ctx.view, [`${dir}/grubx64.efi`]);
    if (!shim && !grub) continue;
    if (shim) {
      changes.push({ action: "write", path: fallback, content: (await ctx.view.readBytes(shim))!, reason: `UEFI fallback boot path: the guest boots through shim (${shim}); the target's NVRAM has no boot entry` });
      if (grub) changes.push({ action: "write", path: `${efi}/BOOT/grubx64.efi`, content: (await ctx.view.readBytes(grub))!, reason: "shim in EFI/BOOT loads grubx64.efi from its own directory" });
      const mm = await firstFile(ctx.view, [`${dir}/mmx64.efi`]);
      if (mm) changes.push({ action: "write", path: `${efi}/BOOT/mmx64.efi`, content: (await ctx.view.readBytes(mm))!, reason: "shim's MOK manager beside it" });
    } else {
      changes.push({ action: "write", path: fallback, content: (await ctx.view.readBytes(grub!))!, reason: `UEFI fallback boot path: a copy of ${grub}; the target's NVRAM has no boot entry` });
    }
    return;
  }
  const install = ctx.info.bootloader.install;
  if (install) {
    changes.push({ action: "exec", argv: [posix.basename(install), "--target=x86_64-efi", `--efi-directory=${posix.dirname(efi)}`, "--removable", "--no-nvram"], produces: [fallback], timeoutMs: MKCONFIG_TIMEOUT_MS, reason: "no GRUB EFI binary on the ESP: install GRUB at the removable-media path" });
  } else {
    warnings.push(`no shimx64.efi or grubx64.efi under ${efi} and no grub-install: the target may not find a boot loader`);
  }
}

/**
 * What grub-install writes under the GRUB directory for i386-pc: it empties the platform and
 * locale directories of an earlier install, copies the modules, message catalogs and font, and
 * creates grubenv, core.img and boot.img. All are declared, so that a failure or a rollback
 * leaves /boot/grub as it was (the engine removes the directories it created, if empty).
 */
async function biosInstallOutputs(view: GuestView, grubDir: string): Promise<string[]> {
  const out = new Set([`${grubDir}/i386-pc/core.img`, `${grubDir}/i386-pc/boot.img`, `${grubDir}/grubenv`, `${grubDir}/fonts/unicode.pf2`]);
  for (const d of [`${grubDir}/i386-pc`, ...GRUB_PC_PLATFORM_DIRS]) for (const n of await view.readdir(d)) out.add(`${grubDir}/i386-pc/${n}`);
  for (const n of await view.readdir(`${grubDir}/locale`)) out.add(`${grubDir}/locale/${n}`);
  for (const lang of await view.readdir("/usr/share/locale")) {
    if ((await firstFile(view, [`/usr/share/locale/${lang}/LC_MESSAGES/grub.mo`, `/usr/share/locale/${lang}/LC_MESSAGES/grub2.mo`])) !== undefined) out.add(`${grubDir}/locale/${lang}.mo`);
  }
  return [...out];
}

/**
 * The md array /boot is on (the root's, when /boot is no file system of its own), as assembled
 * in the fixup VM: the fstab names it as the source did (/dev/md0), the fixup VM may call it
 * /dev/md127, and the file system's UUID is the same.
 */
function bootArray(ctx: FixupContext): KnownDevice | undefined {
  const entry = ctx.info.fstab.find((e) => e.file === "/boot") ?? ctx.info.fstab.find((e) => e.file === "/");
  const named = entry ? deviceOfSpec(entry.spec, ctx.devices) : undefined;
  if (!named || named.members?.length) return named;
  const uuid = named.uuid?.toLowerCase();
  return uuid ? ctx.devices.find((d) => d.members?.length && d.uuid?.toLowerCase() === uuid) : undefined;
}

/**
 * The source disks that get GRUB's BIOS boot code: the boot disk first, then every other disk
 * with a member of the array /boot is on. GRUB on the first member only leaves the guest
 * unbootable when that disk fails or is the one left out, which is what RAID1 is for.
 */
export function biosInstallDisks(ctx: FixupContext): string[] {
  const out = [bootDisk(ctx.inputs.disks).source.device];
  for (const m of bootArray(ctx)?.members ?? []) {
    const disk = splitPartition(m).disk;
    if (!out.includes(disk)) out.push(disk);
  }
  return out;
}

/** A disk stage 1 sees only on the fixup VM: a plan on the source (preflight) always meets it. */
export const NOT_ATTACHED = "is not attached as a block device here (plan, or --root without the disks)";

async function planBiosInstall(ctx: FixupContext, changes: Change[], warnings: string[], grubDir: string | undefined): Promise<void> {
  const install = ctx.info.bootloader.install;
  if (!install) {
    warnings.push("no grub-install/grub2-install in the guest: the boot code in the MBR stays as replicated");
    return;
  }
  if (!grubDir) {
    warnings.push("the guest has no GRUB for BIOS (no /boot/grub*/i386-pc, no grub-pc platform files): its boot code is left as replicated");
    return;
  }
  const disks = biosInstallDisks(ctx);
  const produces = await biosInstallOutputs(ctx.view, grubDir);
  const installedOn: string[] = [];
  for (const [i, source] of disks.entries()) {
    const what = i === 0 ? "the boot disk" : "the md member disk";
    const unit = ctx.inputs.disks.disks.find((d) => d.source.device === source)?.target.unit;
    const at = unit === undefined ? "(not replicated)" : `(scsi0:${unit})`;
    const dev = ctx.devices.find((d) => d.source === source && d.target && d.from === "blkid");
    if (!dev?.target) {
      warnings.push(`${what} ${source} ${at} ${NOT_ATTACHED}: grub-install skipped, the MBR stays as replicated`);
      continue;
    }
    changes.push({
      action: "exec",
      argv: [posix.basename(install), "--target=i386-pc", dev.target],
      produces,
      // grub-install cleans the platform directory and fills it again (grub_install_copy_files):
      // one rename backs up its hundreds of files instead of a copy of each
      rewritesDirs: [`${grubDir}/i386-pc`],
      bootArea: dev.target,
      timeoutMs: MKCONFIG_TIMEOUT_MS,
      reason: `reinstall GRUB's BIOS boot code on ${what} at scsi0:${unit} (${dev.target} here; its boot code and embedding area are backed up first)${i ? ": /boot is on md RAID, so every member disk can boot" : ""}`,
    });
    installedOn.push(dev.target);
  }
  const debconf = await planGrubPcDebconf(ctx, installedOn, warnings);
  if (debconf) changes.push(debconf);
}

export async function planBootloader(ctx: FixupContext): Promise<StepPlan> {
  const { info } = ctx;
  const bl = info.bootloader;
  // first: grub-mkconfig below generates the menu the default names, and keeps saved_entry
  const def0 = await planDefaultKernel(ctx);
  const changes: Change[] = [...def0.changes];
  const warnings: string[] = [...def0.warnings];
  if (bl.kind === "none") return { changes, warnings: ["no GRUB configuration found in the guest; its boot loader is left as it is"], skipped: "no GRUB found" };
  if (bl.kind === "grub-legacy") {
    // the kernel lines were edited in place by device-refs; GRUB legacy has no generator
    return { changes, warnings: [...warnings, `GRUB legacy (${bl.configs.join(", ")}): configuration edited in place, boot code left as replicated`] };
  }
  const target = ctx.inputs.system.target.firmware;
  if (target !== info.firmware) warnings.push(`the guest is installed for ${info.firmware} but the target VM boots ${target}; the boot loader is configured for ${info.firmware}`);
  const firmware = info.firmware;
  if (firmware === "uefi") await planEfiFallback(ctx, changes, warnings);
  else {
    // where GRUB's BIOS modules are (or would go): installed before, or the platform files
    // of grub-pc/grub2-pc are in the guest
    let grubDir: string | undefined;
    for (const d of ["/boot/grub2", "/boot/grub"]) if ((await ctx.view.kind(`${d}/i386-pc`)) === "dir") { grubDir = d; break; }
    if (!grubDir) {
      const twoish = posix.basename(bl.install ?? bl.mkconfig ?? "").startsWith("grub2");
      for (const lib of GRUB_PC_PLATFORM_DIRS) if ((await ctx.view.kind(lib)) === "dir") { grubDir = twoish ? "/boot/grub2" : "/boot/grub"; break; }
    }
    await planBiosInstall(ctx, changes, warnings, grubDir);
  }

  const def = await ctx.view.readText("/etc/default/grub");
  if (def !== undefined && new ShellVars(def).get("GRUB_DISABLE_OS_PROBER") === "false") warnings.push("/etc/default/grub enables os-prober; the regenerated grub.cfg may list other systems seen by the fixup VM");
  if (!bl.mkconfig) {
    warnings.push("no grub-mkconfig/grub2-mkconfig in the guest: grub.cfg was edited in place instead of regenerated");
    return { changes, warnings };
  }
  const mk = posix.basename(bl.mkconfig);
  // grub2-mkconfig on RHEL 8/9 may also rewrite grubenv's kernelopts and the BLS entries'
  // options from /etc/default/grub: they are backed up with it
  const grubenvs: string[] = [];
  // on RHEL 8 UEFI /boot/grub2/grubenv is a link to the ESP's: back up the file itself
  for (const p of ["/boot/grub2/grubenv", "/boot/grub/grubenv", ...bl.efiDirs.map((d) => `${d}/grubenv`)]) if ((await ctx.view.kind(p)) === "file") grubenvs.push(p);
  for (const out of await mkconfigOutputs(ctx)) {
    // it writes `${out}.new` and renames it: a crash in between leaves that file behind
    changes.push({ action: "exec", argv: [mk, "-o", out], env: NO_OS_PROBER, produces: [out, `${out}.new`, ...grubenvs, ...bl.blsEntries], timeoutMs: MKCONFIG_TIMEOUT_MS, reason: `regenerate ${out} for ${firmware} with the guest's own ${mk}` });
    if (firmware === "uefi") changes.push({ action: "exec", argv: ["/bin/sh", "-c", NO_LINUX16_CHECK, "sh", out], reason: `check ${out} has no linux16 entries (UEFI cannot boot them)` });
  }
  return { changes, warnings };
}
