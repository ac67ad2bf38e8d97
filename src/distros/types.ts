// What osam-fixup knows about one distribution family, in one place. A profile names and
// defaults what does not exist in the guest yet (the name of an initramfs image still to be
// built, the EFI vendor directory to prefer, the SysV directories to create); what does exist
// (the initramfs tool installed, the network systems that have files, grub2 or legacy, the
// init system, shim, cloud-init) is still read from the guest by src/guest/inspect.ts.
import type { NetSystem } from "../network/inspect.ts";

/** The family value strings of result.json and `inspect`; they never change. */
export type OsFamily = "rhel" | "debian" | "suse" | "unknown";

export interface OsInfo {
  family: OsFamily;
  /** os-release ID: rhel, centos, rocky, almalinux, ol, ubuntu, debian, sles, opensuse-leap... */
  id: string;
  version: string;
  name: string;
  /** The file the facts came from. */
  from: string;
}

/** What one release file says, before a profile is picked for it. */
export interface ReleaseFacts {
  id: string;
  /** os-release ID_LIKE: the IDs this one derives from, space-separated. */
  idLike?: string;
  version: string;
  name: string;
}

/** A release file that a family writes, and how to read it. */
export interface ReleaseFile {
  path: string;
  /** undefined when the file says nothing usable. */
  parse(text: string): ReleaseFacts | undefined;
}

export type InitrdTool = "dracut" | "initramfs-tools" | "mkinitrd" | "none";

/** How a family's mkinitrd is called: there were two incompatible programs of that name. */
export interface MkinitrdDialect {
  /** The command that builds `image` for kernel `version` (image file `kernel`) with `modules` forced in. */
  argv(image: string, kernel: string, version: string, modules: string[]): string[];
  /** A KEY="modules" setting that later builds read, where the dialect has one. */
  modulesSetting?: { path: string; key: string };
}

export interface InitramfsProfile {
  /** Where the image of kernel `version` goes when the guest has none yet, built by `tool`. */
  imagePath(tool: InitrdTool, version: string): string;
  mkinitrd: MkinitrdDialect;
}

/** Where SysV init scripts and their runlevel links live. */
export interface SysvLayout {
  initd: string;
  rcDir(level: number): string;
}

export interface DistroProfile {
  family: OsFamily;
  /** For logs and docs: which distributions this profile covers. */
  title: string;
  /** os-release IDs (and ID_LIKE words) this profile claims. */
  claims(id: string): boolean;
  /** The IDs claimed by name, for tests and docs (claims() may also match a prefix). */
  ids: readonly string[];
  /** Release files of this family other than os-release, most specific first. */
  releaseFiles: readonly ReleaseFile[];
  initramfs: InitramfsProfile;
  /** /boot/efi/EFI/<vendor> directories for an os-release ID, in order of preference. */
  efiVendors(id: string): readonly string[];
  /** Every EFI vendor directory of the family, in order. */
  allEfiVendors: readonly string[];
  sysv: SysvLayout;
  packageFormat: "rpm" | "deb" | "unknown";
  /** Environment that keeps the family's package tools from asking questions (hooks run by update-initramfs, grub). */
  packageEnv: Readonly<Record<string, string>>;
  /** The network configuration systems found on this family; the guest's files decide. */
  networkSystems: readonly NetSystem[];
}
