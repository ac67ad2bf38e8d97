// Ubuntu and its derivatives (Linux Mint, Pop!_OS): Debian, plus what Ubuntu changes.
import { ShellVars } from "../formats/shell-vars.ts";
import { debian } from "./debian.ts";
import type { DistroProfile, ReleaseFacts, ReleaseFile } from "./types.ts";

const IDS = ["ubuntu", "linuxmint", "pop"] as const;

/** /etc/lsb-release: DISTRIB_ID, DISTRIB_RELEASE, DISTRIB_DESCRIPTION (Ubuntu and derivatives write it). */
export function parseLsbRelease(text: string): ReleaseFacts | undefined {
  const v = new ShellVars(text);
  const id = (v.get("DISTRIB_ID") ?? "").toLowerCase();
  if (!id) return undefined;
  return { id, version: v.get("DISTRIB_RELEASE") ?? "", name: v.get("DISTRIB_DESCRIPTION") ?? id };
}

const LSB_RELEASE: ReleaseFile = { path: "/etc/lsb-release", parse: parseLsbRelease };

export const ubuntu: DistroProfile = {
  ...debian,
  title: "Ubuntu, Linux Mint, Pop!_OS",
  ids: IDS,
  claims: (id) => (IDS as readonly string[]).includes(id),
  // lsb-release first: /etc/debian_version on Ubuntu names the Debian testing it forked from
  releaseFiles: [LSB_RELEASE, ...debian.releaseFiles],
  efiVendors: (id) => (id === "ubuntu" ? ["ubuntu"] : []),
  allEfiVendors: ["ubuntu"],
  // netplan since 17.10; 16.04 and servers upgraded from it keep ifupdown
  networkSystems: ["netplan", "networkd", "networkmanager", "ifupdown", "udev"],
};
