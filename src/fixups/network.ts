// The network step: NICs named eth0, eth1... by their target MAC, and each source interface's
// configuration carried over to its new name and MAC in every system the guest uses.
import { FixupError } from "../protocol/codes.ts";
import type { Change } from "../engine/changes.ts";
import type { GuestView } from "../guest/view.ts";
import type { Inputs } from "../protocol/inputs.ts";
import { hasCloudInit, inspectNetwork } from "../network/inspect.ts";
import { renameNicsEnabled, resolveNics, type Resolution } from "../network/mapping.ts";
import { editsToChanges, renamesOf, rewriteIfcfg, rewriteIfupdown, rewriteKeyfiles, rewriteNetplan, rewriteNetworkd, rewriteWicked } from "../network/rewrite.ts";
import { cloudInitChange, planPins } from "../network/pin.ts";
import type { FixupStep } from "./types.ts";

export async function resolveGuestNics(view: GuestView, inputs: Inputs): Promise<Resolution> {
  return resolveNics(await inspectNetwork(view), inputs);
}

export function describeNic(n: Resolution["nics"][number]): string {
  const how = { mac: "found by MAC", inventory: "named by source.interfaces", name: "found by name", none: "not found" }[n.foundBy];
  return `${n.sourceName ?? "?"} (${n.sourceMac}) -> ${n.newName} (${n.targetMac}), ${how}${n.configured ? "" : ", no configuration"}`;
}

export const network: FixupStep = {
  name: "network",
  title: "name NICs by MAC (eth0, eth1...) and carry each interface's configuration over",
  fatal: false,
  failCode: "NETWORK_FAILED",

  async validate({ info, inputs }) {
    if (!inputs.network.interfaces.length) return;
    // validation runs before any change: the inspection of the guest is still current
    const res = resolveNics(info.network, inputs);
    if (res.errors.length) throw new FixupError("INPUT_CONTRADICTORY", res.errors.join("; "), "network");
  },

  async plan({ view, inputs, log }) {
    if (!inputs.network.interfaces.length) return { changes: [], warnings: [], skipped: "network-interface-map.json lists no NICs" };
    const res = await resolveGuestNics(view, inputs);
    if (res.errors.length) throw new FixupError("INPUT_CONTRADICTORY", res.errors.join("; "), "network");
    for (const n of res.nics) log.info(`network: ${describeNic(n)}`);
    const rename = renameNicsEnabled(inputs);
    const r = renamesOf(res.nics);
    const edits = [
      ...(await rewriteIfcfg(view, r)),
      ...(await rewriteWicked(view, r)),
      ...(await rewriteKeyfiles(view, r)),
      ...(await rewriteIfupdown(view, r)),
      ...(await rewriteNetplan(view, r)),
      ...(await rewriteNetworkd(view, r)),
    ];
    const moved = await editsToChanges(view, edits);
    const pins = await planPins(view, r, rename);
    const changes: Change[] = [...moved.changes, ...pins.changes];
    if (await hasCloudInit(view)) changes.push(cloudInitChange());
    return { changes, warnings: [...res.warnings, ...moved.warnings, ...pins.warnings] };
  },
};
