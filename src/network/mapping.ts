// Which source interface each entry of network-interface-map.json is: by MAC first (in the
// guest's configuration and udev rules, then in system-configuration's source.interfaces),
// then by the name the map gives. Also what the guest configures that the map leaves out.
import type { Inputs } from "../protocol/inputs.ts";
import type { NetInterfaceInfo } from "./inspect.ts";
import { globMatches } from "./names.ts";

export interface NicPlan {
  index: number;
  sourceMac: string;
  targetMac: string;
  targetName: string;
  /** The guest's name for the NIC, when found. */
  sourceName?: string;
  foundBy: "mac" | "inventory" | "name" | "none";
  /** The guest has configuration for it (beyond a udev naming rule). */
  configured: boolean;
  /** The name the NIC will have: targetName, or its source name when options.renameNics is false. */
  newName: string;
}

export interface Resolution {
  nics: NicPlan[];
  /** Contradictions between the map and the guest: the run must stop before any change. */
  errors: string[];
  warnings: string[];
}

/** A NIC of its own in the guest's configuration: not a bond, bridge, VLAN, alias or name pattern. */
export const PHYSICAL = (i: NetInterfaceInfo) => !i.pattern && (i.kind === undefined || i.kind === "ethernet") && i.parent === undefined && !/[.:]/.test(i.name);
const CONFIGURED = (i: NetInterfaceInfo | undefined) => Boolean(i?.configs.some((c) => c.system !== "udev"));
type SourceIface = NonNullable<Inputs["system"]["source"]["interfaces"]>[number];

/**
 * Whether a source interface is a NIC of its own: the inventory's kind when collect recorded
 * it, else what the guest's configuration makes of the name (a bridge, bond, team or VLAN
 * carries its port's MAC and is listed before it).
 */
export function physicalSource(i: SourceIface, byName: ReadonlyMap<string, NetInterfaceInfo>): boolean {
  if (i.kind !== undefined) return i.kind === "physical";
  const g = byName.get(i.name);
  return g === undefined ? !/[.:]/.test(i.name) : PHYSICAL(g);
}

/** The interfaces built on a virtual one (its ports, or a VLAN's parent), for messages. */
function portsOf(name: string, ifaces: NetInterfaceInfo[]): string[] {
  const own = ifaces.find((i) => i.name === name);
  return [...new Set([...ifaces.filter((i) => i.master === name).map((i) => i.name), ...(own?.parent ? [own.parent] : [])])];
}

/** The patterns of the guest's configuration that match an interface name. */
export function patternsFor(name: string, ifaces: NetInterfaceInfo[]): NetInterfaceInfo[] {
  return ifaces.filter((i) => i.pattern && globMatches(i.name, name));
}

export function renameNicsEnabled(inputs: Pick<Inputs, "system">): boolean {
  return inputs.system.options?.renameNics ?? true;
}

export function resolveNics(ifaces: NetInterfaceInfo[], inputs: Pick<Inputs, "network" | "system">): Resolution {
  const errors: string[] = [];
  const warnings: string[] = [];
  const byName = new Map(ifaces.map((i) => [i.name, i]));
  const inventory = inputs.system.source.interfaces ?? [];
  const rename = renameNicsEnabled(inputs);
  const nics: NicPlan[] = [];
  const where = (i: number) => `network-interface-map.json interfaces[${i}]`;

  const seenMac = new Map<string, number>();
  inputs.network.interfaces.forEach((m, index) => {
    const prev = seenMac.get(m.sourceMac);
    if (prev !== undefined) errors.push(`${where(index)}: source MAC ${m.sourceMac} is already mapped by interfaces[${prev}]`);
    seenMac.set(m.sourceMac, index);

    let sourceName: string | undefined;
    let foundBy: NicPlan["foundBy"] = "none";
    const withMac = ifaces.filter((i) => i.mac === m.sourceMac);
    // a bridge or bond often carries its port's MAC (hwaddress, MACADDR): the NIC is the port
    const pick = withMac.filter(PHYSICAL);
    const named = pick.find((i) => i.name === m.sourceName) ?? pick.find((i) => CONFIGURED(i)) ?? pick[0];
    // a NIC's own MAC first (a bond member carries its bond's), then the one it had
    const inv =
      inventory.find((i) => i.permanentMac === m.sourceMac && physicalSource(i, byName)) ??
      inventory.find((i) => i.mac === m.sourceMac && (i.permanentMac === undefined || i.permanentMac === i.mac) && physicalSource(i, byName));
    const virtual = withMac.filter((i) => !PHYSICAL(i) && !i.pattern);
    const named0 = m.sourceName !== undefined ? byName.get(m.sourceName) : undefined;
    const invNamed = m.sourceName !== undefined ? inventory.find((i) => i.name === m.sourceName) : undefined;
    const virtualName = m.sourceName !== undefined && ((invNamed !== undefined && !physicalSource(invNamed, byName)) || (named0 !== undefined && !named0.pattern && !PHYSICAL(named0)));
    const invVirtual = inventory.filter((i) => i.mac === m.sourceMac && !physicalSource(i, byName));
    const onlyPort = (): string | undefined => {
      if (pick.length || inv || (m.sourceName && CONFIGURED(byName.get(m.sourceName)))) return undefined;
      const ports = ifaces.filter((i) => virtual.some((v) => i.master === v.name) && PHYSICAL(i));
      return ports.length === 1 ? ports[0]!.name : undefined;
    };
    const port = onlyPort();
    if (virtualName || (!pick.length && !inv && port === undefined && (invVirtual.length || virtual.length) && !(m.sourceName && CONFIGURED(named0)))) {
      const v = virtualName ? m.sourceName! : (invVirtual[0]?.name ?? virtual[0]!.name);
      const kind = (virtualName ? (invNamed?.kind ?? named0?.kind) : (invVirtual[0]?.kind ?? byName.get(v)?.kind)) ?? "virtual";
      const ports = portsOf(v, ifaces);
      errors.push(`${where(index)}: ${virtualName ? `sourceName ${v}` : `source MAC ${m.sourceMac}`} names ${v}, a ${kind === "ethernet" ? "virtual" : kind} device, not a NIC; only physical NICs are mapped (${ports.length ? `its ports: ${ports.join(", ")}; map each by its own MAC` : "map the NICs it is built on by their own MACs"}), and ${v} follows them`);
      nics.push({ index, sourceMac: m.sourceMac, targetMac: m.targetMac, targetName: m.targetName, foundBy: "none", configured: false, newName: m.targetName });
      return;
    }
    if (named) {
      sourceName = named.name;
      foundBy = "mac";
      const others = [...new Set(pick.map((i) => i.name))].filter((n) => n !== sourceName);
      if (others.length) warnings.push(`${where(index)}: MAC ${m.sourceMac} is configured for ${[sourceName, ...others].join(" and ")}; using ${sourceName}`);
    } else if (port !== undefined) {
      sourceName = port;
      foundBy = "mac";
    } else {
      if (inv) {
        sourceName = inv.name;
        foundBy = "inventory";
      } else if (m.sourceName && CONFIGURED(byName.get(m.sourceName))) {
        sourceName = m.sourceName;
        foundBy = "name";
      }
    }
    if (foundBy === "none") {
      errors.push(
        `${where(index)}: source MAC ${m.sourceMac}${m.sourceName ? ` (${m.sourceName})` : ""} was never used by the guest: it is not in the guest's network configuration or udev rules, not in system-configuration.json source.interfaces, and no interface of that name is configured`,
      );
    } else if (m.sourceName && sourceName !== m.sourceName) {
      warnings.push(`${where(index)}: sourceName ${m.sourceName} differs from ${sourceName}, the interface the guest binds to ${m.sourceMac}; using ${sourceName}`);
    }
    // a pattern (ens*, Name=en*) configures the NIC as surely as its own name does
    const configured = sourceName !== undefined && (CONFIGURED(byName.get(sourceName)) || patternsFor(sourceName, ifaces).length > 0);
    nics.push({ index, sourceMac: m.sourceMac, targetMac: m.targetMac, targetName: m.targetName, ...(sourceName !== undefined ? { sourceName } : {}), foundBy, configured, newName: rename ? m.targetName : (sourceName ?? m.targetName) });
  });

  const bySource = new Map<string, number>();
  for (const n of nics) {
    if (n.sourceName === undefined) continue;
    const prev = bySource.get(n.sourceName);
    if (prev !== undefined) errors.push(`${where(n.index)}: resolves to interface ${n.sourceName}, as does interfaces[${prev}]`);
    bySource.set(n.sourceName, n.index);
  }

  const sources = new Set(nics.map((n) => n.sourceName).filter((s): s is string => s !== undefined));
  if (rename) {
    for (const n of nics) {
      const holder = byName.get(n.newName);
      // renaming onto a name the guest configures for an interface outside the map would
      // overwrite that configuration and hand it to the wrong NIC
      if (holder && CONFIGURED(holder) && !sources.has(holder.name) && PHYSICAL(holder)) {
        errors.push(`${where(n.index)}: target name ${n.newName} is configured in the guest for an interface that is not in the map (${holder.configs.map((c) => c.file).join(", ")})`);
      }
    }
  }
  for (const n of nics) {
    if (n.foundBy !== "none" && !n.configured) warnings.push(`${n.newName} (${n.targetMac}): source interface ${n.sourceName ?? n.sourceMac} has no configuration in the guest; the NIC is named but not configured`);
  }
  for (const i of ifaces) {
    if (!CONFIGURED(i) || !PHYSICAL(i) || sources.has(i.name)) continue;
    if (nics.some((n) => n.newName === i.name && n.sourceName === i.name)) continue;
    warnings.push(`${i.name} is configured in the guest (${i.configs.filter((c) => c.system !== "udev").map((c) => c.file).join(", ")}) but not in network-interface-map.json; left as it is`);
  }
  return { nics, errors, warnings };
}

/** One line per NIC, for the step's log and `osam-fixup inspect --inputs`. */
export function describeNic(n: NicPlan): string {
  const how = { mac: "found by MAC", inventory: "named by source.interfaces", name: "found by name", none: "not found" }[n.foundBy];
  return `${n.sourceName ?? "?"} (${n.sourceMac}) -> ${n.newName} (${n.targetMac}), ${how}${n.configured ? "" : ", no configuration"}`;
}
