// Debian and the distributions that keep its layout without Ubuntu's changes: Raspbian,
// Devuan, Kali.
import { MKINITRD_CLASSIC, SYSV_FLAT } from "./generic.ts";
import type { DistroProfile, InitrdTool, ReleaseFacts, ReleaseFile } from "./types.ts";

const IDS = ["debian", "raspbian", "devuan", "kali"] as const;

/** /etc/debian_version: the point release ("12.5") or, on testing, "trixie/sid". */
export function parseDebianVersion(text: string): ReleaseFacts {
  const v = text.trim();
  return { id: "debian", version: v, name: `Debian ${v}` };
}

const DEBIAN_VERSION: ReleaseFile = { path: "/etc/debian_version", parse: parseDebianVersion };

export const debian: DistroProfile = {
  family: "debian",
  title: "Debian, Raspbian, Devuan, Kali",
  ids: IDS,
  claims: (id) => (IDS as readonly string[]).includes(id),
  releaseFiles: [DEBIAN_VERSION],
  // initrd.img-<v>, which the /initrd.img link and the kernel postinst hooks expect, whichever tool builds it
  initramfs: { imagePath: (tool: InitrdTool, v) => (tool === "mkinitrd" ? `/boot/initrd-${v}.img` : `/boot/initrd.img-${v}`), mkinitrd: MKINITRD_CLASSIC },
  efiVendors: (id) => (id === "debian" ? ["debian"] : []),
  allEfiVendors: ["debian"],
  sysv: SYSV_FLAT,
  packageFormat: "deb",
  packageEnv: { DEBIAN_FRONTEND: "noninteractive" },
  networkSystems: ["ifupdown", "networkmanager", "networkd", "udev"],
};
