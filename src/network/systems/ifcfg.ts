// RHEL-family ifcfg files (initscripts, and NetworkManager's ifcfg-rh plugin): one
// ifcfg-<name> per interface, route-/rule-<name> beside it, GATEWAYDEV in /etc/sysconfig/network.
import { posix } from "node:path";
import { ShellVars } from "../../formats/shell-vars.ts";
import type { GuestView } from "../../guest/view.ts";
import { renameInLabel, renameOne, renameWords } from "../names.ts";
import { newMac, nicByMac } from "../rewrite.ts";
import { BACKUP, ROUTE_BACKUP, editNonComment, filesIn, netSystem, rewriteFiles, vlanParent, whyIface, type FileRule, type NetKind } from "./system.ts";

export const IFCFG_DIR = "/etc/sysconfig/network-scripts";
const SYSCONFIG_NETWORK = "/etc/sysconfig/network";
const ROUTE_FILE = /^(route6?|rule6?)-(.+)$/;

/** ifcfg-* files of `dir` that configure an interface (not lo, not editor or package leftovers); wicked reads the same format. */
export function ifcfgFiles(view: GuestView, dir: string): Promise<string[]> {
  return filesIn(view, dir, (n) => n.startsWith("ifcfg-") && n !== "ifcfg-lo" && !BACKUP.test(n));
}

const interfaces: FileRule = {
  list: (view) => ifcfgFiles(view, IFCFG_DIR),
  edit(before, file, r) {
    const v = new ShellVars(before);
    const suffix = posix.basename(file).slice(6);
    const dev = v.get("DEVICE") ?? suffix;
    const nic = nicByMac(r, v.get("HWADDR"));
    const newDev = nic && !/[.:]/.test(dev) ? nic.newName : renameOne(dev, r.names);
    const names = new Map(r.names);
    if (newDev !== dev) names.set(dev, newDev);
    if (v.get("DEVICE") !== undefined) v.set("DEVICE", newDev);
    const name = v.get("NAME");
    if (name !== undefined) v.set("NAME", name === dev ? newDev : renameInLabel(name, names));
    for (const k of ["HWADDR", "MACADDR"]) {
      const m = v.get(k);
      if (m !== undefined) v.set(k, newMac(r, m));
    }
    for (const k of ["PHYSDEV", "PARENTDEV"]) {
      const p = v.get(k);
      if (p !== undefined) v.set(k, renameOne(p, names));
    }
    // and link-local addresses reached through an interface (DNS1=fe80::1%ens3)
    for (const k of ["BONDING_OPTS", "TEAM_CONFIG", "TEAM_PORT_CONFIG", "ETHTOOL_OPTS", "DNS1", "DNS2", "DNS3", "IPV6_DEFAULTGW", "IPV6_DEFAULTDEV"]) {
      const o = v.get(k);
      if (o !== undefined) v.set(k, renameWords(o, names));
    }
    const newSuffix = suffix === dev ? newDev : renameInLabel(suffix, names);
    return { to: posix.join(IFCFG_DIR, `ifcfg-${newSuffix}`), after: v.toString(), why: whyIface(dev, newDev, v.get("HWADDR") !== undefined || v.get("MACADDR") !== undefined) };
  },
};

const routes: FileRule = {
  list: (view) => filesIn(view, IFCFG_DIR, (n) => ROUTE_FILE.test(n) && !ROUTE_BACKUP.test(n)),
  edit(before, file, r) {
    const m = ROUTE_FILE.exec(posix.basename(file))!;
    const dev = m[2]!;
    return {
      to: posix.join(IFCFG_DIR, `${m[1]}-${renameOne(dev, r.names)}`),
      after: editNonComment(before, (l) => renameWords(l, r.names)),
      why: `${m[1]!.startsWith("rule") ? "policy rules" : "static routes"} of ${dev} follow it to ${renameOne(dev, r.names)}`,
    };
  },
};

const gatewayDev: FileRule = {
  list: async (view) => ((await view.kind(SYSCONFIG_NETWORK)) === "file" ? [SYSCONFIG_NETWORK] : []),
  edit(before, _file, r) {
    const v = new ShellVars(before);
    const g = v.get("GATEWAYDEV");
    if (g === undefined || renameOne(g, r.names) === g) return undefined;
    v.set("GATEWAYDEV", renameOne(g, r.names));
    return { after: v.toString(), why: `default gateway device ${g} becomes ${renameOne(g, r.names)}` };
  },
};

function kindOf(v: ShellVars): NetKind | undefined {
  // initscripts' teams say DEVICETYPE=Team (ports: DEVICETYPE=TeamPort), NetworkManager's TYPE=Team
  const type = (v.get("TYPE") ?? v.get("DEVICETYPE") ?? "").toLowerCase();
  if (v.get("VLAN") === "yes" || type === "vlan") return "vlan";
  if (type === "bond" || v.get("BONDING_OPTS") !== undefined || v.get("BONDING_MASTER") === "yes") return "bond";
  if (type === "bridge") return "bridge";
  if (type.startsWith("team") && type !== "teamport") return "team";
  return type === "ethernet" || v.get("HWADDR") ? "ethernet" : undefined;
}

export const ifcfg = netSystem({
  name: "ifcfg",
  files: [`${IFCFG_DIR}/ifcfg-*`, `${IFCFG_DIR}/route-*`, `${IFCFG_DIR}/route6-*`, `${IFCFG_DIR}/rule-*`, `${IFCFG_DIR}/rule6-*`, SYSCONFIG_NETWORK],

  async inspect(view, add) {
    for (const file of await ifcfgFiles(view, IFCFG_DIR)) {
      const t = await view.readText(file);
      if (t === undefined) continue;
      const v = new ShellVars(t);
      const name = v.get("DEVICE") ?? posix.basename(file).slice(6);
      const kind = kindOf(v);
      const parent = kind === "vlan" ? (v.get("PHYSDEV") ?? vlanParent(name)) : undefined;
      const master = v.get("MASTER") ?? v.get("BRIDGE") ?? v.get("TEAM_MASTER");
      add(name, file, { mac: v.get("HWADDR") ?? v.get("MACADDR"), ...(kind ? { kind } : {}), ...(master ? { master } : {}), ...(parent ? { parent } : {}) });
    }
  },

  rewrite: rewriteFiles(interfaces, routes, gatewayDev),
});
