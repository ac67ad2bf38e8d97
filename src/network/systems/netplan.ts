// netplan YAML (/etc/netplan, /lib/netplan): ethernets matched by name or MAC, bonds,
// bridges and VLANs built on them. Edits are made in place in the text, so that comments,
// order and quoting stay as the author wrote them.
import { posix } from "node:path";
import { isMap, isScalar, isSeq, parseDocument, type Document, type Scalar } from "yaml";
import { isPattern, namesToAdd, renameOne } from "../names.ts";
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

/**
 * The text of an ethernets entry again, right after it, under a new id and matching `name`
 * instead of its pattern: the pattern and what it configures stay as they were.
 */
function entryCopy(src: string, key: unknown, value: unknown, nameNode: unknown, id: string, name: string): { start: number; end: number; text: string } | undefined {
  if (!isScalar(key) || !isMap(value) || !isScalar(nameNode) || !key.range || !value.range || !nameNode.range) return undefined;
  const start = src.lastIndexOf("\n", key.range[0] - 1) + 1;
  let end = value.range[1];
  const nl = src.indexOf("\n", end - 1);
  end = src[end - 1] === "\n" ? end : nl < 0 ? src.length : nl + 1;
  const block = src.slice(start, end);
  // the id and the name are edited from the end back, so that offsets stay right
  const at = (n: Scalar) => [n.range![0] - start, n.range![1] - start] as const;
  const [ns, ne] = at(nameNode);
  const [ks, ke] = at(key);
  const oldName = block.slice(ns, ne);
  const q = oldName.startsWith("'") ? "'" : '"';
  let out = block.slice(0, ns) + (q === "'" ? `'${name}'` : JSON.stringify(name)) + block.slice(ne);
  out = out.slice(0, ks) + id + out.slice(ke);
  return { start: end, end, text: (end === src.length && !src.endsWith("\n") ? "\n" : "") + `${out.replace(/\n?$/, "\n")}` };
}

/**
 * A netplan file as data, or why it cannot be read: YAML errors, and alias expansion past
 * a small bound (a "billion laughs" file would otherwise take all memory), are both reasons.
 */
export function parseNetplan(text: string): { doc: Document.Parsed; data: unknown } | { error: string } {
  try {
    const doc = parseDocument(text);
    if (doc.errors.length) return { error: `not valid YAML: ${doc.errors[0]!.message.split("\n")[0]!.replace(/:$/, "")}` };
    return { doc, data: doc.toJS({ maxAliasCount: 100 }) };
  } catch (e) {
    return { error: `not readable as YAML: ${(e as Error).message.split("\n")[0]}` };
  }
}

export function rewriteNetplanText(text: string, r: Renames): string {
  const parsed = parseNetplan(text);
  if ("error" in parsed) throw new Error(parsed.error);
  const doc = parsed.doc;
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
    // match: name: "ens*" takes one pattern: an entry of its own for each new name it matched
    if (mname !== undefined && !mmac && sn === undefined && isPattern(mname)) {
      const copies = namesToAdd([mname], r.names).map((to) => entryCopy(text, pair.key, pair.value, matchMap!.get("name", true), `${key}-${to}`, to));
      // one insertion, so that the copies keep the order of the names
      if (copies.length && copies.every((c) => c !== undefined)) edits.push({ ...copies[0]!, text: copies.map((c) => c.text).join("") });
    }
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
  // a file that cannot be read stays as it is (unreadable() names it; the step warns or refuses)
  edit: (before, _file, r) => ("error" in parseNetplan(before) ? undefined : { after: rewriteNetplanText(before, r), why: "netplan interfaces follow the new names and MACs" }),
};

export const netplan = netSystem({
  name: "netplan",
  files: NETPLAN_DIRS.flatMap((d) => [`${d}/*.yaml`, `${d}/*.yml`]),

  async inspect(view, add) {
    for (const file of await yamlFiles.list(view)) {
      const t = await view.readText(file);
      if (t === undefined) continue;
      const parsed = parseNetplan(t);
      if ("error" in parsed) continue;
      const net = obj(obj(parsed.data)?.network);
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

  async unreadable(view) {
    const out: { file: string; reason: string }[] = [];
    for (const file of await yamlFiles.list(view)) {
      const t = await view.readText(file);
      const parsed = t === undefined ? undefined : parseNetplan(t);
      if (parsed && "error" in parsed) out.push({ file, reason: parsed.error });
    }
    return out;
  },
});
