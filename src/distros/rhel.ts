// Red Hat Enterprise Linux and the distributions built from it or next to it: CentOS, Rocky,
// AlmaLinux, Oracle Linux, Scientific Linux, CloudLinux, EuroLinux, Amazon Linux, and Fedora.
import { MKINITRD_CLASSIC, toolDefaultImage } from "./generic.ts";
import type { DistroProfile, ReleaseFacts, ReleaseFile } from "./types.ts";

const IDS = ["rhel", "centos", "rocky", "almalinux", "ol", "fedora", "scientific", "amzn", "cloudlinux", "eurolinux"] as const;

/** The os-release ID of a /etc/redhat-release first line ("CentOS release 6.10 (Final)"). */
const NAME_TO_ID: [RegExp, string][] = [
  [/^centos/i, "centos"],
  [/^(red hat|rhel)/i, "rhel"],
  [/^oracle/i, "ol"],
  [/^rocky/i, "rocky"],
  [/^alma/i, "almalinux"],
  [/^fedora/i, "fedora"],
  [/^scientific/i, "scientific"],
];

/** /etc/redhat-release: one line, "<name> release <version> (<code name>)". */
export function parseRedhatRelease(text: string): ReleaseFacts {
  const line = text.split("\n")[0]!.trim();
  const version = /release\s+([\d.]+)/i.exec(line)?.[1] ?? "";
  const id = NAME_TO_ID.find(([re]) => re.test(line))?.[1] ?? "rhel";
  return { id, version, name: line };
}

const REDHAT_RELEASE: ReleaseFile = { path: "/etc/redhat-release", parse: parseRedhatRelease };

/** Own directory first, then the one shim and grub were signed for. */
const EFI_VENDORS: Record<string, string[]> = {
  rhel: ["redhat"],
  centos: ["centos", "redhat"],
  rocky: ["rocky", "redhat"],
  almalinux: ["almalinux", "redhat"],
  ol: ["redhat", "ol"],
  fedora: ["fedora"],
};

export const rhel: DistroProfile = {
  family: "rhel",
  title: "RHEL, CentOS, Rocky, AlmaLinux, Oracle Linux, Fedora and relatives",
  ids: IDS,
  claims: (id) => (IDS as readonly string[]).includes(id),
  releaseFiles: [REDHAT_RELEASE],
  // dracut's initramfs-<v>.img; RHEL 5's mkinitrd wrote initrd-<v>.img
  initramfs: { imagePath: toolDefaultImage, mkinitrd: MKINITRD_CLASSIC },
  efiVendors: (id) => EFI_VENDORS[id] ?? [],
  allEfiVendors: [...new Set(Object.values(EFI_VENDORS).flat())],
  // /etc/rc.d/init.d and /etc/rc.d/rcN.d; /etc/init.d and /etc/rcN.d are links to them when present
  sysv: { initd: "/etc/rc.d/init.d", rcDir: (l) => `/etc/rc.d/rc${l}.d` },
  packageFormat: "rpm",
  packageEnv: {},
  networkSystems: ["ifcfg", "networkmanager", "udev"],
};
