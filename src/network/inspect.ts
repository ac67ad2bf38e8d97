// Finds the network interfaces a guest configures, in every configuration system it may use,
// with the MAC each one is bound to where the configuration says so, and how interfaces are
// built on each other (bond and bridge members, VLAN parents).
import { posix } from "node:path";
import { parseDocument } from "yaml";
import { ShellVars } from "../formats/shell-vars.ts";
import { InterfacesFile } from "../formats/interfaces.ts";
import { Keyfile } from "../formats/keyfile.ts";
import { UdevRulesFile, ruleMacName } from "../formats/udev-rules.ts";
import type { GuestView } from "../guest/view.ts";
import { normMac } from "./names.ts";

export type NetSystem = "ifcfg" | "wicked" | "networkmanager" | "ifupdown" | "netplan" | "networkd" | "udev";

export interface NetConfigRef {
  system: NetSystem;
  file: string;
}

export type NetKind = "ethernet" | "bond" | "bridge" | "vlan" | "team" | "other";

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
}

export const IFCFG_DIR = "/etc/sysconfig/network-scripts";
export const WICKED_DIR = "/etc/sysconfig/network";
export const NM_DIR = "/etc/NetworkManager/system-connections";
export const NETPLAN_DIRS = ["/etc/netplan", "/lib/netplan"];
export const UDEV_RULES_DIR = "/etc/udev/rules.d";
export const NETWORKD_DIR = "/etc/systemd/network";

const BACKUP = /\.(bak|orig|old|save|rpmsave|rpmnew|dpkg-old|dpkg-dist|dpkg-new)$|~$/;

/** ifcfg-* files that configure an interface (not lo, not editor or package leftovers). */
export async function ifcfgFiles(view: GuestView, dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const n of await view.readdir(dir)) {
    if (!n.startsWith("ifcfg-") || n === "ifcfg-lo" || BACKUP.test(n)) continue;
    if ((await view.kind(posix.join(dir, n))) === "file") out.push(posix.join(dir, n));
  }
  return out;
}

export async function keyfileFiles(view: GuestView): Promise<string[]> {
  const out: string[] = [];
  for (const n of await view.readdir(NM_DIR)) {
    if (BACKUP.test(n) || n.startsWith(".")) continue;
    const p = posix.join(NM_DIR, n);
    if ((await view.kind(p)) === "file") out.push(p);
  }
  return out;
}

export async function netplanFiles(view: GuestView): Promise<string[]> {
  const out: string[] = [];
  for (const dir of NETPLAN_DIRS) for (const n of await view.readdir(dir)) if (/\.ya?ml$/.test(n)) out.push(posix.join(dir, n));
  return out;
}

function globRe(pattern: string): RegExp {
  let re = "";
  for (const c of pattern) re += c === "*" ? "[^/]*" : c === "?" ? "[^/]" : /[A-Za-z0-9_-]/.test(c) ? c : `\\${c}`;
  return new RegExp(`^${re}$`);
}

/**
 * /etc/network/interfaces and every file it sources, in the order ifupdown reads them.
 * Relative paths are taken from the including file's directory; wildcards in the last
 * component only; source-directory takes the names run-parts would (letters, digits, _ -).
 */
export async function ifupdownFiles(view: GuestView): Promise<string[]> {
  const out: string[] = [];
  const seen = new Set<string>();
  const visit = async (file: string): Promise<void> => {
    if (seen.has(file) || seen.size > 256) return;
    seen.add(file);
    const t = await view.readText(file);
    if (t === undefined) return;
    out.push(file);
    for (const s of new InterfacesFile(t).sources()) {
      const p = posix.resolve(posix.dirname(file), s.pattern);
      if (s.kind === "source-directory") {
        for (const n of (await view.readdir(p)).filter((n) => /^[A-Za-z0-9_-]+$/.test(n))) await visit(posix.join(p, n));
      } else if (/[*?[]/.test(posix.basename(p))) {
        const re = globRe(posix.basename(p));
        for (const n of (await view.readdir(posix.dirname(p))).filter((n) => re.test(n) && !n.startsWith("."))) await visit(posix.join(posix.dirname(p), n));
      } else await visit(p);
    }
  };
  await visit("/etc/network/interfaces");
  return out;
}

class Collector {
  readonly byName = new Map<string, NetInterfaceInfo>();
  add(name: string | undefined, system: NetSystem, file: string, facts: { mac?: string; kind?: NetKind; master?: string; parent?: string } = {}): void {
    if (!name || name === "lo" || name.includes("$")) return;
    const cur = this.byName.get(name) ?? { name, configs: [] };
    const m = normMac(facts.mac);
    if (m && !cur.mac) cur.mac = m;
    if (facts.kind && (!cur.kind || cur.kind === "ethernet")) cur.kind = facts.kind;
    if (facts.master && !cur.master) cur.master = facts.master;
    if (facts.parent && !cur.parent) cur.parent = facts.parent;
    if (!cur.configs.some((c) => c.file === file && c.system === system)) cur.configs.push({ system, file });
    this.byName.set(name, cur);
  }
}

function words(v: string | undefined): string[] {
  return (v ?? "").split(/[\s,]+/).filter(Boolean);
}

function vlanParent(name: string): string | undefined {
  return /^(.+)\.\d+$/.exec(name)?.[1];
}

async function ifcfg(view: GuestView, c: Collector): Promise<void> {
  for (const file of await ifcfgFiles(view, IFCFG_DIR)) {
    const t = await view.readText(file);
    if (t === undefined) continue;
    const v = new ShellVars(t);
    const name = v.get("DEVICE") ?? posix.basename(file).slice(6);
    const type = (v.get("TYPE") ?? "").toLowerCase();
    const kind: NetKind | undefined =
      v.get("VLAN") === "yes" || type === "vlan" ? "vlan" : type === "bond" || v.get("BONDING_OPTS") !== undefined || v.get("BONDING_MASTER") === "yes" ? "bond" : type === "bridge" ? "bridge" : type.startsWith("team") && type !== "teamport" ? "team" : type === "ethernet" || v.get("HWADDR") ? "ethernet" : undefined;
    const parent = kind === "vlan" ? (v.get("PHYSDEV") ?? vlanParent(name)) : undefined;
    c.add(name, "ifcfg", file, { mac: v.get("HWADDR") ?? v.get("MACADDR"), ...(kind ? { kind } : {}), ...(v.get("MASTER") ?? v.get("BRIDGE") ?? v.get("TEAM_MASTER") ? { master: (v.get("MASTER") ?? v.get("BRIDGE") ?? v.get("TEAM_MASTER"))! } : {}), ...(parent ? { parent } : {}) });
  }
}

async function wicked(view: GuestView, c: Collector): Promise<void> {
  for (const file of await ifcfgFiles(view, WICKED_DIR)) {
    const t = await view.readText(file);
    if (t === undefined) continue;
    const v = new ShellVars(t);
    const name = posix.basename(file).slice(6);
    const kind: NetKind | undefined = v.get("BONDING_MASTER") === "yes" ? "bond" : v.get("BRIDGE") === "yes" ? "bridge" : v.get("ETHERDEVICE") || v.get("VLAN_ID") ? "vlan" : undefined;
    c.add(name, "wicked", file, { mac: v.get("LLADDR"), ...(kind ? { kind } : {}), ...(kind === "vlan" ? { parent: v.get("ETHERDEVICE") ?? vlanParent(name) } : {}) });
    for (const k of v.keys()) {
      if (/^BONDING_SLAVE_?\d*$/.test(k)) for (const s of words(v.get(k))) c.add(s, "wicked", file, { master: name });
    }
    for (const s of words(v.get("BRIDGE_PORTS"))) c.add(s, "wicked", file, { master: name });
  }
}

async function keyfiles(view: GuestView, c: Collector): Promise<void> {
  for (const file of await keyfileFiles(view)) {
    const t = await view.readText(file);
    if (t === undefined) continue;
    const k = new Keyfile(t);
    const type = k.get("connection", "type") ?? "";
    const mac = k.get("ethernet", "mac-address") ?? k.get("802-3-ethernet", "mac-address");
    const name = k.get("connection", "interface-name") ?? (type === "vlan" ? undefined : mac ? k.get("connection", "id") : undefined);
    const kind: NetKind | undefined = type === "ethernet" || type === "802-3-ethernet" ? "ethernet" : type === "bond" ? "bond" : type === "bridge" ? "bridge" : type === "vlan" ? "vlan" : type === "team" ? "team" : undefined;
    const parent = k.get("vlan", "parent");
    const vlanName = type === "vlan" ? (name ?? (parent && k.get("vlan", "id") ? `${parent}.${k.get("vlan", "id")}` : undefined)) : undefined;
    c.add(vlanName ?? name, "networkmanager", file, { ...(mac ? { mac } : {}), ...(kind ? { kind } : {}), ...(k.get("connection", "master") ? { master: k.get("connection", "master")! } : {}), ...(parent ? { parent } : {}) });
    if (parent && !normMac(parent)) c.add(parent, "networkmanager", file);
  }
}

async function ifupdown(view: GuestView, c: Collector): Promise<void> {
  for (const file of await ifupdownFiles(view)) {
    const f = new InterfacesFile((await view.readText(file))!);
    for (const m of f.marks()) c.add(m.name.split(":")[0], "ifupdown", file);
    for (const s of f.stanzas()) {
      if (s.kind !== "iface") continue;
      const name = s.name.split(":")[0];
      const opt = (...keys: string[]) => s.options.find((o) => keys.includes(o.key))?.value;
      const slaves = words(opt("bond-slaves", "slaves", "bond_slaves")).filter((w) => w !== "none");
      const ports = words(opt("bridge_ports", "bridge-ports")).filter((w) => w !== "none" && w !== "all");
      const raw = opt("vlan-raw-device", "vlan_raw_device");
      const kind: NetKind | undefined = slaves.length || opt("bond-mode", "bond_mode") ? "bond" : ports.length || opt("bridge_ports", "bridge-ports") !== undefined ? "bridge" : raw || vlanParent(name!) ? "vlan" : undefined;
      const hw = opt("hwaddress")?.split(/\s+/).pop();
      c.add(name, "ifupdown", file, { ...(hw ? { mac: hw } : {}), ...(kind ? { kind } : {}), ...(opt("bond-master", "bond_master") ? { master: opt("bond-master", "bond_master")! } : {}), ...(kind === "vlan" ? { parent: raw ?? vlanParent(name!) } : {}) });
      for (const m of [...slaves]) c.add(m, "ifupdown", file, { master: name });
      for (const m of ports) c.add(m, "ifupdown", file, { master: name });
    }
  }
}

type YMap = Record<string, unknown>;
function obj(v: unknown): YMap | undefined {
  return v && typeof v === "object" && !Array.isArray(v) ? (v as YMap) : undefined;
}

async function netplan(view: GuestView, c: Collector): Promise<void> {
  for (const file of await netplanFiles(view)) {
    const t = await view.readText(file);
    if (t === undefined) continue;
    const doc = parseDocument(t);
    if (doc.errors.length) continue;
    const net = obj(obj(doc.toJS())?.network);
    if (!net) continue;
    for (const [key, val] of Object.entries(obj(net.ethernets) ?? {})) {
      const v = obj(val) ?? {};
      const match = obj(v.match);
      const name = (v["set-name"] as string | undefined) ?? (match?.macaddress ? undefined : (match?.name as string | undefined)) ?? key;
      c.add(name, "netplan", file, { kind: "ethernet", ...((match?.macaddress ?? v.macaddress) ? { mac: String(match?.macaddress ?? v.macaddress) } : {}) });
    }
    for (const [section, kind] of [["bonds", "bond"], ["bridges", "bridge"]] as const) {
      for (const [key, val] of Object.entries(obj(net[section]) ?? {})) {
        c.add(key, "netplan", file, { kind });
        const members = (obj(val)?.interfaces as unknown[] | undefined) ?? [];
        for (const m of members) if (typeof m === "string") c.add(m, "netplan", file, { master: key });
      }
    }
    for (const [key, val] of Object.entries(obj(net.vlans) ?? {})) {
      const link = obj(val)?.link;
      c.add(key, "netplan", file, { kind: "vlan", ...(typeof link === "string" ? { parent: link } : {}) });
    }
  }
}

/** systemd-networkd's own files: .network [Match] Name=/MACAddress=, .link [Link] Name=. */
async function networkd(view: GuestView, c: Collector): Promise<void> {
  for (const n of await view.readdir(NETWORKD_DIR)) {
    if (!/\.(network|link)$/.test(n)) continue;
    const file = posix.join(NETWORKD_DIR, n);
    if ((await view.kind(file)) !== "file") continue;
    const k = new Keyfile((await view.readText(file))!);
    const mac = k.get("Match", "MACAddress") ?? k.get("Match", "PermanentMACAddress");
    const names = (n.endsWith(".link") ? [k.get("Link", "Name")] : (k.get("Match", "Name") ?? "").split(/\s+/)).filter((x): x is string => Boolean(x) && !/[*?[]/.test(x!));
    for (const name of names) c.add(name, "networkd", file, { ...(mac && names.length === 1 ? { mac } : {}) });
  }
}

async function udevRules(view: GuestView, c: Collector): Promise<void> {
  for (const n of await view.readdir(UDEV_RULES_DIR)) {
    if (!n.endsWith(".rules")) continue;
    const file = posix.join(UDEV_RULES_DIR, n);
    if ((await view.kind(file)) !== "file") continue; // a link to /dev/null masks a rules file
    const t = await view.readText(file);
    if (t === undefined || !t.includes("address")) continue;
    for (const r of new UdevRulesFile(t).rules()) {
      const { mac, name } = ruleMacName(r.tokens);
      if (mac && name && r.tokens.some((x) => x.key === "SUBSYSTEM" && x.value === "net")) c.add(name, "udev", file, { mac });
    }
  }
}

export async function inspectNetwork(view: GuestView): Promise<NetInterfaceInfo[]> {
  const c = new Collector();
  await ifcfg(view, c);
  await wicked(view, c);
  await keyfiles(view, c);
  await ifupdown(view, c);
  await netplan(view, c);
  await networkd(view, c);
  await udevRules(view, c);
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
