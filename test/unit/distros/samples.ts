// Release files as real systems ship them, with the family, ID and version both OS detectors
// (src/distros in TypeScript, src/sentinel/os-detect.sh in the guest-side scripts) must give.
// `links` are symlinks as the distributions install them (/etc/os-release -> ../usr/lib/os-release).
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { osFromReleaseFiles } from "../../../src/distros/index.ts";

export interface Sample {
  name: string;
  /** The profile expected to claim it: its module name under src/distros. */
  profile: "rhel" | "debian" | "ubuntu" | "suse" | "generic";
  files: Record<string, string>;
  links?: Record<string, string>;
  expect: { family: string; id: string; version: string; from: string };
}

const OS_RELEASE_LINK = { "/etc/os-release": "../usr/lib/os-release" };

export const SAMPLES: Sample[] = [
  {
    name: "CentOS 6.10 (no os-release)",
    profile: "rhel",
    files: { "/etc/redhat-release": "CentOS release 6.10 (Final)\n", "/etc/centos-release": "CentOS release 6.10 (Final)\n" },
    expect: { family: "rhel", id: "centos", version: "6.10", from: "/etc/redhat-release" },
  },
  {
    name: "RHEL 6.10 (no os-release)",
    profile: "rhel",
    files: { "/etc/redhat-release": "Red Hat Enterprise Linux Server release 6.10 (Santiago)\n" },
    expect: { family: "rhel", id: "rhel", version: "6.10", from: "/etc/redhat-release" },
  },
  {
    name: "Scientific Linux 6.10 (no os-release)",
    profile: "rhel",
    files: { "/etc/redhat-release": "Scientific Linux release 6.10 (Carbon)\n" },
    expect: { family: "rhel", id: "scientific", version: "6.10", from: "/etc/redhat-release" },
  },
  {
    name: "CentOS 7.9",
    profile: "rhel",
    files: {
      "/etc/os-release":
        'NAME="CentOS Linux"\nVERSION="7 (Core)"\nID="centos"\nID_LIKE="rhel fedora"\nVERSION_ID="7"\nPRETTY_NAME="CentOS Linux 7 (Core)"\nANSI_COLOR="0;31"\nCPE_NAME="cpe:/o:centos:centos:7"\nHOME_URL="https://www.centos.org/"\nBUG_REPORT_URL="https://bugs.centos.org/"\n\nCENTOS_MANTISBT_PROJECT="CentOS-7"\nCENTOS_MANTISBT_PROJECT_VERSION="7"\nREDHAT_SUPPORT_PRODUCT="centos"\nREDHAT_SUPPORT_PRODUCT_VERSION="7"\n\n',
      "/etc/redhat-release": "CentOS Linux release 7.9.2009 (Core)\n",
    },
    expect: { family: "rhel", id: "centos", version: "7", from: "/etc/os-release" },
  },
  {
    name: "RHEL 8.10",
    profile: "rhel",
    files: {
      "/etc/os-release":
        'NAME="Red Hat Enterprise Linux"\nVERSION="8.10 (Ootpa)"\nID="rhel"\nID_LIKE="fedora"\nVERSION_ID="8.10"\nPLATFORM_ID="platform:el8"\nPRETTY_NAME="Red Hat Enterprise Linux 8.10 (Ootpa)"\nANSI_COLOR="0;31"\nCPE_NAME="cpe:/o:redhat:enterprise_linux:8::baseos"\nHOME_URL="https://www.redhat.com/"\nDOCUMENTATION_URL="https://access.redhat.com/documentation/en-us/red_hat_enterprise_linux/8"\nBUG_REPORT_URL="https://bugzilla.redhat.com/"\n\nREDHAT_BUGZILLA_PRODUCT="Red Hat Enterprise Linux 8"\nREDHAT_BUGZILLA_PRODUCT_VERSION=8.10\nREDHAT_SUPPORT_PRODUCT="Red Hat Enterprise Linux"\nREDHAT_SUPPORT_PRODUCT_VERSION="8.10"\n',
      "/etc/redhat-release": "Red Hat Enterprise Linux release 8.10 (Ootpa)\n",
    },
    expect: { family: "rhel", id: "rhel", version: "8.10", from: "/etc/os-release" },
  },
  {
    name: "RHEL 9.4",
    profile: "rhel",
    files: {
      "/etc/os-release":
        'NAME="Red Hat Enterprise Linux"\nVERSION="9.4 (Plow)"\nID="rhel"\nID_LIKE="fedora"\nVERSION_ID="9.4"\nPLATFORM_ID="platform:el9"\nPRETTY_NAME="Red Hat Enterprise Linux 9.4 (Plow)"\nANSI_COLOR="0;31"\nLOGO="fedora-logo-icon"\nCPE_NAME="cpe:/o:redhat:enterprise_linux:9::baseos"\nHOME_URL="https://www.redhat.com/"\nDOCUMENTATION_URL="https://access.redhat.com/documentation/en-us/red_hat_enterprise_linux/9"\nBUG_REPORT_URL="https://bugzilla.redhat.com/"\n\nREDHAT_BUGZILLA_PRODUCT="Red Hat Enterprise Linux 9"\nREDHAT_BUGZILLA_PRODUCT_VERSION=9.4\nREDHAT_SUPPORT_PRODUCT="Red Hat Enterprise Linux"\nREDHAT_SUPPORT_PRODUCT_VERSION="9.4"\n',
      "/etc/redhat-release": "Red Hat Enterprise Linux release 9.4 (Plow)\n",
    },
    expect: { family: "rhel", id: "rhel", version: "9.4", from: "/etc/os-release" },
  },
  {
    name: "Rocky Linux 9.3",
    profile: "rhel",
    files: {
      "/etc/os-release":
        'NAME="Rocky Linux"\nVERSION="9.3 (Blue Onyx)"\nID="rocky"\nID_LIKE="rhel centos fedora"\nVERSION_ID="9.3"\nPLATFORM_ID="platform:el9"\nPRETTY_NAME="Rocky Linux 9.3 (Blue Onyx)"\nANSI_COLOR="0;32"\nLOGO="fedora-logo-icon"\nCPE_NAME="cpe:/o:rocky:rocky:9::baseos"\nHOME_URL="https://rockylinux.org/"\nBUG_REPORT_URL="https://bugs.rockylinux.org/"\nSUPPORT_END="2032-05-31"\nROCKY_SUPPORT_PRODUCT="Rocky-Linux-9"\nROCKY_SUPPORT_PRODUCT_VERSION="9.3"\nREDHAT_SUPPORT_PRODUCT="Rocky Linux"\nREDHAT_SUPPORT_PRODUCT_VERSION="9.3"\n',
      "/etc/redhat-release": "Rocky Linux release 9.3 (Blue Onyx)\n",
    },
    expect: { family: "rhel", id: "rocky", version: "9.3", from: "/etc/os-release" },
  },
  {
    name: "AlmaLinux 9.4",
    profile: "rhel",
    files: {
      "/etc/os-release":
        'NAME="AlmaLinux"\nVERSION="9.4 (Seafoam Ocelot)"\nID="almalinux"\nID_LIKE="rhel centos fedora"\nVERSION_ID="9.4"\nPLATFORM_ID="platform:el9"\nPRETTY_NAME="AlmaLinux 9.4 (Seafoam Ocelot)"\nANSI_COLOR="0;34"\nLOGO="fedora-logo-icon"\nCPE_NAME="cpe:/o:almalinux:almalinux:9::baseos"\nHOME_URL="https://almalinux.org/"\nDOCUMENTATION_URL="https://wiki.almalinux.org/"\nBUG_REPORT_URL="https://bugs.almalinux.org/"\n\nALMALINUX_MANTISBT_PROJECT="AlmaLinux-9"\nALMALINUX_MANTISBT_PROJECT_VERSION="9.4"\nREDHAT_SUPPORT_PRODUCT="AlmaLinux"\nREDHAT_SUPPORT_PRODUCT_VERSION="9.4"\n',
      "/etc/redhat-release": "AlmaLinux release 9.4 (Seafoam Ocelot)\n",
    },
    expect: { family: "rhel", id: "almalinux", version: "9.4", from: "/etc/os-release" },
  },
  {
    name: "Oracle Linux 8.9",
    profile: "rhel",
    files: {
      "/etc/os-release":
        'NAME="Oracle Linux Server"\nVERSION="8.9"\nID="ol"\nID_LIKE="fedora"\nVARIANT="Server"\nVARIANT_ID="server"\nVERSION_ID="8.9"\nPLATFORM_ID="platform:el8"\nPRETTY_NAME="Oracle Linux Server 8.9"\nANSI_COLOR="0;31"\nCPE_NAME="cpe:/o:oracle:linux:8:9:server"\nHOME_URL="https://linux.oracle.com/"\nBUG_REPORT_URL="https://github.com/oracle/oracle-linux"\n\nORACLE_BUGZILLA_PRODUCT="Oracle Linux 8"\nORACLE_BUGZILLA_PRODUCT_VERSION=8.9\nORACLE_SUPPORT_PRODUCT="Oracle Linux"\nORACLE_SUPPORT_PRODUCT_VERSION=8.9\n',
      "/etc/redhat-release": "Red Hat Enterprise Linux release 8.9 (Ootpa)\n",
      "/etc/oracle-release": "Oracle Linux Server release 8.9\n",
    },
    expect: { family: "rhel", id: "ol", version: "8.9", from: "/etc/os-release" },
  },
  {
    name: "Fedora 40 Server",
    profile: "rhel",
    files: {
      "/usr/lib/os-release":
        'NAME="Fedora Linux"\nVERSION="40 (Server Edition)"\nID=fedora\nVERSION_ID=40\nVERSION_CODENAME=""\nPLATFORM_ID="platform:f40"\nPRETTY_NAME="Fedora Linux 40 (Server Edition)"\nANSI_COLOR="0;38;2;60;110;180"\nLOGO=fedora-logo-icon\nCPE_NAME="cpe:/o:fedoraproject:fedora:40"\nHOME_URL="https://fedoraproject.org/"\nDOCUMENTATION_URL="https://docs.fedoraproject.org/en-US/fedora/f40/system-administrators-guide/"\nSUPPORT_URL="https://ask.fedoraproject.org/"\nBUG_REPORT_URL="https://bugzilla.redhat.com/"\nREDHAT_BUGZILLA_PRODUCT="Fedora"\nREDHAT_BUGZILLA_PRODUCT_VERSION=40\nREDHAT_SUPPORT_PRODUCT="Fedora"\nREDHAT_SUPPORT_PRODUCT_VERSION=40\nSUPPORT_END=2025-05-13\nVARIANT="Server Edition"\nVARIANT_ID=server\n',
      "/etc/redhat-release": "Fedora release 40 (Forty)\n",
    },
    links: OS_RELEASE_LINK,
    expect: { family: "rhel", id: "fedora", version: "40", from: "/etc/os-release" },
  },
  ...(
    [
      ["10", "buster", "10.13"],
      ["11", "bullseye", "11.11"],
      ["12", "bookworm", "12.7"],
    ] as const
  ).map(
    ([v, code, point]): Sample => ({
      name: `Debian ${v} (${code})`,
      profile: "debian",
      files: {
        [v === "10" ? "/etc/os-release" : "/usr/lib/os-release"]: `PRETTY_NAME="Debian GNU/Linux ${v} (${code})"\nNAME="Debian GNU/Linux"\nVERSION_ID="${v}"\nVERSION="${v} (${code})"\nVERSION_CODENAME=${code}\nID=debian\nHOME_URL="https://www.debian.org/"\nSUPPORT_URL="https://www.debian.org/support"\nBUG_REPORT_URL="https://bugs.debian.org/"\n`,
        "/etc/debian_version": `${point}\n`,
      },
      ...(v === "10" ? {} : { links: OS_RELEASE_LINK }),
      expect: { family: "debian", id: "debian", version: v, from: "/etc/os-release" },
    }),
  ),
  {
    name: "Debian 13 (trixie)",
    profile: "debian",
    files: {
      "/usr/lib/os-release":
        'PRETTY_NAME="Debian GNU/Linux 13 (trixie)"\nNAME="Debian GNU/Linux"\nVERSION_ID="13"\nVERSION="13 (trixie)"\nVERSION_CODENAME=trixie\nDEBIAN_VERSION_FULL=13.1\nID=debian\nHOME_URL="https://www.debian.org/"\nSUPPORT_URL="https://www.debian.org/support"\nBUG_REPORT_URL="https://bugs.debian.org/"\n',
      "/etc/debian_version": "13.1\n",
    },
    links: OS_RELEASE_LINK,
    expect: { family: "debian", id: "debian", version: "13", from: "/etc/os-release" },
  },
  {
    name: "Debian 6 (squeeze; no os-release)",
    profile: "debian",
    files: { "/etc/debian_version": "6.0.10\n" },
    expect: { family: "debian", id: "debian", version: "6.0.10", from: "/etc/debian_version" },
  },
  ...(
    [
      ["16.04", "16.04.7 LTS", "Xenial Xerus", "xenial", "stretch/sid", "http://www.ubuntu.com/"],
      ["18.04", "18.04.6 LTS", "Bionic Beaver", "bionic", "buster/sid", "https://www.ubuntu.com/"],
      ["20.04", "20.04.6 LTS", "Focal Fossa", "focal", "bullseye/sid", "https://www.ubuntu.com/"],
    ] as const
  ).map(
    ([v, full, title, code, debv, home]): Sample => ({
      name: `Ubuntu ${full}`,
      profile: "ubuntu",
      files: {
        "/usr/lib/os-release": `NAME="Ubuntu"\nVERSION="${full} (${title})"\nID=ubuntu\nID_LIKE=debian\nPRETTY_NAME="Ubuntu ${full}"\nVERSION_ID="${v}"\nHOME_URL="${home}"\nSUPPORT_URL="${home.replace("www", "help")}"\nBUG_REPORT_URL="${home.startsWith("https") ? "https" : "http"}://bugs.launchpad.net/ubuntu/"\n${v === "16.04" ? "" : 'PRIVACY_POLICY_URL="https://www.ubuntu.com/legal/terms-and-policies/privacy-policy"\n'}VERSION_CODENAME=${code}\nUBUNTU_CODENAME=${code}\n`,
        "/etc/lsb-release": `DISTRIB_ID=Ubuntu\nDISTRIB_RELEASE=${v}\nDISTRIB_CODENAME=${code}\nDISTRIB_DESCRIPTION="Ubuntu ${full}"\n`,
        "/etc/debian_version": `${debv}\n`,
      },
      links: OS_RELEASE_LINK,
      expect: { family: "debian", id: "ubuntu", version: v, from: "/etc/os-release" },
    }),
  ),
  ...(
    [
      ["22.04", "22.04.4 LTS", "Jammy Jellyfish", "jammy", "bookworm/sid", ""],
      ["24.04", "24.04.1 LTS", "Noble Numbat", "noble", "trixie/sid", "LOGO=ubuntu-logo\n"],
    ] as const
  ).map(
    ([v, full, title, code, debv, logo]): Sample => ({
      name: `Ubuntu ${full}`,
      profile: "ubuntu",
      files: {
        "/usr/lib/os-release": `PRETTY_NAME="Ubuntu ${full}"\nNAME="Ubuntu"\nVERSION_ID="${v}"\nVERSION="${full} (${title})"\nVERSION_CODENAME=${code}\nID=ubuntu\nID_LIKE=debian\nHOME_URL="https://www.ubuntu.com/"\nSUPPORT_URL="https://help.ubuntu.com/"\nBUG_REPORT_URL="https://bugs.launchpad.net/ubuntu/"\nPRIVACY_POLICY_URL="https://www.ubuntu.com/legal/terms-and-policies/privacy-policy"\nUBUNTU_CODENAME=${code}\n${logo}`,
        "/etc/lsb-release": `DISTRIB_ID=Ubuntu\nDISTRIB_RELEASE=${v}\nDISTRIB_CODENAME=${code}\nDISTRIB_DESCRIPTION="Ubuntu ${full}"\n`,
        "/etc/debian_version": `${debv}\n`,
      },
      links: OS_RELEASE_LINK,
      expect: { family: "debian", id: "ubuntu", version: v, from: "/etc/os-release" },
    }),
  ),
  {
    name: "Ubuntu 12.04 without os-release (lsb-release before debian_version)",
    profile: "ubuntu",
    files: {
      "/etc/lsb-release": 'DISTRIB_ID=Ubuntu\nDISTRIB_RELEASE=12.04\nDISTRIB_CODENAME=precise\nDISTRIB_DESCRIPTION="Ubuntu 12.04.5 LTS"\n',
      "/etc/debian_version": "wheezy/sid\n",
    },
    expect: { family: "debian", id: "ubuntu", version: "12.04", from: "/etc/lsb-release" },
  },
  {
    name: "Linux Mint 21.3",
    profile: "ubuntu",
    files: {
      "/etc/os-release":
        'NAME="Linux Mint"\nVERSION="21.3 (Virginia)"\nID=linuxmint\nID_LIKE="ubuntu debian"\nPRETTY_NAME="Linux Mint 21.3"\nVERSION_ID="21.3"\nHOME_URL="https://www.linuxmint.com/"\nSUPPORT_URL="https://forums.linuxmint.com/"\nBUG_REPORT_URL="http://linuxmint-troubleshooting-guide.readthedocs.io/en/latest/"\nPRIVACY_POLICY_URL="https://www.linuxmint.com/"\nVERSION_CODENAME=virginia\nUBUNTU_CODENAME=jammy\n',
      "/etc/lsb-release": 'DISTRIB_ID=LinuxMint\nDISTRIB_RELEASE=21.3\nDISTRIB_CODENAME=virginia\nDISTRIB_DESCRIPTION="Linux Mint 21.3 Virginia"\n',
      "/etc/debian_version": "bookworm/sid\n",
    },
    expect: { family: "debian", id: "linuxmint", version: "21.3", from: "/etc/os-release" },
  },
  {
    name: "SLES 11 SP4 (no os-release)",
    profile: "suse",
    files: { "/etc/SuSE-release": "SUSE Linux Enterprise Server 11 (x86_64)\nVERSION = 11\nPATCHLEVEL = 4\n" },
    expect: { family: "suse", id: "sles", version: "11.4", from: "/etc/SuSE-release" },
  },
  {
    name: "SLES 12 SP5",
    profile: "suse",
    files: {
      "/etc/os-release": 'NAME="SLES"\nVERSION="12-SP5"\nVERSION_ID="12.5"\nPRETTY_NAME="SUSE Linux Enterprise Server 12 SP5"\nID="sles"\nANSI_COLOR="0;32"\nCPE_NAME="cpe:/o:suse:sles:12:sp5"\n',
      "/etc/SuSE-release":
        "SUSE Linux Enterprise Server 12 (x86_64)\nVERSION = 12\nPATCHLEVEL = 5\n# This file is deprecated and will be removed in a future service pack or release.\n# Please check /etc/os-release for details about this release.\n",
    },
    expect: { family: "suse", id: "sles", version: "12.5", from: "/etc/os-release" },
  },
  {
    name: "SLES 15 SP5",
    profile: "suse",
    files: {
      "/usr/lib/os-release":
        'NAME="SLES"\nVERSION="15-SP5"\nVERSION_ID="15.5"\nPRETTY_NAME="SUSE Linux Enterprise Server 15 SP5"\nID="sles"\nID_LIKE="suse"\nANSI_COLOR="0;32"\nCPE_NAME="cpe:/o:suse:sles:15:sp5"\nDOCUMENTATION_URL="https://documentation.suse.com/"\n',
    },
    links: OS_RELEASE_LINK,
    expect: { family: "suse", id: "sles", version: "15.5", from: "/etc/os-release" },
  },
  {
    name: "openSUSE Leap 15.5",
    profile: "suse",
    files: {
      "/usr/lib/os-release":
        'NAME="openSUSE Leap"\nVERSION="15.5"\nID="opensuse-leap"\nID_LIKE="suse opensuse"\nVERSION_ID="15.5"\nPRETTY_NAME="openSUSE Leap 15.5"\nANSI_COLOR="0;32"\nCPE_NAME="cpe:/o:opensuse:leap:15.5"\nBUG_REPORT_URL="https://bugs.opensuse.org"\nHOME_URL="https://www.opensuse.org/"\nDOCUMENTATION_URL="https://en.opensuse.org/Portal:Leap"\nLOGO="distributor-logo-Leap"\n',
    },
    links: OS_RELEASE_LINK,
    expect: { family: "suse", id: "opensuse-leap", version: "15.5", from: "/etc/os-release" },
  },
  {
    name: "openSUSE 11.4 (no os-release)",
    profile: "suse",
    files: { "/etc/SuSE-release": "openSUSE 11.4 (x86_64)\nVERSION = 11.4\nCODENAME = Celadon\n" },
    expect: { family: "suse", id: "opensuse", version: "11.4", from: "/etc/SuSE-release" },
  },
  {
    name: "Arch Linux (no profile)",
    profile: "generic",
    files: {
      "/etc/os-release":
        'NAME="Arch Linux"\nPRETTY_NAME="Arch Linux"\nID=arch\nBUILD_ID=rolling\nANSI_COLOR="38;2;23;147;209"\nHOME_URL="https://archlinux.org/"\nDOCUMENTATION_URL="https://wiki.archlinux.org/"\nSUPPORT_URL="https://bbs.archlinux.org/"\nBUG_REPORT_URL="https://gitlab.archlinux.org/groups/archlinux/-/issues"\nPRIVACY_POLICY_URL="https://terms.archlinux.org/docs/privacy-policy/"\nLOGO=archlinux-logo\n',
    },
    expect: { family: "unknown", id: "arch", version: "", from: "/etc/os-release" },
  },
  {
    name: "no release file at all",
    profile: "generic",
    files: {},
    expect: { family: "unknown", id: "unknown", version: "", from: "" },
  },
];

export function samplesOf(profile: Sample["profile"]): Sample[] {
  return SAMPLES.filter((s) => s.profile === profile);
}

/** The TypeScript detector on a sample (symlinks followed, as a GuestView does). */
export async function detectSample(s: Sample) {
  const resolve = (p: string): string => {
    const l = s.links?.[p];
    return l === undefined ? p : resolve(join(dirname(p), l));
  };
  return osFromReleaseFiles(async (p) => s.files[resolve(p)]);
}

/** The sample as a directory tree, for the shell detector. */
export function writeSample(s: Sample): string {
  const root = mkdtempSync(join(tmpdir(), "osam-distro-"));
  mkdirSync(join(root, "etc"), { recursive: true });
  for (const [p, t] of Object.entries(s.files)) {
    mkdirSync(dirname(join(root, p)), { recursive: true });
    writeFileSync(join(root, p), t);
  }
  for (const [p, target] of Object.entries(s.links ?? {})) symlinkSync(target, join(root, p));
  return root;
}
