// The profile of a guest no other profile claims. It knows no distribution: no release file,
// no EFI vendor directory, no package format, no expected network system. Where something
// must still be named (an initramfs image, the SysV directories, the mkinitrd call), it names
// the tools' own defaults, as osam-fixup always did for such guests.
import type { DistroProfile, InitrdTool, MkinitrdDialect, SysvLayout } from "./types.ts";

/** The image name each tool picks by itself. */
export function toolDefaultImage(tool: InitrdTool, version: string): string {
  if (tool === "initramfs-tools") return `/boot/initrd.img-${version}`;
  if (tool === "mkinitrd") return `/boot/initrd-${version}.img`;
  return `/boot/initramfs-${version}.img`;
}

/** mkinitrd of the mkinitrd package (Red Hat's, before dracut): --with=MODULE per driver, image then version. */
export const MKINITRD_CLASSIC: MkinitrdDialect = {
  argv: (image, _kernel, version, modules) => ["mkinitrd", "-f", ...modules.map((m) => `--with=${m}`), image, version],
};

/** /etc/init.d + /etc/rcN.d: the layout the LSB names, and the one used when nothing else is found. */
export const SYSV_FLAT: SysvLayout = { initd: "/etc/init.d", rcDir: (l) => `/etc/rc${l}.d` };

export const generic: DistroProfile = {
  family: "unknown",
  title: "an unknown distribution (nothing assumed)",
  ids: [],
  claims: () => false,
  releaseFiles: [],
  initramfs: { imagePath: toolDefaultImage, mkinitrd: MKINITRD_CLASSIC },
  efiVendors: () => [],
  allEfiVendors: [],
  sysv: SYSV_FLAT,
  packageFormat: "unknown",
  packageEnv: {},
  networkSystems: [],
};
