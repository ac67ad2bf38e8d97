// udev rules that name a NIC by its MAC (70-persistent-net.rules and the like). Inspection
// reads the names they give; the rewrite is the NIC pins (pin.ts), which replace the rules
// for the mapped NICs and comment out those elsewhere that would rename them.
import { UdevRulesFile, ruleMacName } from "../../formats/udev-rules.ts";
import { UDEV_RULES_DIR, planPins } from "../pin.ts";
import { filesIn, netSystem } from "./system.ts";

export const udev = netSystem({
  name: "udev",
  files: [`${UDEV_RULES_DIR}/*.rules`],

  async inspect(view, add) {
    // a link to /dev/null masks a rules file: filesIn takes regular files only
    for (const file of await filesIn(view, UDEV_RULES_DIR, (n) => n.endsWith(".rules"))) {
      const t = await view.readText(file);
      if (t === undefined || !t.includes("address")) continue;
      for (const r of new UdevRulesFile(t).rules()) {
        const { mac, name } = ruleMacName(r.tokens);
        if (mac && name && r.tokens.some((x) => x.key === "SUBSYSTEM" && x.value === "net")) add(name, file, { mac });
      }
    }
  },

  rewrite: (view, { renames, renameNics }) => planPins(view, renames, renameNics),
});
