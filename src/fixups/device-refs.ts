// Every reference to a source device name (/dev/vda1, /dev/xvdb, /dev/hda2, /dev/nvme0n1p3,
// /dev/sdX in the source's order) becomes a stable UUID= (or the name the device will have on
// the target where it has no UUID): fstab, crypttab, the kernel command line in all its
// places, grub.cfg, the initramfs-tools resume file and GRUB's device.map. Stable references
// (UUID=, LABEL=, PARTUUID=, /dev/mapper/*, /dev/<vg>/<lv>, by-uuid, by-label) are left alone;
// by-id and by-path names belong to the source's hardware and are traced to a UUID
// (hardware-names.ts), or stop the run where the boot needs them (DEVICE_REF_UNRESOLVED).
// mdadm.conf is left to assemble arrays by UUID (mdadm.ts).
import { Fstab } from "../formats/fstab.ts";
import { ShellVars } from "../formats/shell-vars.ts";
import { editCmdline, planKernelArgs, type CmdlineEdit } from "../bootloader/cmdline.ts";
import type { Change, StepPlan } from "../engine/changes.ts";
import { SOURCE_STYLE_NAME, partitionName, splitPartition, targetDiskNames } from "../guest/discover-names.ts";
import { FixupError } from "../protocol/codes.ts";
import type { Inputs } from "../protocol/inputs.ts";
import type { FixupContext, FixupStep, KnownDevice } from "./types.ts";
import { planMdadmConf } from "./mdadm.ts";
import { planLvmFilters } from "./lvm-filter.ts";
import { type HardwareName, type RefRole, parseHardwareName, sourceDeviceOf, uuidByRole } from "./hardware-names.ts";

export type Resolution =
  | { kind: "stable" }
  | { kind: "uuid"; value: string }
  | { kind: "name"; value: string; why: string }
  | { kind: "unmigrated" }
  /** A name of the source's hardware (by-id, by-path) that no input traces to a filesystem. */
  | { kind: "unresolved"; why: string };

const NETFS = new Set(["nfs", "nfs4", "cifs", "smbfs", "smb3", "glusterfs", "ceph", "fuse.sshfs", "sshfs", "davfs", "fuse.glusterfs", "9p", "ocfs2", "gfs2", "lustre", "fuse.s3fs"]);
const PSEUDO = new Set(["proc", "sysfs", "tmpfs", "devpts", "devtmpfs", "debugfs", "securityfs", "cgroup", "cgroup2", "hugetlbfs", "mqueue", "efivarfs", "binfmt_misc", "configfs", "pstore", "bpf", "tracefs", "fusectl", "none", "rpc_pipefs", "nfsd", "autofs"]);

const CONTAINER_MEMBER = new Set(["linux_raid_member", "LVM2_member"]);

/** Answers "what should this device name become" from the replica map and the known devices. */
export class DeviceResolver {
  private readonly inputs: Inputs;
  private readonly devices: KnownDevice[];
  private readonly newNames: Map<string, string>;
  readonly haveBlkid: boolean;

  constructor(inputs: Inputs, devices: KnownDevice[]) {
    this.inputs = inputs;
    this.devices = devices;
    this.newNames = targetDiskNames(inputs.disks);
    this.haveBlkid = devices.some((d) => d.from === "blkid");
  }

  /** The disk name the target VM gives a source disk, or undefined when it is not replicated. */
  newDiskName(sourceDisk: string): string | undefined {
    return this.newNames.get(sourceDisk);
  }

  /** `role` says what the reference is for, which traces a by-path name (see hardware-names.ts). */
  resolve(name: string, role: RefRole = {}): Resolution {
    const hw = parseHardwareName(name);
    if (hw) return this.resolveHardware(name, hw, role);
    if (!SOURCE_STYLE_NAME.test(name)) return { kind: "stable" };
    // a RAID member's or an LVM PV's UUID names its array or volume group, nothing mountable
    const known = this.devices.find((d) => d.source === name && d.uuid && !CONTAINER_MEMBER.has(d.fsType ?? ""));
    if (known?.uuid) return { kind: "uuid", value: `UUID=${known.uuid}` };
    const { disk, part } = splitPartition(name);
    const nd = this.newNames.get(disk);
    if (nd) {
      const value = part === undefined ? nd : partitionName(nd, part);
      return { kind: "name", value, why: `no UUID is known for ${name}` };
    }
    return { kind: "unmigrated" };
  }

  private resolveHardware(name: string, hw: HardwareName, role: RefRole): Resolution {
    const src = sourceDeviceOf(hw, this.inputs.disks);
    const bySerial = src ? this.resolve(src) : undefined;
    if (bySerial?.kind === "uuid") return bySerial;
    const uuid = uuidByRole(role, this.inputs.system, this.devices);
    if (uuid) return { kind: "uuid", value: `UUID=${uuid}` };
    if (bySerial?.kind === "name") return { ...bySerial, why: `no UUID is known for ${name} (${src} on the source)` };
    const from = hw.kind === "by-id" ? "no disk serial in replica-disk-map.json matches it and " : "";
    return { kind: "unresolved", why: `${name} names the source's hardware; ${from}the inventory does not say which filesystem it is` };
  }

  /** For UUID=/LABEL=/PARTUUID= specs: false only when blkid saw the disks and none matches. */
  stableSpecPresent(spec: string): boolean {
    if (!this.haveBlkid) return true;
    const m = /^(UUID|LABEL|PARTUUID)=(.+)$/.exec(spec.replace(/"/g, ""));
    if (!m) return true;
    const v = m[2]!.toLowerCase();
    const blk = this.devices.filter((d) => d.from === "blkid");
    if (m[1] === "UUID") return blk.some((d) => d.uuid?.toLowerCase() === v);
    if (m[1] === "LABEL") return blk.some((d) => d.label?.toLowerCase() === v);
    return blk.some((d) => d.partuuid?.toLowerCase() === v);
  }
}

function isNetwork(e: { spec: string; vfstype: string; options: string }): boolean {
  return NETFS.has(e.vfstype) || /^\/\/[^/]+\/|^[^/=\s]+:\//.test(e.spec) || e.options.split(",").includes("_netdev");
}

interface Collect {
  changes: Change[];
  warnings: string[];
  /** References that stop the boot and cannot be fixed: the step fails with all of them. */
  blockers: string[];
}

/** Mounts without which the guest does not come up (systemd's emergency mode, or worse). */
const CRITICAL_MOUNTS = new Set(["/", "/usr", "/boot", "/boot/efi", "/var"]);
const mayFail = (options: string | undefined) => (options ?? "").split(",").some((o) => o === "nofail" || o === "noauto");

async function planFstab(ctx: FixupContext, r: DeviceResolver, out: Collect): Promise<void> {
  const text = await ctx.view.readText("/etc/fstab");
  if (text === undefined) {
    out.warnings.push("the guest has no /etc/fstab");
    return;
  }
  const fstab = new Fstab(text);
  for (const e of fstab.entries()) {
    const at = () => `/etc/fstab:${fstab.lines.indexOf(e) + 1}`;
    if (PSEUDO.has(e.vfstype) || e.options.split(",").includes("bind")) continue;
    const isRoot = e.file === "/";
    if (isNetwork(e)) {
      if (Fstab.addOption(e, "nofail")) out.warnings.push(`fstab: ${e.file} is a network filesystem (${e.spec}); marked nofail so the first boot on the target does not wait for it`);
      continue;
    }
    const res = r.resolve(e.spec, { ...(e.file.startsWith("/") ? { mountpoint: e.file } : {}), swap: e.vfstype === "swap" });
    switch (res.kind) {
      case "uuid":
        e.spec = res.value;
        e.dirty = true;
        break;
      case "name":
        e.spec = res.value;
        e.dirty = true;
        out.warnings.push(`fstab: ${e.file}: ${res.why}; it now names ${res.value}, the name the device gets on the target`);
        break;
      case "unmigrated":
        if (isRoot) throw new FixupError("FSTAB_FAILED", `the root filesystem in /etc/fstab is on ${e.spec}, which is not on any replica disk in replica-disk-map.json`);
        // a separate /usr (or /boot, /var) left behind: marked nofail, the guest would still not come up
        if (CRITICAL_MOUNTS.has(e.file) && !mayFail(e.options)) throw new FixupError("FSTAB_FAILED", `${at()}: ${e.file} is on ${e.spec}, which is not on any replica disk in replica-disk-map.json, and the guest does not boot without it; replicate that disk too, or add nofail to the line on the source if the guest can boot without ${e.file}`);
        if (Fstab.addOption(e, "nofail")) out.warnings.push(`fstab: ${e.file} is on ${e.spec}, which is not among the replica disks; marked nofail`);
        break;
      case "stable":
        if (!isRoot && !r.stableSpecPresent(e.spec) && Fstab.addOption(e, "nofail")) out.warnings.push(`fstab: ${e.file} (${e.spec}) is not on any attached replica disk; marked nofail`);
        else if (isRoot && !r.stableSpecPresent(e.spec)) out.warnings.push(`fstab: the root entry ${e.spec} matches no filesystem blkid found on the replica disks`);
        break;
      case "unresolved":
        if (mayFail(e.options)) out.warnings.push(`${at()}: ${e.file}: ${res.why}; it may be missing on the target, and the boot goes on without it (${e.options})`);
        else if (CRITICAL_MOUNTS.has(e.file)) out.blockers.push(`${at()}: ${e.file}: ${res.why}`);
        else if (Fstab.addOption(e, "nofail")) out.warnings.push(`${at()}: ${e.file}: ${res.why}; marked nofail so the boot does not wait for it`);
        break;
    }
  }
  const nt = fstab.toString();
  if (nt !== text) out.changes.push({ action: "write", path: "/etc/fstab", content: nt, reason: "mount by UUID instead of the source's device names" });
}

/** Replaces one whitespace-separated field of a line, keeping the rest of the line as it was. */
export function replaceField(line: string, index: number, value: string): string {
  let i = 0;
  return line.replace(/\S+/g, (m) => (i++ === index ? value : m));
}

async function planCrypttab(ctx: FixupContext, r: DeviceResolver, out: Collect): Promise<void> {
  const text = await ctx.view.readText("/etc/crypttab");
  if (text === undefined) return;
  const lines = text.split("\n").map((l, i) => {
    const t = l.trim();
    if (!t || t.startsWith("#")) return l;
    const f = t.split(/\s+/);
    if (f.length < 2) return l;
    const res = r.resolve(f[1]!, { luks: true });
    if (res.kind === "uuid" || res.kind === "name") {
      if (res.kind === "name") out.warnings.push(`crypttab: ${f[0]}: ${res.why}; it now names ${res.value}`);
      return replaceField(l, 1, res.value);
    }
    if (res.kind === "unresolved") {
      if (mayFail(f[3])) out.warnings.push(`/etc/crypttab:${i + 1}: ${f[0]}: ${res.why}; it is not unlocked at boot without it (${f[3]})`);
      else out.blockers.push(`/etc/crypttab:${i + 1}: ${f[0]}: ${res.why}`);
    }
    if (res.kind === "unmigrated") out.warnings.push(`crypttab: ${f[0]} is on ${f[1]}, which is not among the replica disks`);
    return l;
  });
  const nt = lines.join("\n");
  if (nt !== text) out.changes.push({ action: "write", path: "/etc/crypttab", content: nt, reason: "unlock encrypted devices by UUID instead of the source's device names" });
}

/** cryptopts=target=root,source=/dev/vda3,... (Debian's cryptroot): the source= inside it. */
function editCryptopts(value: string, r: DeviceResolver, warnings: string[], blockers: string[]): string | undefined {
  const parts = value.split(",");
  const i = parts.findIndex((p) => p.startsWith("source="));
  if (i < 0) return undefined;
  const src = parts[i]!.slice("source=".length);
  const res = r.resolve(src, { luks: true });
  if (res.kind === "unresolved" || res.kind === "unmigrated") {
    blockers.push(`kernel command line cryptopts source=${src}: ${res.kind === "unresolved" ? res.why : "it is not on any replica disk"}`);
    return undefined;
  }
  if (res.kind === "stable") return undefined;
  if (res.kind === "name") warnings.push(`kernel command line cryptopts source=${src}: ${res.why}; it now names ${res.value}`);
  parts[i] = `source=${res.value}`;
  return parts.join(",");
}

/**
 * What resume= names: the swap device, or with resume_offset= (hibernation to a swap file)
 * the filesystem that holds the swap file, at that offset: never the swap partition.
 */
export function resumeRole(withOffset: boolean, fstab: { spec: string; file: string; vfstype: string }[]): RefRole {
  if (!withOffset) return { swap: true };
  const files = fstab.filter((e) => e.vfstype === "swap" && e.spec.startsWith("/") && !e.spec.startsWith("/dev/")).map((e) => e.spec);
  const mounts = fstab.filter((e) => e.file.startsWith("/") && e.vfstype !== "swap").map((e) => e.file);
  const holders = new Set(files.map((f) => mounts.filter((m) => m === "/" || f.startsWith(m + "/")).sort((a, b) => b.length - a.length)[0] ?? "/"));
  // no swap file in fstab, or several on different filesystems: no role, so a hardware name stays unresolved
  return holders.size === 1 ? { mountpoint: [...holders][0]! } : {};
}

function cmdlineEdit(r: DeviceResolver, warnings: string[], rootErrors: string[], blockers: string[], fstab: { spec: string; file: string; vfstype: string }[]): CmdlineEdit {
  return {
    map(key, value, words) {
      if (key === "cryptopts" && value !== null) return editCryptopts(value, r, warnings, blockers);
      if ((key !== "root" && key !== "resume") || value === null) return undefined;
      const res = r.resolve(value, key === "root" ? { mountpoint: "/" } : resumeRole(words.some((w) => w.startsWith("resume_offset=")), fstab));
      if (res.kind === "uuid") return res.value;
      if (res.kind === "unresolved") {
        blockers.push(`kernel command line ${key}=${value}: ${res.why}`);
        return undefined;
      }
      if (res.kind === "name") {
        warnings.push(`kernel command line ${key}=${value}: ${res.why}; it now names ${res.value}`);
        return res.value;
      }
      if (res.kind === "unmigrated") {
        const msg = `kernel command line ${key}=${value} names a device that is not on any replica disk`;
        if (key === "root") rootErrors.push(msg);
        else warnings.push(msg);
      }
      return undefined;
    },
  };
}

/** Edits root=/resume= on the kernel lines of a generated grub.cfg. */
export function editGrubCfg(text: string, edit: CmdlineEdit): string {
  return text
    .split("\n")
    .map((l) => {
      const m = /^(\s*(?:linux|linux16|linuxefi|kernel)\s+)(\S+)(\s.*)?$/.exec(l);
      if (!m || !m[3]?.trim()) return l;
      return `${m[1]}${m[2]} ${editCmdline(m[3].trim(), edit, false)}`;
    })
    .join("\n");
}

/** GRUB's device.map: (hd0) /dev/vda -> (hd0) /dev/sda, by the target's disk order. */
export function editDeviceMap(text: string, r: DeviceResolver): string {
  return text
    .split("\n")
    .map((l) => {
      const m = /^(\s*\([^)]+\)\s+)(\S+)(.*)$/.exec(l);
      if (!m) return l;
      const nd = r.newDiskName(m[2]!);
      return nd ? `${m[1]}${nd}${m[3]}` : l;
    })
    .join("\n");
}

function isGeneratedGrubCfg(text: string): boolean {
  // the ESP's grub.cfg on RHEL 9, Debian and Ubuntu is a stub that loads the one in /boot
  return /^\s*(linux|linux16|linuxefi)\s/m.test(text) || /blscfg/.test(text);
}

export async function planDeviceRefs(ctx: FixupContext): Promise<StepPlan> {
  const r = new DeviceResolver(ctx.inputs, ctx.devices);
  const out: Collect = { changes: [], warnings: [], blockers: [] };
  await planFstab(ctx, r, out);
  await planCrypttab(ctx, r, out);
  out.changes.push(...(await planMdadmConf(ctx)));

  const rootErrors: string[] = [];
  const fstabNow = ctx.info.fstab;
  const edit = cmdlineEdit(r, out.warnings, rootErrors, out.blockers, fstabNow);
  const args = await planKernelArgs(ctx.view, edit, "root= and resume= by UUID instead of the source's device names");
  if (rootErrors.length) throw new FixupError("FSTAB_FAILED", [...new Set(rootErrors)].join("; "));
  // GRUB_DISABLE_LINUX_UUID=true makes grub-mkconfig write root=/dev/sdX: the name of the
  // disk in the fixup VM, which is the very thing that broke on the way here
  const defIdx = args.findIndex((c) => c.action === "write" && c.path === "/etc/default/grub");
  const defText = defIdx >= 0 ? String((args[defIdx] as Extract<Change, { action: "write" }>).content) : await ctx.view.readText("/etc/default/grub");
  if (defText !== undefined) {
    const v = new ShellVars(defText);
    if (v.get("GRUB_DISABLE_LINUX_UUID") === "true") {
      v.lines = v.lines.map((l) => (l.kind === "var" && l.key === "GRUB_DISABLE_LINUX_UUID" ? { kind: "other", raw: `#${l.raw}  # osam-fixup: root by UUID on the target` } : l));
      const c: Change = { action: "write", path: "/etc/default/grub", content: v.toString(), reason: "root= by UUID in the generated grub.cfg (GRUB_DISABLE_LINUX_UUID was set)" };
      if (defIdx >= 0) args[defIdx] = c;
      else args.unshift(c);
    }
  }
  out.changes.push(...args);

  for (const p of ctx.info.bootloader.kind === "grub2" ? ctx.info.bootloader.configs : []) {
    const t = await ctx.view.readText(p);
    if (t === undefined || !isGeneratedGrubCfg(t)) continue;
    const nt = editGrubCfg(t, edit);
    if (nt !== t) out.changes.push({ action: "write", path: p, content: nt, reason: "root= and resume= by UUID in the current grub.cfg (in case it is not regenerated)" });
  }
  const resumeFile = "/etc/initramfs-tools/conf.d/resume";
  const rt = await ctx.view.readText(resumeFile);
  if (rt !== undefined) {
    const v = new ShellVars(rt);
    const cur = v.get("RESUME");
    if (cur) {
      const res = r.resolve(cur, resumeRole(v.get("RESUME_OFFSET") !== undefined, fstabNow));
      if (res.kind === "uuid" || res.kind === "name") {
        v.set("RESUME", res.value, "");
        out.changes.push({ action: "write", path: resumeFile, content: v.toString(), reason: "resume from the swap device by UUID" });
      } else if (res.kind === "unmigrated") out.warnings.push(`${resumeFile}: RESUME=${cur} is not on any replica disk`);
      else if (res.kind === "unresolved") out.blockers.push(`${resumeFile}: RESUME=${cur}: ${res.why}`);
    }
  }

  for (const p of ["/boot/grub2/device.map", "/boot/grub/device.map"]) {
    if ((await ctx.view.kind(p)) !== "file") continue;
    const t = (await ctx.view.readText(p))!;
    const nt = editDeviceMap(t, r);
    if (nt !== t) out.changes.push({ action: "write", path: p, content: nt, reason: "GRUB's BIOS disk map by the target's disk names" });
  }

  const lvm = await planLvmFilters(ctx, (d) => r.newDiskName(d));
  out.changes.push(...lvm.changes);
  out.warnings.push(...lvm.warnings);
  if (out.blockers.length) {
    // one per argument, though it sits in several files
    throw new FixupError("DEVICE_REF_UNRESOLVED", `${[...new Set(out.blockers)].join("; ")}. The guest would not boot on the target. Give each source disk's serial in replica-disk-map.json (source.serial), or each filesystem with its UUID and mount point in system-configuration.json (source.blockDevices), or refer to it by UUID= on the source, and run again`);
  }
  // one warning per argument, though it sits in several files
  return { changes: out.changes, warnings: [...new Set(out.warnings)] };
}

export const deviceRefs: FixupStep = {
  name: "device-refs",
  title: "refer to disks by UUID instead of the source's device names",
  fatal: true,
  failCode: "FSTAB_FAILED",
  plan: planDeviceRefs,
};
