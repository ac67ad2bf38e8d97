// netplan YAML (/etc/netplan, /lib/netplan): ethernets matched by name or MAC, bonds,
// bridges and VLANs built on them. Edits are made in place in the text, so that comments,
// order and quoting stay as the author wrote them.
import { posix } from "node:path";
import { isMap, isScalar, isSeq, parseDocument, type Scalar } from "yaml";
import { renameOne } from "../names.ts";
import { newMac, nicByMac, type Renames } from "../rewrite.ts";
import { netSystem, rewriteFiles, type FileRule } from "./system.ts";

const NETPLAN_DIRS = ["/etc/netplan", "/lib/netplan"];

type YMap = Record<string, unknown>;
function obj(v: unknown): YMap | undefined {
  return v && typeof v === "object" && !Array.isArray(v) ? (v as YMap) : undefined;
}

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

const yamlFiles: FileRule = {
  list: async (view) => {
    const out: string[] = [];
    for (const dir of NETPLAN_DIRS) for (const n of await view.readdir(dir)) if (/\.ya?ml$/.test(n)) out.push(posix.join(dir, n));
    return out;
  },
  edit(before, file, r) {
    try {
      return { after: rewriteNetplanText(before, r), why: "netplan interfaces follow the new names and MACs" };
    } catch (e) {
      throw new Error(`${file}: ${(e as Error).message}`);
    }
  },
};

export const netplan = netSystem({
  name: "netplan",
  files: NETPLAN_DIRS.flatMap((d) => [`${d}/*.yaml`, `${d}/*.yml`]),

  async inspect(view, add) {
    for (const file of await yamlFiles.list(view)) {
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
        add(name, file, { kind: "ethernet", ...((match?.macaddress ?? v.macaddress) ? { mac: String(match?.macaddress ?? v.macaddress) } : {}) });
      }
      for (const [section, kind] of [["bonds", "bond"], ["bridges", "bridge"]] as const) {
        for (const [key, val] of Object.entries(obj(net[section]) ?? {})) {
          add(key, file, { kind });
          const members = (obj(val)?.interfaces as unknown[] | undefined) ?? [];
          for (const m of members) if (typeof m === "string") add(m, file, { master: key });
        }
      }
      for (const [key, val] of Object.entries(obj(net.vlans) ?? {})) {
        const link = obj(val)?.link;
        add(key, file, { kind: "vlan", ...(typeof link === "string" ? { parent: link } : {}) });
      }
    }
  },

  rewrite: rewriteFiles(yamlFiles),
});
