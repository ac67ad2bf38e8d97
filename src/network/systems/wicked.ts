// SUSE wicked and sysconfig: ifcfg-<name> (the name is only in the file name), ifroute-<name>
// and the shared routes file in /etc/sysconfig/network.
import { posix } from "node:path";
import { ShellVars } from "../../formats/shell-vars.ts";
import type { GuestView } from "../../guest/view.ts";
import { renameOne, renameWords } from "../names.ts";
import { newMac } from "../rewrite.ts";
import { ifcfgFiles } from "./ifcfg.ts";
import { ROUTE_BACKUP, editNonComment, filesIn, netSystem, rewriteFiles, vlanParent, whyIface, words, type FileRule, type NetKind } from "./system.ts";

export const WICKED_DIR = "/etc/sysconfig/network";
const BONDING_SLAVE = /^BONDING_SLAVE_?\d*$/;
const IFROUTE = /^ifroute-(.+)$/;

/** On other families /etc/sysconfig/network is a file, not this directory. */
async function inDir<T>(view: GuestView, list: () => Promise<T[]>): Promise<T[]> {
  return (await view.kind(WICKED_DIR)) === "dir" ? list() : [];
}

const interfaces: FileRule = {
  list: (view) => inDir(view, () => ifcfgFiles(view, WICKED_DIR)),
  edit(before, file, r) {
    const v = new ShellVars(before);
    const dev = posix.basename(file).slice(6);
    const newDev = renameOne(dev, r.names);
    const ll = v.get("LLADDR");
    if (ll !== undefined) v.set("LLADDR", newMac(r, ll));
    const eth = v.get("ETHERDEVICE");
    if (eth !== undefined) v.set("ETHERDEVICE", renameOne(eth, r.names));
    for (const k of v.keys()) {
      if (BONDING_SLAVE.test(k)) v.set(k, renameOne(v.get(k)!, r.names));
      if (k === "BRIDGE_PORTS" || k === "BONDING_MODULE_OPTS" || /^TEAM_PORT_DEVICE_\d+$/.test(k)) v.set(k, renameWords(v.get(k)!, r.names));
    }
    return { to: posix.join(WICKED_DIR, `ifcfg-${newDev}`), after: v.toString(), why: whyIface(dev, newDev, ll !== undefined) };
  },
};

const routes: FileRule = {
  list: (view) => inDir(view, () => filesIn(view, WICKED_DIR, (n) => n === "routes" || (IFROUTE.test(n) && !ROUTE_BACKUP.test(n)))),
  edit(before, file, r) {
    const m = IFROUTE.exec(posix.basename(file));
    return {
      to: m ? posix.join(WICKED_DIR, `ifroute-${renameOne(m[1]!, r.names)}`) : file,
      after: editNonComment(before, (l) => renameWords(l, r.names)),
      why: m ? `routes of ${m[1]} follow it to ${renameOne(m[1]!, r.names)}` : "routes name the renamed interfaces",
    };
  },
};

export const wicked = netSystem({
  name: "wicked",
  files: [`${WICKED_DIR}/ifcfg-*`, `${WICKED_DIR}/ifroute-*`, `${WICKED_DIR}/routes`],

  async inspect(view, add) {
    for (const file of await ifcfgFiles(view, WICKED_DIR)) {
      const t = await view.readText(file);
      if (t === undefined) continue;
      const v = new ShellVars(t);
      const name = posix.basename(file).slice(6);
      const kind: NetKind | undefined = v.get("BONDING_MASTER") === "yes" ? "bond" : v.get("BRIDGE") === "yes" ? "bridge" : v.get("ETHERDEVICE") || v.get("VLAN_ID") ? "vlan" : undefined;
      add(name, file, { mac: v.get("LLADDR"), ...(kind ? { kind } : {}), ...(kind === "vlan" ? { parent: v.get("ETHERDEVICE") ?? vlanParent(name) } : {}) });
      for (const k of v.keys()) {
        if (BONDING_SLAVE.test(k)) for (const s of words(v.get(k))) add(s, file, { master: name });
      }
      for (const s of words(v.get("BRIDGE_PORTS"))) add(s, file, { master: name });
    }
  },

  rewrite: rewriteFiles(interfaces, routes),
});
