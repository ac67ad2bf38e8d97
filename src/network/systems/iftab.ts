// Old MAC-to-name maps: /etc/iftab (ifrename, Ubuntu before udev's persistent-net rules) and
// /etc/mactab (nameif, busybox): one "name [mac] MAC" line per NIC. Left as they were they
// would hand the old names to NICs the target does not have, or fight the MAC pins.
import { replaceMacs, renameWords, normMac } from "../names.ts";
import { editNonComment, netSystem, rewriteFiles } from "./system.ts";

const FILES = ["/etc/iftab", "/etc/mactab"];

export const iftab = netSystem({
  name: "iftab",
  files: FILES,

  async inspect(view, add) {
    for (const file of FILES) {
      const t = (await view.kind(file)) === "file" ? await view.readText(file) : undefined;
      for (const l of (t ?? "").split("\n")) {
        const w = l.replace(/#.*/, "").trim().split(/\s+/);
        const mac = w.slice(1).find((x) => normMac(x));
        if (w[0] && mac) add(w[0], file, { mac });
      }
    }
  },

  rewrite: rewriteFiles({
    list: async (view) => {
      const out: string[] = [];
      for (const f of FILES) if ((await view.kind(f)) === "file") out.push(f);
      return out;
    },
    edit: (before, file, r) => ({ after: editNonComment(before, (l) => replaceMacs(renameWords(l, r.names), r.macs)), why: `${file} names each NIC by its target MAC and new name` }),
  }),
});
