// SUSE Linux Enterprise (Server, Desktop, for SAP) and openSUSE (Leap, Tumbleweed).
import type { DistroProfile, InitrdTool, MkinitrdDialect, ReleaseFacts, ReleaseFile } from "./types.ts";

const IDS = ["sles", "sled", "opensuse", "opensuse-leap", "opensuse-tumbleweed", "suse", "sles_sap"] as const;

/** /etc/SuSE-release (SLES 11/12, openSUSE before 15): a title line, then VERSION = and PATCHLEVEL =. */
export function parseSuseRelease(text: string): ReleaseFacts {
  const first = text.split("\n")[0]!.trim();
  const v = /VERSION\s*=\s*(\S+)/.exec(text)?.[1] ?? "";
  const p = /PATCHLEVEL\s*=\s*(\S+)/.exec(text)?.[1];
  return { id: /opensuse/i.test(first) ? "opensuse" : "sles", version: p && p !== "0" ? `${v}.${p}` : v, name: first };
}

const SUSE_RELEASE: ReleaseFile = { path: "/etc/SuSE-release", parse: parseSuseRelease };

/** SUSE's own mkinitrd (SLES 11/12): -k kernel -i image -m "modules"; later builds read INITRD_MODULES. */
const MKINITRD_SUSE: MkinitrdDialect = {
  argv: (image, kernel, _version, modules) => ["mkinitrd", "-k", kernel, "-i", image, "-m", modules.join(" ")],
  modulesSetting: { path: "/etc/sysconfig/kernel", key: "INITRD_MODULES" },
};

const EFI_VENDORS: Record<string, string[]> = {
  sles: ["sles", "opensuse"],
  "opensuse-leap": ["opensuse"],
};

export const suse: DistroProfile = {
  family: "suse",
  title: "SUSE Linux Enterprise and openSUSE",
  ids: IDS,
  claims: (id) => (IDS as readonly string[]).includes(id) || id.startsWith("opensuse"),
  releaseFiles: [SUSE_RELEASE],
  // initrd-<v>, whether dracut (SLES 12 SP2+, 15) or mkinitrd built it
  initramfs: { imagePath: (tool: InitrdTool, v) => (tool === "initramfs-tools" ? `/boot/initrd.img-${v}` : `/boot/initrd-${v}`), mkinitrd: MKINITRD_SUSE },
  efiVendors: (id) => EFI_VENDORS[id] ?? [],
  allEfiVendors: [...new Set(Object.values(EFI_VENDORS).flat())],
  sysv: { initd: "/etc/init.d", rcDir: (l) => `/etc/init.d/rc${l}.d` },
  packageFormat: "rpm",
  packageEnv: {},
  networkSystems: ["wicked", "networkmanager", "udev"],
};
