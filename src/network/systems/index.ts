// Every network configuration system osam-fixup knows, in the order inspection merges what
// they say (the first MAC found for an interface wins) and the network step plans their edits.
// A new system is a file beside this one and a line here.
import { ifcfg } from "./ifcfg.ts";
import { wicked } from "./wicked.ts";
import { nmKeyfile } from "./nm-keyfile.ts";
import { ifupdown } from "./ifupdown.ts";
import { netplan } from "./netplan.ts";
import { networkd } from "./networkd.ts";
import { iftab } from "./iftab.ts";
import { resolver } from "./resolver.ts";
import { udev } from "./udev.ts";

export const NET_SYSTEMS = [ifcfg, wicked, nmKeyfile, ifupdown, netplan, networkd, iftab, resolver, udev] as const;

export type NetSystem = (typeof NET_SYSTEMS)[number]["name"];
export type { NetworkSystem } from "./system.ts";
