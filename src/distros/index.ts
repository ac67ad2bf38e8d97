// The distribution profiles, and the one place that picks a guest's: by os-release ID, then
// by the ID_LIKE words in order, then the generic profile. Nothing outside src/distros names
// a distribution; steps read the picked profile from GuestInfo.profile.
import { ShellVars } from "../formats/shell-vars.ts";
import { debian } from "./debian.ts";
import { generic } from "./generic.ts";
import { rhel } from "./rhel.ts";
import { suse } from "./suse.ts";
import type { DistroProfile, OsInfo, ReleaseFacts, ReleaseFile, SysvLayout } from "./types.ts";
import { ubuntu } from "./ubuntu.ts";

export type { DistroProfile, InitrdTool, OsFamily, OsInfo, SysvLayout } from "./types.ts";
export { generic };

/** Every profile but the generic one; their claims do not overlap. */
export const PROFILES: readonly DistroProfile[] = [rhel, suse, debian, ubuntu];

/** The profile of an os-release ID and ID_LIKE (space-separated), generic when none claims them. */
export function pickProfile(id: string, idLike = ""): DistroProfile {
  const ids = [id, ...idLike.split(/\s+/)].map((s) => s.toLowerCase()).filter(Boolean);
  for (const i of ids) {
    const p = PROFILES.find((x) => x.claims(i));
    if (p) return p;
  }
  return generic;
}

/** /etc/os-release (or /usr/lib/os-release, its home on systemd): every current distribution. */
export function parseOsRelease(text: string): ReleaseFacts {
  const v = new ShellVars(text);
  const id = (v.get("ID") ?? "linux").toLowerCase();
  return { id, idLike: v.get("ID_LIKE"), version: v.get("VERSION_ID") ?? "", name: v.get("PRETTY_NAME") ?? v.get("NAME") ?? id };
}

const OS_RELEASE: ReleaseFile[] = ["/etc/os-release", "/usr/lib/os-release"].map((path) => ({ path, parse: parseOsRelease }));

/**
 * The release files read, in order: os-release first, then the older files of each family.
 * Ubuntu's lsb-release comes before /etc/debian_version, which Ubuntu also carries.
 */
export const RELEASE_FILES: readonly ReleaseFile[] = [...OS_RELEASE, ...[rhel, suse, ubuntu, debian].flatMap((p) => p.releaseFiles)].filter((f, i, all) => all.findIndex((g) => g.path === f.path) === i);

export const UNKNOWN_OS: OsInfo = { family: "unknown", id: "unknown", version: "", name: "unknown", from: "" };

/** The OS a set of release files describes: the first file that says something wins. */
export async function osFromReleaseFiles(read: (path: string) => Promise<string | undefined>): Promise<{ os: OsInfo; profile: DistroProfile }> {
  for (const f of RELEASE_FILES) {
    const text = await read(f.path);
    if (text === undefined) continue;
    const r = f.parse(text);
    if (!r) continue;
    const profile = pickProfile(r.id, r.idLike);
    return { os: { family: profile.family, id: r.id, version: r.version, name: r.name, from: f.path }, profile };
  }
  return { os: { ...UNKNOWN_OS }, profile: generic };
}

/** The environment of every command run in a guest: each family's package tools kept quiet (one chroot runner serves all). */
export const PACKAGE_TOOLS_ENV: Readonly<Record<string, string>> = Object.fromEntries(PROFILES.flatMap((p) => Object.entries(p.packageEnv)));

/** Every EFI vendor directory any profile knows, in profile order. */
export const KNOWN_EFI_VENDORS: readonly string[] = [...new Set(PROFILES.flatMap((p) => p.allEfiVendors))];

/**
 * The SysV layouts by shape: flat (/etc/init.d, /etc/rcN.d), nested (/etc/init.d/rcN.d) and
 * rc.d (/etc/rc.d/init.d, /etc/rc.d/rcN.d). Which one a guest uses is read from its directories.
 */
export const SYSV_LAYOUTS: { readonly flat: SysvLayout; readonly nested: SysvLayout; readonly rcd: SysvLayout } = { flat: debian.sysv, nested: suse.sysv, rcd: rhel.sysv };
