// Carries each mapped interface's configuration over to its new name and MAC, in every
// configuration system the guest uses. Each function reads the guest's files and returns
// the file moves and rewrites; nothing here writes.
import { posix } from "node:path";
import { isMap, isScalar, isSeq, parseDocument, type Scalar } from "yaml";
import { ShellVars } from "../formats/shell-vars.ts";
import { InterfacesFile } from "../formats/interfaces.ts";
import { Keyfile } from "../formats/keyfile.ts";
import type { Change } from "../engine/changes.ts";
import type { GuestView } from "../guest/view.ts";
import { IFCFG_DIR, NETWORKD_DIR, WICKED_DIR, ifcfgFiles, ifupdownFiles, keyfileFiles, netplanFiles } from "./inspect.ts";
import { macLike, normMac, renameInLabel, renameOne, renameWords, replaceMacs } from "./names.ts";
import type { NicPlan } from "./mapping.ts";

export interface Renames {
  /** old interface name -> new name (only names that change). */
  names: Map<string, string>;
  /** source MAC -> target MAC (only MACs that change). */
  macs: Map<string, string>;
  nics: NicPlan[];
}

/** One configuration file's new content and, when the interface name is in its file name, its new path. */
export interface FileEdit {
  from: string;
  to: string;
  before: string;
  after: string;
  why: string;
}

export function renamesOf(nics: NicPlan[]): Renames {
  const names = new Map<string, string>();
  const macs = new Map<string, string>();
  for (const n of nics) {
    if (n.sourceName !== undefined && n.sourceName !== n.newName) names.set(n.sourceName, n.newName);
    if (n.sourceMac !== n.targetMac) macs.set(n.sourceMac, n.targetMac);
  }
  return { names, macs, nics };
}

function nicByMac(r: Renames, mac: string | undefined): NicPlan | undefined {
  const m = normMac(mac);
  return m ? r.nics.find((n) => n.sourceMac === m) : undefined;
}

function newMac(r: Renames, mac: string): string {
  const n = r.macs.get(normMac(mac) ?? "");
  return n === undefined ? mac : macLike(n, mac.replace(/^["']|["']$/g, ""));
}

/**
 * Turns file edits into changes. A file whose new path is free is renamed (keeping its
 * owner, mode and SELinux label) and then rewritten; when names swap (ifcfg-eth0 <->
 * ifcfg-eth1) the new contents are written over each other and leftovers removed, since
 * every new content was computed from the originals.
 */
export async function editsToChanges(view: GuestView, all: FileEdit[]): Promise<{ changes: Change[]; warnings: string[] }> {
  // an edit that changes nothing must not count as a rename source or target below
  const edits = all.filter((e) => e.from !== e.to || e.after !== e.before);
  const changes: Change[] = [];
  const warnings: string[] = [];
  const froms = new Set(edits.map((e) => e.from));
  const tos = new Set(edits.map((e) => e.to));
  const removes: Change[] = [];
  for (const e of edits) {
    if (e.from === e.to) {
      if (e.after !== e.before) changes.push({ action: "write", path: e.to, content: e.after, reason: e.why });
      continue;
    }
    if (!froms.has(e.to) && !tos.has(e.from)) {
      if (await view.exists(e.to)) warnings.push(`${e.to} already exists and is replaced by ${e.from} (the original is kept in the backup)`);
      changes.push({ action: "rename", path: e.from, to: e.to, reason: e.why });
      if (e.after !== e.before) changes.push({ action: "write", path: e.to, content: e.after, reason: e.why });
      continue;
    }
    const st = (await view.root.resolve(e.from)).stat;
    changes.push({ action: "write", path: e.to, content: e.after, ...(st ? { mode: st.mode & 0o7777 } : {}), reason: `${e.why} (from ${e.from}; names swap)` });
    if (!tos.has(e.from)) removes.push({ action: "remove", path: e.from, reason: `${e.why} (moved to ${e.to})` });
  }
  return { changes: [...changes, ...removes], warnings };
}

// ---- RHEL ifcfg (initscripts / NetworkManager ifcfg-rh) ----

const ROUTE_FILE = /^(route6?|rule6?)-(.+)$/;

export async function rewriteIfcfg(view: GuestView, r: Renames): Promise<FileEdit[]> {
  const edits: FileEdit[] = [];
  for (const file of await ifcfgFiles(view, IFCFG_DIR)) {
    const before = (await view.readText(file))!;
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
    for (const k of ["BONDING_OPTS", "TEAM_CONFIG"]) {
      const o = v.get(k);
      if (o !== undefined) v.set(k, renameWords(o, names));
    }
    const after = v.toString();
    const newSuffix = suffix === dev ? newDev : renameInLabel(suffix, names);
    edits.push({ from: file, to: posix.join(IFCFG_DIR, `ifcfg-${newSuffix}`), before, after, why: whyIface(dev, newDev, v.get("HWADDR") !== undefined || v.get("MACADDR") !== undefined) });
  }
  for (const n of await view.readdir(IFCFG_DIR)) {
    const m = ROUTE_FILE.exec(n);
    if (!m || /\.(bak|orig|rpmsave|rpmnew)$|~$/.test(n)) continue;
    const file = posix.join(IFCFG_DIR, n);
    if ((await view.kind(file)) !== "file") continue;
    const before = (await view.readText(file))!;
    const after = editNonComment(before, (l) => renameWords(l, r.names));
    const to = posix.join(IFCFG_DIR, `${m[1]}-${renameOne(m[2]!, r.names)}`);
    if (to !== file || after !== before) edits.push({ from: file, to, before, after, why: `${m[1]!.startsWith("rule") ? "policy rules" : "static routes"} of ${m[2]} follow it to ${renameOne(m[2]!, r.names)}` });
  }
  const net = (await view.kind("/etc/sysconfig/network")) === "file" ? await view.readText("/etc/sysconfig/network") : undefined;
  if (net !== undefined) {
    const v = new ShellVars(net);
    const g = v.get("GATEWAYDEV");
    if (g !== undefined && renameOne(g, r.names) !== g) {
      v.set("GATEWAYDEV", renameOne(g, r.names));
      edits.push({ from: "/etc/sysconfig/network", to: "/etc/sysconfig/network", before: net, after: v.toString(), why: `default gateway device ${g} becomes ${renameOne(g, r.names)}` });
    }
  }
  return edits;
}

function whyIface(dev: string, newDev: string, hasMac: boolean): string {
  if (dev !== newDev) return `interface ${dev} becomes ${newDev}`;
  return hasMac ? `interface ${dev} follows its NIC to the target MAC` : `${dev} refers to renamed interfaces`;
}

function editNonComment(text: string, f: (line: string) => string): string {
  return text
    .split("\n")
    .map((l) => (/^\s*(#|$)/.test(l) ? l : f(l)))
    .join("\n");
}

// ---- SUSE wicked / sysconfig ----

export async function rewriteWicked(view: GuestView, r: Renames): Promise<FileEdit[]> {
  const edits: FileEdit[] = [];
  if ((await view.kind(WICKED_DIR)) !== "dir") return edits;
  for (const file of await ifcfgFiles(view, WICKED_DIR)) {
    const before = (await view.readText(file))!;
    const v = new ShellVars(before);
    const dev = posix.basename(file).slice(6);
    const newDev = renameOne(dev, r.names);
    const ll = v.get("LLADDR");
    if (ll !== undefined) v.set("LLADDR", newMac(r, ll));
    const eth = v.get("ETHERDEVICE");
    if (eth !== undefined) v.set("ETHERDEVICE", renameOne(eth, r.names));
    for (const k of v.keys()) {
      if (/^BONDING_SLAVE_?\d*$/.test(k)) v.set(k, renameOne(v.get(k)!, r.names));
      if (k === "BRIDGE_PORTS" || k === "BONDING_MODULE_OPTS" || k === "TEAM_PORT_DEVICE_0" || /^TEAM_PORT_DEVICE_\d+$/.test(k)) v.set(k, renameWords(v.get(k)!, r.names));
    }
    edits.push({ from: file, to: posix.join(WICKED_DIR, `ifcfg-${newDev}`), before, after: v.toString(), why: whyIface(dev, newDev, ll !== undefined) });
  }
  for (const n of await view.readdir(WICKED_DIR)) {
    const m = /^ifroute-(.+)$/.exec(n);
    if (n !== "routes" && (!m || /\.(bak|orig|rpmsave|rpmnew)$|~$/.test(n))) continue;
    const file = posix.join(WICKED_DIR, n);
    if ((await view.kind(file)) !== "file") continue;
    const before = (await view.readText(file))!;
    const after = editNonComment(before, (l) => renameWords(l, r.names));
    const to = m ? posix.join(WICKED_DIR, `ifroute-${renameOne(m[1]!, r.names)}`) : file;
    if (to !== file || after !== before) edits.push({ from: file, to, before, after, why: m ? `routes of ${m[1]} follow it to ${renameOne(m[1]!, r.names)}` : "routes name the renamed interfaces" });
  }
  return edits;
}

// ---- NetworkManager keyfiles ----

export async function rewriteKeyfiles(view: GuestView, r: Renames): Promise<FileEdit[]> {
  const edits: FileEdit[] = [];
  for (const file of await keyfileFiles(view)) {
    const before = (await view.readText(file))!;
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
    if (mi !== undefined) k.set("match", "interface-name", renameWords(mi, names));
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
    edits.push({ from: file, to: posix.join(posix.dirname(file), newStem + ext), before, after: k.toString(), why: `connection ${id ?? base}${iface ? ` (${iface})` : ""} follows ${iface ?? nic?.sourceName ?? "its NIC"} to ${k.get("connection", "interface-name") ?? nic?.newName}` });
  }
  return edits;
}

// ---- ifupdown ----

export async function rewriteIfupdown(view: GuestView, r: Renames): Promise<FileEdit[]> {
  const edits: FileEdit[] = [];
  for (const file of await ifupdownFiles(view)) {
    const before = (await view.readText(file))!;
    const f = new InterfacesFile(before);
    f.editLines((raw) => replaceMacs(renameWords(raw, r.names), r.macs));
    const after = f.toString();
    if (after !== before) edits.push({ from: file, to: file, before, after, why: `stanzas and lines that name ${[...r.names.keys()].filter((n) => before.includes(n)).join(", ") || "the NICs"} follow the new names` });
  }
  return edits;
}

// ---- netplan ----

/** Rewrites one scalar in place in the source text, keeping its quoting. */
function scalarEdit(src: string, node: Scalar, value: string): { start: number; end: number; text: string } | undefined {
  const range = node.range;
  if (!range) return undefined;
  const old = src.slice(range[0], range[1]);
  const q = old.startsWith('"') ? '"' : old.startsWith("'") ? "'" : "";
  const text = q === '"' ? JSON.stringify(value) : q === "'" ? `'${value.replace(/'/g, "''")}'` : value;
  return text === old ? undefined : { start: range[0], end: range[1], text };
}

export function rewriteNetplanText(text: string, r: Renames): string {
  const doc = parseDocument(text);
  if (doc.errors.length) throw new Error(`not valid YAML: ${doc.errors[0]!.message}`);
  const edits: { start: number; end: number; text: string }[] = [];
  const put = (node: unknown, value: string) => {
    if (!isScalar(node) || typeof node.value !== "string" && typeof node.value !== "number") return;
    const e = scalarEdit(text, node, value);
    if (e) edits.push(e);
  };
  const str = (node: unknown): string | undefined => (isScalar(node) && (typeof node.value === "string" || typeof node.value === "number") ? String(node.value) : undefined);
  const network = doc.get("network", true);
  if (!isMap(network)) return text;
  const section = (name: string) => {
    const s = network.get(name, true);
    return isMap(s) ? s : undefined;
  };
  const ethernets = section("ethernets");
  for (const pair of ethernets?.items ?? []) {
    const key = str(pair.key);
    if (key === undefined) continue;
    const entry = isMap(pair.value) ? pair.value : undefined;
    const match = entry?.get("match", true);
    const matchMap = isMap(match) ? match : undefined;
    const mmac = str(matchMap?.get("macaddress", true));
    const nic = nicByMac(r, mmac);
    if (mmac !== undefined) put(matchMap!.get("macaddress", true), newMac(r, mmac));
    const setName = entry?.get("set-name", true);
    const sn = str(setName);
    if (sn !== undefined) put(setName, nic ? nic.newName : renameOne(sn, r.names));
    const mname = str(matchMap?.get("name", true));
    if (mname !== undefined && !mmac) put(matchMap!.get("name", true), renameOne(mname, r.names));
    const own = str(entry?.get("macaddress", true));
    if (own !== undefined) put(entry!.get("macaddress", true), newMac(r, own));
    // the key is the interface's name unless a match block says which NIC it is
    if (!matchMap || mname === key) put(pair.key, renameOne(key, r.names));
  }
  for (const s of ["bonds", "bridges"]) {
    for (const pair of section(s)?.items ?? []) {
      const entry = isMap(pair.value) ? pair.value : undefined;
      const members = entry?.get("interfaces", true);
      if (isSeq(members)) for (const m of members.items) if (str(m) !== undefined) put(m, renameOne(str(m)!, r.names));
      const params = entry?.get("parameters", true);
      if (isMap(params)) {
        const p = params.get("primary", true);
        if (str(p) !== undefined) put(p, renameOne(str(p)!, r.names));
      }
    }
  }
  for (const pair of section("vlans")?.items ?? []) {
    const key = str(pair.key);
    if (key !== undefined) put(pair.key, renameOne(key, r.names));
    const entry = isMap(pair.value) ? pair.value : undefined;
    const link = entry?.get("link", true);
    if (str(link) !== undefined) put(link, renameOne(str(link)!, r.names));
  }
  let out = text;
  for (const e of edits.sort((a, b) => b.start - a.start)) out = out.slice(0, e.start) + e.text + out.slice(e.end);
  return out;
}

export async function rewriteNetplan(view: GuestView, r: Renames): Promise<FileEdit[]> {
  const edits: FileEdit[] = [];
  for (const file of await netplanFiles(view)) {
    const before = (await view.readText(file))!;
    let after: string;
    try {
      after = rewriteNetplanText(before, r);
    } catch (e) {
      throw new Error(`${file}: ${(e as Error).message}`);
    }
    if (after !== before) edits.push({ from: file, to: file, before, after, why: "netplan interfaces follow the new names and MACs" });
  }
  return edits;
}

// ---- systemd-networkd and .link files the guest wrote itself ----

export async function rewriteNetworkd(view: GuestView, r: Renames): Promise<FileEdit[]> {
  const edits: FileEdit[] = [];
  const dir = NETWORKD_DIR;
  for (const n of await view.readdir(dir)) {
    if (!/\.(network|netdev|link)$/.test(n) || n.startsWith("10-osam-")) continue;
    const file = posix.join(dir, n);
    if ((await view.kind(file)) !== "file") continue;
    const before = (await view.readText(file))!;
    const k = new Keyfile(before);
    k.lines = k.lines.map((l) => {
      if (l.kind !== "kv") return l;
      const nameKey = (l.section === "Match" && (l.key === "Name" || l.key === "OriginalName")) || (l.section === "Link" && l.key === "Name") || (l.section === "Network" && ["VLAN", "Bond", "Bridge", "MACVLAN", "VXLAN"].includes(l.key));
      const macKey = (l.section === "Match" && (l.key === "MACAddress" || l.key === "PermanentMACAddress")) || (l.section === "Link" && l.key === "MACAddress");
      const value = nameKey ? renameWords(l.value, r.names) : macKey ? replaceMacs(l.value, r.macs) : l.value;
      return value === l.value ? l : { ...l, value, raw: l.raw.slice(0, l.raw.length - l.value.length) + value };
    });
    const after = k.toString();
    if (after !== before) edits.push({ from: file, to: file, before, after, why: "systemd-networkd matches the new names and MACs" });
  }
  return edits;
}

