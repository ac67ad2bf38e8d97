// What the fixups need to know about a guest, read from its files only (no command runs).
import { posix } from "node:path";
import { ShellVars } from "../formats/shell-vars.ts";
import { Fstab } from "../formats/fstab.ts";
import { inspectNetwork, type NetInterfaceInfo } from "../network/inspect.ts";
import { osFromReleaseFiles, type DistroProfile, type InitrdTool, type OsInfo } from "../distros/index.ts";
import type { GuestView } from "./view.ts";

export type { InitrdTool, OsFamily, OsInfo } from "../distros/index.ts";

export interface KernelInfo {
  version: string;
  image?: string;
  initrd?: string;
}

export interface BootloaderInfo {
  kind: "grub2" | "grub-legacy" | "none";
  /** grub.cfg / menu.lst files found. */
  configs: string[];
  /** Boot Loader Specification entries (/boot/loader/entries). */
  blsEntries: string[];
  /** grub2-mkconfig or grub-mkconfig, whichever the guest has. */
  mkconfig?: string;
  install?: string;
  /** /boot/efi/EFI/<vendor> directories. */
  efiDirs: string[];
}

export interface FstabInfo {
  spec: string;
  file: string;
  vfstype: string;
  options: string;
}

export interface GuestInfo {
  os: OsInfo;
  /** What the guest's family names and defaults; what exists is in the other fields. */
  profile: DistroProfile;
  init: "systemd" | "sysv" | "unknown";
  kernels: KernelInfo[];
  initrdTool: InitrdTool;
  bootloader: BootloaderInfo;
  /** Firmware the guest was installed for, judged from its files (ESP in fstab, grub-efi). */
  firmware: "bios" | "uefi";
  fstab: FstabInfo[];
  network: NetInterfaceInfo[];
  selinux?: string;
}

/** os-release first, then the older release files (src/distros). */
export async function detectOs(view: GuestView): Promise<{ os: OsInfo; profile: DistroProfile }> {
  return osFromReleaseFiles((p) => view.readText(p));
}

const INITRD_NAMES = (v: string) => [`/boot/initrd.img-${v}`, `/boot/initramfs-${v}.img`, `/boot/initrd-${v}`, `/boot/initrd-${v}.img`];

export async function listKernels(view: GuestView): Promise<KernelInfo[]> {
  const versions = new Set<string>();
  for (const dir of ["/lib/modules", "/usr/lib/modules"]) {
    for (const v of await view.readdir(dir)) {
      if ((await view.kind(posix.join(dir, v))) !== "dir") continue;
      // a modules dir without modules.* files or a kernel image is a leftover from a removed kernel
      const hasImage = (await view.exists(`/boot/vmlinuz-${v}`)) || (await view.exists(posix.join(dir, v, "vmlinuz")));
      if (hasImage) versions.add(v);
    }
  }
  for (const n of await view.readdir("/boot")) {
    const m = /^vmlinuz-(.+)$/.exec(n);
    if (m && !m[1]!.includes("rescue") && (await view.exists(posix.join("/lib/modules", m[1]!)))) versions.add(m[1]!);
  }
  const out: KernelInfo[] = [];
  for (const v of [...versions].sort(compareVersions)) {
    const image = (await view.exists(`/boot/vmlinuz-${v}`)) ? `/boot/vmlinuz-${v}` : undefined;
    let initrd: string | undefined;
    for (const c of INITRD_NAMES(v)) if (await view.exists(c)) { initrd = c; break; }
    out.push({ version: v, image, initrd });
  }
  return out;
}

export function compareVersions(a: string, b: string): number {
  const pa = a.split(/[.-]/), pb = b.split(/[.-]/);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i] ?? "", y = pb[i] ?? "";
    const nx = Number(x), ny = Number(y);
    const c = !isNaN(nx) && !isNaN(ny) ? nx - ny : x.localeCompare(y);
    if (c) return c;
  }
  return 0;
}

async function firstExisting(view: GuestView, paths: string[]): Promise<string | undefined> {
  for (const p of paths) if (await view.exists(p)) return p;
  return undefined;
}

const SBIN = (n: string) => [`/usr/sbin/${n}`, `/sbin/${n}`, `/usr/bin/${n}`, `/bin/${n}`];

/** The installed tool decides, whatever the family: dracut where it is installed, then update-initramfs, then mkinitrd. */
export async function detectInitrdTool(view: GuestView): Promise<InitrdTool> {
  // a guest with both (leftovers of one) builds with dracut: its files are what is installed now
  if (await firstExisting(view, SBIN("dracut"))) return "dracut";
  if (await firstExisting(view, SBIN("update-initramfs"))) return "initramfs-tools";
  if (await firstExisting(view, SBIN("mkinitrd"))) return "mkinitrd";
  return "none";
}

export async function detectBootloader(view: GuestView): Promise<BootloaderInfo> {
  const configs: string[] = [];
  const efiDirs: string[] = [];
  for (const vendor of await view.readdir("/boot/efi/EFI")) {
    const d = `/boot/efi/EFI/${vendor}`;
    if ((await view.kind(d)) !== "dir") continue;
    efiDirs.push(d);
    if (await view.exists(`${d}/grub.cfg`)) configs.push(`${d}/grub.cfg`);
  }
  for (const c of ["/boot/grub2/grub.cfg", "/boot/grub/grub.cfg"]) if (await view.exists(c)) configs.unshift(c);
  const blsEntries = (await view.readdir("/boot/loader/entries")).filter((n) => n.endsWith(".conf")).map((n) => `/boot/loader/entries/${n}`);
  const grub2 = configs.length > 0 || (await view.exists("/etc/default/grub"));
  if (grub2) {
    const mkconfig = await firstExisting(view, [...SBIN("grub2-mkconfig"), ...SBIN("grub-mkconfig")]);
    const install = await firstExisting(view, [...SBIN("grub2-install"), ...SBIN("grub-install")]);
    return { kind: "grub2", configs, blsEntries, mkconfig, install, efiDirs };
  }
  const legacy = await firstExisting(view, ["/boot/grub/menu.lst", "/boot/grub/grub.conf", "/etc/grub.conf"]);
  if (legacy) return { kind: "grub-legacy", configs: [legacy], blsEntries, efiDirs };
  return { kind: "none", configs, blsEntries, efiDirs };
}

export async function detectInit(view: GuestView): Promise<GuestInfo["init"]> {
  const init = await view.readlink("/sbin/init");
  if (init?.includes("systemd")) return "systemd";
  if ((await view.exists("/lib/systemd/systemd")) || (await view.exists("/usr/lib/systemd/systemd"))) return "systemd";
  if ((await view.exists("/etc/inittab")) || (await view.exists("/sbin/init"))) return "sysv";
  return "unknown";
}

export async function readFstab(view: GuestView): Promise<FstabInfo[]> {
  const t = await view.readText("/etc/fstab");
  if (t === undefined) return [];
  return new Fstab(t).entries().map(({ spec, file, vfstype, options }) => ({ spec, file, vfstype, options }));
}

export async function inspectGuest(view: GuestView): Promise<GuestInfo> {
  const { os, profile } = await detectOs(view);
  const fstab = await readFstab(view);
  const bootloader = await detectBootloader(view);
  const grubEfi = (await view.exists("/usr/lib/grub/x86_64-efi")) || (await view.exists("/usr/lib/grub/x86_64-efi-signed"));
  const uefi = fstab.some((e) => e.file === "/boot/efi" || e.file === "/efi") || bootloader.efiDirs.length > 0 && grubEfi;
  const sel = await view.readText("/etc/selinux/config");
  return {
    os,
    profile,
    init: await detectInit(view),
    kernels: await listKernels(view),
    initrdTool: await detectInitrdTool(view),
    bootloader,
    firmware: uefi ? "uefi" : "bios",
    fstab,
    network: await inspectNetwork(view),
    ...(sel !== undefined ? { selinux: new ShellVars(sel).get("SELINUX") ?? "unknown" } : {}),
  };
}
