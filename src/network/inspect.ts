// Finds the network interfaces a guest configures, in every configuration system it may use,
// with the MAC each one is bound to where the configuration says so.
import { posix } from "node:path";
import { parse as parseYaml } from "yaml";
import { ShellVars } from "../formats/shell-vars.ts";
import type { GuestView } from "../guest/view.ts";

export type NetSystem = "ifcfg" | "wicked" | "networkmanager" | "ifupdown" | "netplan" | "udev";

export interface NetConfigRef {
  system: NetSystem;
  file: string;
}

export interface NetInterfaceInfo {
  name: string;
  mac?: string;
  configs: NetConfigRef[];
}

function normMac(m: string | undefined): string | undefined {
  if (!m) return undefined;
  const s = m.trim().replace(/^"|"$/g, "").toLowerCase();
  return /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(s) ? s : undefined;
}

class Collector {
  readonly byName = new Map<string, NetInterfaceInfo>();
  add(name: string | undefined, mac: string | undefined, system: NetSystem, file: string): void {
    if (!name || name === "lo") return;
    const cur = this.byName.get(name) ?? { name, configs: [] };
    const m = normMac(mac);
    if (m && !cur.mac) cur.mac = m;
    if (!cur.configs.some((c) => c.file === file && c.system === system)) cur.configs.push({ system, file });
    this.byName.set(name, cur);
  }
}

async function ifcfg(view: GuestView, dir: string, system: NetSystem, c: Collector): Promise<void> {
  for (const n of await view.readdir(dir)) {
    if (!n.startsWith("ifcfg-") || n === "ifcfg-lo" || /\.(bak|orig|rpmsave|rpmnew)$|~$/.test(n)) continue;
    const file = posix.join(dir, n);
    const t = await view.readText(file);
    if (t === undefined) continue;
    const v = new ShellVars(t);
    const name = system === "wicked" ? n.slice(6) : v.get("DEVICE") ?? n.slice(6);
    c.add(name, v.get("HWADDR") ?? v.get("MACADDR") ?? v.get("LLADDR"), system, file);
  }
}

async function keyfiles(view: GuestView, c: Collector): Promise<void> {
  const dir = "/etc/NetworkManager/system-connections";
  for (const n of await view.readdir(dir)) {
    const file = posix.join(dir, n);
    const t = await view.readText(file);
    if (t === undefined) continue;
    let section = "";
    let name: string | undefined, mac: string | undefined, id: string | undefined;
    for (const line of t.split("\n")) {
      const s = /^\s*\[(.+)\]\s*$/.exec(line);
      if (s) { section = s[1]!; continue; }
      const kv = /^\s*([^=#;]+?)\s*=\s*(.*)$/.exec(line);
      if (!kv) continue;
      if (section === "connection" && kv[1] === "interface-name") name = kv[2]!.trim();
      if (section === "connection" && kv[1] === "id") id = kv[2]!.trim();
      if ((section === "ethernet" || section === "802-3-ethernet") && kv[1] === "mac-address") mac = kv[2]!.trim().replace(/;$/, "");
    }
    c.add(name ?? (mac ? id : undefined), mac, "networkmanager", file);
  }
}

async function ifupdown(view: GuestView, c: Collector): Promise<void> {
  const files = ["/etc/network/interfaces", ...(await view.readdir("/etc/network/interfaces.d")).filter((n) => /^[A-Za-z0-9_-]+$/.test(n)).map((n) => `/etc/network/interfaces.d/${n}`)];
  for (const file of files) {
    const t = await view.readText(file);
    if (t === undefined) continue;
    let cur: string | undefined;
    const macs = new Map<string, string>();
    for (const line of t.split("\n")) {
      const w = line.trim().split(/\s+/);
      if (w[0] === "iface" && w[1]) { cur = w[1].split(":")[0]; c.add(cur, undefined, "ifupdown", file); }
      else if ((w[0] === "auto" || w[0]?.startsWith("allow-")) ) for (const n of w.slice(1)) c.add(n.split(":")[0], undefined, "ifupdown", file);
      else if (cur && (w[0] === "hwaddress") && w.length >= 2) macs.set(cur, w[w.length - 1]!);
    }
    for (const [n, m] of macs) c.add(n, m, "ifupdown", file);
  }
}

async function netplan(view: GuestView, c: Collector): Promise<void> {
  for (const dir of ["/etc/netplan", "/lib/netplan", "/run/netplan"]) {
    for (const n of await view.readdir(dir)) {
      if (!/\.ya?ml$/.test(n)) continue;
      const file = posix.join(dir, n);
      const t = await view.readText(file);
      if (t === undefined) continue;
      let doc: unknown;
      try {
        doc = parseYaml(t);
      } catch {
        continue;
      }
      const eth = (doc as { network?: { ethernets?: Record<string, unknown> } } | null)?.network?.ethernets;
      if (!eth || typeof eth !== "object") continue;
      for (const [key, val] of Object.entries(eth)) {
        const v = (val ?? {}) as { match?: { macaddress?: string; name?: string }; "set-name"?: string; macaddress?: string };
        const name = v["set-name"] ?? (v.match?.macaddress ? undefined : v.match?.name) ?? key;
        c.add(name, v.match?.macaddress ?? v.macaddress, "netplan", file);
      }
    }
  }
}

async function udevRules(view: GuestView, c: Collector): Promise<void> {
  for (const n of await view.readdir("/etc/udev/rules.d")) {
    if (!/persistent-net|net.*\.rules$/.test(n) || !n.endsWith(".rules")) continue;
    const file = `/etc/udev/rules.d/${n}`;
    const t = await view.readText(file);
    if (t === undefined) continue;
    for (const line of t.split("\n")) {
      if (line.trim().startsWith("#")) continue;
      const mac = /ATTR\{address\}=="([^"]+)"/.exec(line)?.[1];
      const name = /NAME="([^"]+)"/.exec(line)?.[1];
      if (mac && name) c.add(name, mac, "udev", file);
    }
  }
}

export async function inspectNetwork(view: GuestView): Promise<NetInterfaceInfo[]> {
  const c = new Collector();
  await ifcfg(view, "/etc/sysconfig/network-scripts", "ifcfg", c);
  await ifcfg(view, "/etc/sysconfig/network", "wicked", c);
  await keyfiles(view, c);
  await ifupdown(view, c);
  await netplan(view, c);
  await udevRules(view, c);
  return [...c.byName.values()].sort((a, b) => a.name.localeCompare(b.name));
}
