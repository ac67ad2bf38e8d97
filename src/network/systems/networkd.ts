// systemd-networkd's own files in /etc/systemd/network: .network [Match] Name=/MACAddress=,
// .link [Link] Name=, and .netdev files that name the interfaces they build on.
import { Keyfile } from "../../formats/keyfile.ts";
import { renameWords, replaceMacs } from "../names.ts";
import { filesIn, netSystem, rewriteFiles } from "./system.ts";

const NETWORKD_DIR = "/etc/systemd/network";
const NETWORK_KEYS = ["VLAN", "Bond", "Bridge", "MACVLAN", "VXLAN"];

export const networkd = netSystem({
  name: "networkd",
  files: [`${NETWORKD_DIR}/*.network`, `${NETWORKD_DIR}/*.netdev`, `${NETWORKD_DIR}/*.link`],

  async inspect(view, add) {
    for (const file of await filesIn(view, NETWORKD_DIR, (n) => /\.(network|link)$/.test(n))) {
      const k = new Keyfile((await view.readText(file))!);
      const mac = k.get("Match", "MACAddress") ?? k.get("Match", "PermanentMACAddress");
      const names = (file.endsWith(".link") ? [k.get("Link", "Name")] : (k.get("Match", "Name") ?? "").split(/\s+/)).filter((x): x is string => Boolean(x) && !/[*?[]/.test(x!));
      for (const name of names) add(name, file, { ...(mac && names.length === 1 ? { mac } : {}) });
    }
  },

  rewrite: rewriteFiles({
    list: (view) => filesIn(view, NETWORKD_DIR, (n) => /\.(network|netdev|link)$/.test(n) && !n.startsWith("10-osam-")),
    edit(before, _file, r) {
      const k = new Keyfile(before);
      k.lines = k.lines.map((l) => {
        if (l.kind !== "kv") return l;
        const nameKey = (l.section === "Match" && (l.key === "Name" || l.key === "OriginalName")) || (l.section === "Link" && l.key === "Name") || (l.section === "Network" && NETWORK_KEYS.includes(l.key));
        const macKey = (l.section === "Match" && (l.key === "MACAddress" || l.key === "PermanentMACAddress")) || (l.section === "Link" && l.key === "MACAddress");
        const value = nameKey ? renameWords(l.value, r.names) : macKey ? replaceMacs(l.value, r.macs) : l.value;
        return value === l.value ? l : { ...l, value, raw: l.raw.slice(0, l.raw.length - l.value.length) + value };
      });
      return { after: k.toString(), why: "systemd-networkd matches the new names and MACs" };
    },
  }),
});
