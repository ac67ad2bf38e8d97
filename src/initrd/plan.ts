// Rebuilding the initramfs of every installed kernel with the target drivers forced in, with
// the guest's own tool. The build runs in a chroot on the fixup VM, so nothing may be left to
// host-only detection: it would look at the fixup VM's hardware and command line, not the
// target's (initramfs-tools MODULES=dep, dracut --hostonly). Each image is declared as what
// the command produces, so the engine keeps the previous image and puts it back on failure.
import { ShellVars } from "../formats/shell-vars.ts";
import type { Change, StepPlan } from "../engine/changes.ts";
import type { FixupContext } from "../fixups/types.ts";
import type { KernelInfo } from "../guest/inspect.ts";
import { FixupError } from "../protocol/codes.ts";
import { keptImages } from "./image.ts";
import { appendVerdict } from "./append.ts";
import { diskDriverModules } from "./target-drivers.ts";
import { dracutFlags, toolVersion } from "./tool-version.ts";
import { compareKernelVersions } from "./modules.ts";
import { CONTROLLER_DRIVER, NIC_DRIVER, driversForKernel, normModule, initrdStacks, requiredModules, type KernelDrivers } from "./drivers.ts";

/** A rebuild of a generic initramfs can take minutes on a slow disk; a hung one must not block forever. */
const BUILD_TIMEOUT_MS = 20 * 60_000;
/**
 * The builds of several kernels run at once, as the CPUs and free memory allow (engine/run.ts):
 * dracut and update-initramfs each write their own image and work in a directory of their own
 * (mktemp). Not mkinitrd: no test runs two of its builds (SLES 11, RHEL 5) at once.
 */
const PARALLEL_BUILDS = "initramfs";
export const DRACUT_CONF = "/etc/dracut.conf.d/50-osam-vmware.conf";
export const ITOOLS_MODULES = "/etc/initramfs-tools/modules";

export function imagePathFor(ctx: FixupContext, k: KernelInfo): string {
  return k.initrd ?? ctx.info.profile.initramfs.imagePath(ctx.info.initrdTool, k.version);
}

export const DRACUT_TEMP_CONF = "/etc/dracut.conf.d/zz-osam-fixup-build.conf";
const DRACUT_TEMP_TEXT = "# Written by osam-fixup for one rebuild in the fixup VM, removed right after it.\nhostonly=\"no\"\n";
export const ITOOLS_TEMP_CONF = "/etc/initramfs-tools/conf.d/zz-osam-fixup-build";
const ITOOLS_TEMP_TEXT = "# Written by osam-fixup for one rebuild in the fixup VM, removed right after it.\nMODULES=most\n";

/** MODULES= as mkinitramfs sees it: initramfs.conf, then conf.d/* in name order. */
async function effectiveModulesSetting(ctx: FixupContext): Promise<string | undefined> {
  let m = new ShellVars((await ctx.view.readText("/etc/initramfs-tools/initramfs.conf")) ?? "").get("MODULES");
  for (const n of await ctx.view.readdir("/etc/initramfs-tools/conf.d")) {
    const v = new ShellVars((await ctx.view.readText(`/etc/initramfs-tools/conf.d/${n}`)) ?? "").get("MODULES");
    if (v !== undefined) m = v;
  }
  return m;
}

/** hostonly= as dracut sees it: its own defaults, then /etc/dracut.conf, then /etc/dracut.conf.d/*.conf in name order. */
async function dracutHostOnly(ctx: FixupContext): Promise<boolean> {
  let h: string | undefined;
  const read = async (p: string) => {
    const v = new ShellVars((await ctx.view.readText(p)) ?? "").get("hostonly");
    if (v !== undefined) h = v;
  };
  for (const d of ["/usr/lib/dracut/dracut.conf.d", "/etc/dracut.conf", "/etc/dracut.conf.d"]) {
    if (d.endsWith(".conf")) await read(d);
    else for (const n of (await ctx.view.readdir(d)).filter((x) => x.endsWith(".conf")).sort()) await read(`${d}/${n}`);
  }
  return h === "yes";
}

/**
 * Whether the guest builds its images for the machine they are built on (initramfs-tools
 * MODULES=dep, dracut hostonly=yes): its current images were sized for the source hardware,
 * so whatever else they hold is happenstance, and they are rebuilt as before. Only images of
 * a guest configured generic (Debian's default MODULES=most) are read and may be kept.
 */
async function hostOnlyConfigured(ctx: FixupContext): Promise<boolean> {
  if (ctx.info.initrdTool === "initramfs-tools") return (await effectiveModulesSetting(ctx)) === "dep";
  if (ctx.info.initrdTool === "dracut") return dracutHostOnly(ctx);
  return false;
}

/**
 * Starts reading the images this step will read (image-reads.ts: the keep verdict's, and an
 * initramfs-tools append's, one read for both), so that they are decompressed while the
 * steps before this one run. Returns the images it started on.
 */
export async function readImagesAhead(ctx: FixupContext): Promise<string[]> {
  if (!ctx.images || ctx.inputs.system.options?.rebuildInitramfs === true) return [];
  const itools = ctx.info.initrdTool === "initramfs-tools";
  if (!itools && (await hostOnlyConfigured(ctx))) return [];
  const started: string[] = [];
  for (const k of ctx.info.kernels) {
    const path = imagePathFor(ctx, k);
    const bytes = await ctx.view.readBytes(path);
    if (!bytes) continue;
    void ctx.images.read(path, bytes, k.version, itools);
    started.push(path);
  }
  return started;
}

/** The "module [args]" lines a rebuild reads: the modules file as this step leaves it, then modules.d. */
async function itoolsModuleList(ctx: FixupContext, modulesFile: string): Promise<string[]> {
  const texts = [modulesFile];
  for (const n of await ctx.view.readdir("/usr/share/initramfs-tools/modules.d")) texts.push((await ctx.view.readText(`/usr/share/initramfs-tools/modules.d/${n}`)) ?? "");
  return texts.flatMap((t) => t.split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#")));
}

/** /etc/initramfs-tools/modules with the missing modules appended under one comment. */
export function addToModulesFile(text: string | undefined, modules: string[]): string {
  const t = text ?? "";
  const have = new Set(
    t
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith("#"))
      .map((l) => normModule(l.split(/\s+/)[0]!)),
  );
  const add = modules.filter((m) => !have.has(normModule(m)));
  if (!add.length) return t;
  const body = t === "" || t.endsWith("\n") ? t : t + "\n";
  return `${body}# osam-fixup: drivers of the VMware target hardware (disks, NICs) and of the root filesystem\n${add.join("\n")}\n`;
}

function dracutConf(modules: string[]): string {
  return [
    "# Written by osam-fixup: the drivers of the VMware target hardware (PVSCSI/LSI disks,",
    "# vmxnet3/e1000e NICs) and of the root filesystem, kept in every initramfs dracut builds.",
    `add_drivers+=" ${modules.join(" ")} "`,
    "# a host-only image built on the fixup VM must not carry the fixup VM's command line",
    'hostonly_cmdline="no"',
    "",
  ].join("\n");
}

export async function planInitrd(ctx: FixupContext): Promise<StepPlan> {
  const { info, view } = ctx;
  const tool = info.initrdTool;
  if (tool === "none") throw new FixupError("INITRD_TOOL_MISSING", "the guest has no dracut, update-initramfs or mkinitrd, so its initramfs cannot get the VMware disk drivers");
  if (!info.kernels.length) throw new FixupError("INITRD_FAILED", "no installed kernel found (no /lib/modules/<version> with a /boot/vmlinuz-<version>)");
  const onTarget = ctx.devices.some((d) => d.from === "blkid");
  // on the target hardware, its disk drivers as the fixup VM uses them join the list (target-drivers.ts)
  const wanted = [...new Set([...initrdStacks(info, ctx.devices).flatMap(requiredModules), ...(onTarget ? diskDriverModules(ctx.devices) : [])])];
  const controller = CONTROLLER_DRIVER[ctx.inputs.system.target.scsiController];
  const nic = NIC_DRIVER[ctx.inputs.system.target.nicModel];
  const warnings: string[] = [];
  const per = new Map<string, KernelDrivers>();
  for (const k of info.kernels) per.set(k.version, await driversForKernel(view, k.version, wanted));
  const bootable = info.kernels.filter((k) => per.get(k.version)!.present.includes(controller));
  if (!bootable.length) {
    throw new FixupError("INITRD_FAILED", `no installed kernel has the ${controller} driver of the target's ${ctx.inputs.system.target.scsiController} controller (kernels: ${info.kernels.map((k) => k.version).join(", ")}); choose another controller in system-configuration target.scsiController`);
  }
  const newest = [...info.kernels].sort((a, b) => compareKernelVersions(a.version, b.version)).at(-1);
  for (const k of info.kernels) {
    const d = per.get(k.version)!;
    if (!d.checked) warnings.push(`kernel ${k.version}: no modules.dep, so the driver list was not checked against it`);
    if (!d.present.includes(controller)) warnings.push(`kernel ${k.version} has no ${controller} driver and would not find its disks on the target${k === newest ? "; the bootloader step makes a kernel that has it the default" : ""}`);
    else if (!d.present.includes(nic)) warnings.push(`kernel ${k.version} has no ${nic} driver: no network on the target's ${nic} NICs with this kernel`);
  }
  // a module written into the guest's own config must exist for every kernel, or the
  // guest's next rebuild (a kernel update) fails on it
  const inAll = wanted.filter((m) => info.kernels.every((k) => per.get(k.version)!.present.includes(m)));
  const inAny = wanted.filter((m) => info.kernels.some((k) => per.get(k.version)!.present.includes(m)));
  // an image of a guest configured generic that already holds every target driver with its
  // dependencies, and no stale root, resume or crypt reference or configuration copy, stays
  // as it is (image.ts; one it cannot read is rebuilt)
  const rebuildAll = ctx.inputs.system.options?.rebuildInitramfs === true;
  const kept = rebuildAll || (await hostOnlyConfigured(ctx)) ? new Map<string, string>() : await keptImages(ctx, info.kernels.map((k) => ({ version: k.version, image: imagePathFor(ctx, k), modules: per.get(k.version)!.present })));
  const rebuild = info.kernels.filter((k) => !kept.has(k.version));

  const changes: Change[] = [];
  const notes: string[] = rebuildAll ? ["every initramfs is rebuilt with the guest's own tool: system-configuration options.rebuildInitramfs is true"] : [];
  const reasonFor = (k: KernelInfo) => `rebuild the initramfs of ${k.version} with the VMware target drivers`;
  // In agent mode the fixup VM is the target VM itself (PVSCSI, vmxnet3) and the guest's disks
  // are real block devices, so the guest's own host-only mode (dracut --hostonly,
  // initramfs-tools MODULES=dep) sizes the image for the right hardware, with the driver list
  // forced in on top. It is also several times faster than a generic image: under emulation a
  // MODULES=most build took over 27 minutes where MODULES=dep took 4. In a chroot on a host
  // (apply --root on a directory, the integration tests) there is no such device: build generic.
  switch (tool) {
    case "dracut": {
      changes.push({ action: "write", path: DRACUT_CONF, content: dracutConf(inAll), mode: 0o644, reason: "keep the VMware target drivers in future dracut builds" });
      const flags = dracutFlags(await toolVersion(view, "dracut"));
      if (flags.note) notes.push(flags.note);
      // a dracut without --no-hostonly follows its configuration: one that asks for host-only
      // is overridden for this build only, by a conf.d file removed right after
      const tempConf = rebuild.length > 0 && !onTarget && !flags.generic && (await dracutHostOnly(ctx));
      if (tempConf) changes.push({ action: "write", path: DRACUT_TEMP_CONF, content: DRACUT_TEMP_TEXT, mode: 0o644, reason: "build generic images this once: this dracut has no --no-hostonly and its configuration asks for host-only" });
      for (const k of rebuild) {
        const img = imagePathFor(ctx, k);
        // host-only only on the target hardware; its command line is never baked in
        // (hostonly_cmdline=no in DRACUT_CONF): root= comes from the boot loader
        const mode = onTarget ? [flags.hostonly] : flags.generic ? [flags.generic] : [];
        changes.push({ action: "exec", argv: ["dracut", "--force", ...mode, "--add-drivers", per.get(k.version)!.present.join(" "), img, k.version], produces: [img], timeoutMs: BUILD_TIMEOUT_MS, parallel: PARALLEL_BUILDS, reason: reasonFor(k) });
      }
      if (tempConf) changes.push({ action: "remove", path: DRACUT_TEMP_CONF, reason: "the guest keeps its own hostonly setting for later rebuilds on the target" });
      break;
    }
    case "initramfs-tools": {
      const cur = await view.readText(ITOOLS_MODULES);
      const next = addToModulesFile(cur, inAny);
      if (next !== cur) changes.push({ action: "write", path: ITOOLS_MODULES, content: next, reason: "list the VMware target drivers explicitly (MODULES=dep in a chroot sees the fixup VM's hardware)" });
      // an image that lacks only what files can add gets them as one more archive (append.ts)
      const listed = await itoolsModuleList(ctx, next);
      const appended: KernelInfo[] = [];
      for (const k of rebuildAll ? [] : rebuild) {
        const img = imagePathFor(ctx, k);
        const a = await appendVerdict(ctx, { version: k.version, image: img, modules: per.get(k.version)!.present, listed });
        ctx.log.info(`initramfs ${img}: ${a.append ? a.note : `rebuilt, nothing to append to: ${a.why}`}`);
        if (!a.append) continue;
        appended.push(k);
        changes.push({ action: "write", path: img, content: a.content, reason: `complete the initramfs of ${k.version} with the VMware target drivers by one more archive, without a rebuild` });
        notes.push(a.note);
      }
      const built = rebuild.filter((k) => !appended.includes(k));
      // MODULES=dep in a chroot picks the fixup VM's root device and drivers (and fails
      // outright where / is not a block device): build this once with MODULES=most through a
      // conf.d file that is removed right after, so the guest keeps its own setting
      const dep = built.length > 0 && !onTarget && (await effectiveModulesSetting(ctx)) === "dep";
      if (dep) changes.push({ action: "write", path: ITOOLS_TEMP_CONF, content: ITOOLS_TEMP_TEXT, reason: "build with MODULES=most this once: MODULES=dep in the fixup VM would size the image for the fixup VM's hardware" });
      const conf = new ShellVars((await view.readText("/etc/initramfs-tools/update-initramfs.conf")) ?? "");
      if (built.length && conf.get("update_initramfs") === "no") warnings.push("update-initramfs.conf says update_initramfs=no; the images are rebuilt anyway (-c)");
      for (const k of built) {
        const img = imagePathFor(ctx, k);
        const exists = await view.exists(img);
        // -t: take over an image update-initramfs did not make itself (no sha1 state for it)
        const argv = exists && conf.get("update_initramfs") !== "no" ? ["update-initramfs", "-u", "-t", "-k", k.version] : ["update-initramfs", "-c", "-t", "-k", k.version];
        // update-initramfs keeps the old image as <image>.dpkg-bak while it builds <image>.new
        // (mkinitramfs creates it first thing), then renames and removes them: a build killed
        // half-way leaves both, and a rollback must remove them
        changes.push({ action: "exec", argv, produces: [img, `${img}.new`, `${img}.dpkg-bak`], timeoutMs: BUILD_TIMEOUT_MS, parallel: PARALLEL_BUILDS, reason: reasonFor(k) });
      }
      if (dep) changes.push({ action: "remove", path: ITOOLS_TEMP_CONF, reason: "the guest keeps its own MODULES=dep for later rebuilds on the target" });
      break;
    }
    case "mkinitrd": {
      const dialect = info.profile.initramfs.mkinitrd;
      const setting = dialect.modulesSetting;
      const t = setting && (await view.readText(setting.path));
      if (setting && t !== undefined) {
        const v = new ShellVars(t);
        const cur = (v.get(setting.key) ?? "").split(/\s+/).filter(Boolean);
        const add = inAll.filter((m) => !cur.map(normModule).includes(normModule(m)));
        if (add.length) {
          v.set(setting.key, [...cur, ...add].join(" "));
          changes.push({ action: "write", path: setting.path, content: v.toString(), reason: "keep the VMware target drivers in future mkinitrd builds" });
        }
      }
      for (const k of rebuild) {
        const img = imagePathFor(ctx, k);
        const argv = dialect.argv(img, k.image ?? `/boot/vmlinuz-${k.version}`, k.version, per.get(k.version)!.present);
        changes.push({ action: "exec", argv, produces: [img], timeoutMs: BUILD_TIMEOUT_MS, reason: reasonFor(k) });
      }
      break;
    }
  }
  notes.push(...kept.values());
  return { changes, warnings, ...(notes.length ? { notes } : {}) };
}
