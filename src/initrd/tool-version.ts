// The version of the guest's initramfs tool, read from its files (the tool is never run: it
// would run in the fixup VM's chroot before anything is backed up), and the one place that
// says which command-line options each version has. RHEL 6 ships dracut 004, which has
// -H/--hostonly and --add-drivers but not --no-hostonly (added in dracut 018).
import type { GuestView } from "../guest/view.ts";
import type { InitrdTool } from "../distros/index.ts";

export interface ToolVersion {
  /** The upstream version ("004", "049", "0.140ubuntu13"), or undefined when no file says it. */
  version?: string;
  /** Where it was read. */
  from?: string;
}

const PACKAGE: Record<Exclude<InitrdTool, "none">, string> = { dracut: "dracut", "initramfs-tools": "initramfs-tools", mkinitrd: "mkinitrd" };

/** Version: of a package in dpkg's status file (text, so it can be read without dpkg). */
export function dpkgVersion(status: string, pkg: string): string | undefined {
  for (const stanza of status.split(/\n\s*\n/)) {
    if (!new RegExp(`^Package:\\s*${pkg.replace(/[.+]/g, "\\$&")}\\s*$`, "m").test(stanza)) continue;
    if (!/^Status:.*\binstalled\b/m.test(stanza)) continue;
    const v = /^Version:\s*(\S+)/m.exec(stanza)?.[1];
    // epoch and Debian revision are not the upstream version
    if (v) return v.replace(/^\d+:/, "").replace(/-[^-]*$/, "");
  }
  return undefined;
}

export async function toolVersion(view: GuestView, tool: InitrdTool): Promise<ToolVersion> {
  if (tool === "none") return {};
  if (tool === "dracut") {
    // written by dracut's Makefile: DRACUT_VERSION=049-95.git20200804.el8 (the basedir moved
    // from /usr/share/dracut to /usr/lib/dracut in 020)
    for (const p of ["/usr/lib/dracut/dracut-version.sh", "/usr/share/dracut/dracut-version.sh"]) {
      const m = /^\s*DRACUT_VERSION="?([0-9][^"\s-]*)/m.exec((await view.readText(p)) ?? "");
      if (m) return { version: m[1]!, from: p };
    }
  }
  const pkg = PACKAGE[tool];
  const status = await view.readText("/var/lib/dpkg/status");
  const deb = status === undefined ? undefined : dpkgVersion(status, pkg);
  if (deb) return { version: deb, from: "/var/lib/dpkg/status" };
  // RPM-based guests up to RHEL 6 and SLES 11 install each package's documents in
  // /usr/share/doc/<name>-<version>; the rpm database itself is not plain text
  for (const n of (await view.readdir("/usr/share/doc")).sort()) {
    const m = new RegExp(`^${pkg}-([0-9][\\w.]*)$`).exec(n);
    if (m) return { version: m[1]!, from: `/usr/share/doc/${n}` };
  }
  return {};
}

/** The leading number of a dracut version ("004", "049-95.el8" -> 4, 49). */
function dracutMajor(v: string): number | undefined {
  const m = /^0*(\d+)/.exec(v);
  return m ? Number(m[1]) : undefined;
}

/** dracut's first version with --no-hostonly. */
export const DRACUT_NO_HOSTONLY_SINCE = 18;

export interface DracutFlags {
  /** The option that makes a generic image, where this version has one. */
  generic?: string;
  /** The option that makes a host-only image. */
  hostonly: string;
  /** For the step's notes, where the version decided something or was not found. */
  note?: string;
}

/**
 * The options for this dracut. An unknown version gets those of dracut 018 and later (every
 * supported guest newer than RHEL 6); an older one builds generic images by default, so it
 * needs no option for that, only its configuration must not ask for host-only (plan.ts).
 */
export function dracutFlags(v: ToolVersion): DracutFlags {
  const major = v.version === undefined ? undefined : dracutMajor(v.version);
  if (major !== undefined && major < DRACUT_NO_HOSTONLY_SINCE) {
    return { hostonly: "--hostonly", note: `dracut ${v.version} (${v.from}) predates --no-hostonly (dracut ${String(DRACUT_NO_HOSTONLY_SINCE).padStart(3, "0")}): built without it` };
  }
  const unknown = "dracut's version is not written in the guest (no dracut-version.sh, no package record): built with the options of dracut 018 and later";
  return { generic: "--no-hostonly", hostonly: "--hostonly", ...(v.version === undefined ? { note: unknown } : {}) };
}
