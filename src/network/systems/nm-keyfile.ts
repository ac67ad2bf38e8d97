// NetworkManager keyfiles: one connection per file in system-connections, bound to an
// interface by interface-name or to a NIC by mac-address.
import { posix } from "node:path";
import { Keyfile } from "../../formats/keyfile.ts";
import { namesToAdd, normMac, renameInLabel, renameOne, renameWords } from "../names.ts";
import { newMac, nicByMac } from "../rewrite.ts";
import { BACKUP, filesIn, netSystem, rewriteFiles, type FileRule, type NetKind } from "./system.ts";

export const NM_DIR = "/etc/NetworkManager/system-connections";

const KINDS: Record<string, NetKind> = { ethernet: "ethernet", "802-3-ethernet": "ethernet", bond: "bond", bridge: "bridge", vlan: "vlan", team: "team" };

/** match.interface-name (a ';' or ',' list of names and patterns) with the new names that its patterns matched before. */
function widenList(renamed: string, before: string, names: ReadonlyMap<string, string>): string {
  const sep = before.includes(",") && !before.includes(";") ? "," : ";";
  const add = namesToAdd(matchList(before), names);
  if (!add.length) return renamed;
  const trail = renamed.endsWith(sep) ? sep : "";
  return `${trail ? renamed.slice(0, -1) : renamed}${renamed ? sep : ""}${add.join(sep)}${trail}`;
}

function matchList(v: string | undefined): string[] {
  return (v ?? "").split(/[;,]/).map((x) => x.trim()).filter(Boolean);
}

const connections: FileRule = {
  list: (view) => filesIn(view, NM_DIR, (n) => !BACKUP.test(n) && !n.startsWith(".")),
  edit(before, file, r) {
    const k = new Keyfile(before);
    const iface = k.get("connection", "interface-name");
    const ethSection = k.sections().includes("802-3-ethernet") ? "802-3-ethernet" : "ethernet";
    const mac = k.get(ethSection, "mac-address");
    const nic = nicByMac(r, mac);
    const names = new Map(r.names);
    if (nic?.sourceName !== undefined && iface === undefined && nic.sourceName !== nic.newName) names.set(nic.sourceName, nic.newName);
    if (iface !== undefined) k.set("connection", "interface-name", nic && !/[.:]/.test(iface) ? nic.newName : renameOne(iface, names));
    if (iface !== undefined && nic && iface !== nic.newName) names.set(iface, nic.newName);
    if (mac !== undefined) k.set(ethSection, "mac-address", newMac(r, mac));
    const parent = k.get("vlan", "parent");
    if (parent !== undefined) k.set("vlan", "parent", renameOne(parent, names));
    const primary = k.get("bond", "primary");
    if (primary !== undefined) k.set("bond", "primary", renameOne(primary, names));
    const mi = k.get("match", "interface-name");
    if (mi !== undefined) k.set("match", "interface-name", widenList(renameWords(mi, names), mi, names));
    const id = k.get("connection", "id");
    let newId = id;
    if (id !== undefined) {
      newId = renameInLabel(id, names);
      k.set("connection", "id", newId);
    }
    const base = posix.basename(file);
    const ext = /\.nmconnection$/.test(base) ? ".nmconnection" : "";
    const stem = base.slice(0, base.length - ext.length);
    const newStem = id !== undefined && stem === id ? newId! : renameInLabel(stem, names);
    return {
      to: posix.join(posix.dirname(file), newStem + ext),
      after: k.toString(),
      why: `connection ${id ?? base}${iface ? ` (${iface})` : ""} follows ${iface ?? nic?.sourceName ?? "its NIC"} to ${k.get("connection", "interface-name") ?? nic?.newName}`,
    };
  },
};

export const nmKeyfile = netSystem({
  name: "networkmanager",
  files: [`${NM_DIR}/*`],

  async inspect(view, add) {
    for (const file of await connections.list(view)) {
      const t = await view.readText(file);
      if (t === undefined) continue;
      const k = new Keyfile(t);
      const type = k.get("connection", "type") ?? "";
      const mac = k.get("ethernet", "mac-address") ?? k.get("802-3-ethernet", "mac-address");
      const name = k.get("connection", "interface-name") ?? (type === "vlan" ? undefined : mac ? k.get("connection", "id") : undefined);
      const kind = Object.hasOwn(KINDS, type) ? KINDS[type] : undefined;
      const parent = k.get("vlan", "parent");
      const vlanName = type === "vlan" ? (name ?? (parent && k.get("vlan", "id") ? `${parent}.${k.get("vlan", "id")}` : undefined)) : undefined;
      const master = k.get("connection", "master");
      // match.interface-name=ens* binds the profile to every NIC the pattern matches
      for (const p of matchList(k.get("match", "interface-name"))) if (!p.startsWith("!") && !p.startsWith("~")) add(p, file);
      add(vlanName ?? name, file, { ...(mac ? { mac } : {}), ...(kind ? { kind } : {}), ...(master ? { master } : {}), ...(parent ? { parent } : {}) });
      if (parent && !normMac(parent)) add(parent, file);
    }
  },

  rewrite: rewriteFiles(connections),
});
