// Finds the network interfaces a guest configures, in every configuration system it may use,
// with the MAC each one is bound to where the configuration says so, and how interfaces are
// built on each other (bond and bridge members, VLAN parents). Each system reads its own
// files (systems/); this merges what they say per interface.
import type { GuestView } from "../guest/view.ts";
import { isPattern, normMac } from "./names.ts";
import { NET_SYSTEMS, type NetSystem } from "./systems/index.ts";
import { vlanParent, type IfaceFacts, type NetKind } from "./systems/system.ts";

export type { NetSystem } from "./systems/index.ts";
export type { NetKind } from "./systems/system.ts";

export interface NetConfigRef {
  system: NetSystem;
  file: string;
}

export interface NetInterfaceInfo {
  name: string;
  mac?: string;
  configs: NetConfigRef[];
  /** What the configuration makes of it, when it says (TYPE=Bond, bond-slaves, vlans: ...). */
  kind?: NetKind;
  /** The bond, bridge or team it is a member of. */
  master?: string;
  /** The interface a VLAN is built on. */
  parent?: string;
  /** `name` is a shell pattern (netplan match name, networkd Name=, NM match.interface-name) configuring every NIC it matches. */
  pattern?: boolean;
}

class Collector {
  readonly byName = new Map<string, NetInterfaceInfo>();
  add(name: string | undefined, system: NetSystem, file: string, facts: IfaceFacts = {}): void {
    if (!name || name === "lo" || name.includes("$")) return;
    const cur = this.byName.get(name) ?? { name, configs: [], ...(isPattern(name) ? { pattern: true } : {}) };
    const m = normMac(facts.mac);
    if (m && !cur.mac) cur.mac = m;
    if (facts.kind && (!cur.kind || cur.kind === "ethernet")) cur.kind = facts.kind;
    if (facts.master && !cur.master) cur.master = facts.master;
    if (facts.parent && !cur.parent) cur.parent = facts.parent;
    if (!cur.configs.some((c) => c.file === file && c.system === system)) cur.configs.push({ system, file });
    this.byName.set(name, cur);
  }
}

export async function inspectNetwork(view: GuestView): Promise<NetInterfaceInfo[]> {
  const c = new Collector();
  for (const s of NET_SYSTEMS) await s.inspect(view, (name, file, facts) => c.add(name, s.name, file, facts));
  for (const i of c.byName.values()) {
    if (!i.kind && i.parent === undefined && vlanParent(i.name) && c.byName.has(vlanParent(i.name)!)) {
      i.kind = "vlan";
      i.parent = vlanParent(i.name)!;
    }
  }
  return [...c.byName.values()].sort((a, b) => a.name.localeCompare(b.name));
}

/** True when cloud-init is installed and would render the network on the next boot. */
export async function hasCloudInit(view: GuestView): Promise<boolean> {
  for (const p of ["/usr/bin/cloud-init", "/usr/local/bin/cloud-init", "/etc/cloud/cloud.cfg"]) if (await view.exists(p)) return true;
  return false;
}
