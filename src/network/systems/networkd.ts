// systemd-networkd's own files in /etc/systemd/network: .network [Match] Name=/MACAddress=,
// .link [Link] Name=, and .netdev files that name the interfaces they build on.
import { Keyfile } from "../../formats/keyfile.ts";
import { isPattern, namesToAdd, renameWords, replaceMacs } from "../names.ts";
import { filesIn, netSystem, rewriteFiles, words, type NetKind } from "./system.ts";

const NETWORKD_DIR = "/etc/systemd/network";
const NETWORK_KEYS = ["VLAN", "Bond", "Bridge", "MACVLAN", "VXLAN"];
const NETDEV_KINDS: Record<string, NetKind | undefined> = { bond: "bond", bridge: "bridge", vlan: "vlan" };

export const networkd = netSystem({
  name: "networkd",
  files: [`${NETWORKD_DIR}/*.network`, `${NETWORKD_DIR}/*.netdev`, `${NETWORKD_DIR}/*.link`],

  async inspect(view, add) {
    for (const file of await filesIn(view, NETWORKD_DIR, (n) => n.endsWith(".netdev"))) {
      const k = new Keyfile((await view.readText(file))!);
      const kind = NETDEV_KINDS[k.get("NetDev", "Kind") ?? ""];
      add(k.get("NetDev", "Name"), file, { kind: kind ?? "other" });
    }
    for (const file of await filesIn(view, NETWORKD_DIR, (n) => /\.(network|link)$/.test(n))) {
      const k = new Keyfile((await view.readText(file))!);
      // Bond=bond0, Bridge=br0: the matched interfaces are its ports
      const master = k.get("Network", "Bond") ?? k.get("Network", "Bridge");
      const mac = k.get("Match", "MACAddress") ?? k.get("Match", "PermanentMACAddress");
      // a pattern (Name=en*) configures every NIC it matches; "!" inverts a list
      const names = (file.endsWith(".link") ? [k.get("Link", "Name")] : (k.get("Match", "Name") ?? "").split(/\s+/)).filter((x): x is string => Boolean(x) && !x!.startsWith("!"));
      const plain = names.filter((x) => !isPattern(x));
      for (const name of names) add(name, file, { ...(mac && plain.length === 1 && names.length === 1 ? { mac } : {}), ...(master && !isPattern(name) ? { master } : {}) });
      for (const v of words(k.get("Network", "VLAN"))) add(v, file, { kind: "vlan", parent: plain[0] ?? "" });
    }
  },

  rewrite: rewriteFiles({
    list: (view) => filesIn(view, NETWORKD_DIR, (n) => /\.(network|netdev|link)$/.test(n) && !n.startsWith("10-osam-")),
    edit(before, _file, r) {
      const k = new Keyfile(before);
      const hasMacMatch = k.get("Match", "MACAddress") !== undefined || k.get("Match", "PermanentMACAddress") !== undefined;
      k.lines = k.lines.map((l) => {
        if (l.kind !== "kv") return l;
        // a .link matching a mapped NIC by its old kernel name: with net.ifnames=0 the kernel
        // names NICs eth0, eth1... in probe order, so OriginalName=eth0 could be another NIC;
        // the NIC is matched by its target MAC instead, as the pins do
        const byOld = l.section === "Match" && l.key === "OriginalName" && !hasMacMatch ? r.nics.find((n) => n.sourceName === l.value.trim()) : undefined;
        if (byOld) return { ...l, key: "MACAddress", value: byOld.targetMac, raw: `${/^\s*/.exec(l.raw)![0]}MACAddress=${byOld.targetMac}` };
        const nameKey = (l.section === "Match" && (l.key === "Name" || l.key === "OriginalName")) || (l.section === "Link" && l.key === "Name") || (l.section === "Network" && NETWORK_KEYS.includes(l.key));
        const macKey = (l.section === "Match" && (l.key === "MACAddress" || l.key === "PermanentMACAddress")) || (l.section === "Link" && l.key === "MACAddress");
        let value = nameKey ? renameWords(l.value, r.names) : macKey ? replaceMacs(l.value, r.macs) : l.value;
        // Name=en* matched the old names: the new ones join the list, the patterns stay
        // (a list that starts with "!" is inverted as a whole: it is left as it is)
        if (l.section === "Match" && l.key === "Name" && !l.value.trim().startsWith("!")) value = [value, ...namesToAdd(l.value.split(/\s+/).filter(Boolean), r.names)].join(" ");
        return value === l.value ? l : { ...l, value, raw: l.raw.slice(0, l.raw.length - l.value.length) + value };
      });
      return { after: k.toString(), why: "systemd-networkd matches the new names and MACs" };
    },
  }),
});
