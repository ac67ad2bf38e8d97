// Debian-family ifupdown: /etc/network/interfaces and every file it sources, in the order
// ifupdown reads them.
import { posix } from "node:path";
import { InterfacesFile } from "../../formats/interfaces.ts";
import type { GuestView } from "../../guest/view.ts";
import { isPattern, namesToAdd, renameWords, replaceMacs } from "../names.ts";
import { netSystem, rewriteFiles, vlanParent, words, type NetKind } from "./system.ts";

const INTERFACES = "/etc/network/interfaces";

function globRe(pattern: string): RegExp {
  let re = "";
  for (const c of pattern) re += c === "*" ? "[^/]*" : c === "?" ? "[^/]" : /[A-Za-z0-9_-]/.test(c) ? c : `\\${c}`;
  return new RegExp(`^${re}$`);
}

/**
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
  await visit(INTERFACES);
  return out;
}

export const ifupdown = netSystem({
  name: "ifupdown",
  // and whatever these source, wherever that is
  files: [INTERFACES, "/etc/network/interfaces.d/*"],

  async inspect(view, add) {
    for (const file of await ifupdownFiles(view)) {
      const f = new InterfacesFile((await view.readText(file))!);
      for (const m of f.marks()) add(m.name.split(":")[0], file);
      // mapping stanzas choose the logical interface for every NIC their patterns match
      for (const l of f.lines) if (l.kind === "mapping") for (const p of l.words.slice(1)) if (isPattern(p)) add(p, file);
      for (const s of f.stanzas()) {
        if (s.kind !== "iface") continue;
        const name = s.name.split(":")[0]!;
        const opt = (...keys: string[]) => s.options.find((o) => keys.includes(o.key))?.value;
        const slaves = words(opt("bond-slaves", "slaves", "bond_slaves")).filter((w) => w !== "none");
        const ports = words(opt("bridge_ports", "bridge-ports")).filter((w) => w !== "none" && w !== "all");
        const raw = opt("vlan-raw-device", "vlan_raw_device");
        const kind: NetKind | undefined = slaves.length || opt("bond-mode", "bond_mode") ? "bond" : ports.length || opt("bridge_ports", "bridge-ports") !== undefined ? "bridge" : raw || vlanParent(name) ? "vlan" : undefined;
        const hw = opt("hwaddress")?.split(/\s+/).pop();
        const master = opt("bond-master", "bond_master");
        add(name, file, { ...(hw ? { mac: hw } : {}), ...(kind ? { kind } : {}), ...(master ? { master } : {}), ...(kind === "vlan" ? { parent: raw ?? vlanParent(name) } : {}) });
        for (const m of [...slaves, ...ports]) add(m, file, { master: name });
      }
    }
  },

  rewrite: rewriteFiles({
    list: ifupdownFiles,
    edit(before, _file, r) {
      const f = new InterfacesFile(before);
      f.editLines((raw, line) => {
        const out = replaceMacs(renameWords(raw, r.names), r.macs);
        // "mapping ens*" takes several patterns: the new names join them, the old stay
        const add = line.kind === "mapping" ? namesToAdd(line.words.slice(1), r.names) : [];
        return add.length ? `${out.replace(/\s+$/, "")} ${add.join(" ")}` : out;
      });
      return { after: f.toString(), why: `stanzas and lines that name ${[...r.names.keys()].filter((n) => before.includes(n)).join(", ") || "the NICs"} follow the new names` };
    },
  }),
});
