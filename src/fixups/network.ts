// The network step: NICs named eth0, eth1... by their target MAC, and each source interface's
// configuration carried over to its new name and MAC in every system the guest uses.
import { FixupError } from "../protocol/codes.ts";
import type { Change } from "../engine/changes.ts";
import type { GuestView } from "../guest/view.ts";
import type { Inputs } from "../protocol/inputs.ts";
import { hasCloudInit, inspectNetwork } from "../network/inspect.ts";
import { describeNic, renameNicsEnabled, resolveNics, type NicPlan, type Resolution } from "../network/mapping.ts";
import { renameWords } from "../network/names.ts";
import { editsToChanges, renamesOf, type FileEdit } from "../network/rewrite.ts";
import { cloudInitChange } from "../network/pin.ts";
import { NET_SYSTEMS } from "../network/systems/index.ts";
import type { FixupStep } from "./types.ts";

export async function resolveGuestNics(view: GuestView, inputs: Inputs): Promise<Resolution> {
  return resolveNics(await inspectNetwork(view), inputs);
}

/**
 * Configuration files no parser could read are left as they are, each named in a warning;
 * one that is all a mapped NIC has would leave it without its network, so that refuses.
 */
async function unreadableFiles(view: GuestView, nics: NicPlan[]): Promise<string[]> {
  const warnings: string[] = [];
  for (const s of NET_SYSTEMS) {
    if (!("unreadable" in s) || !s.unreadable) continue;
    for (const u of await s.unreadable(view)) {
      const text = (await view.readText(u.file)) ?? "";
      const names = (n: NicPlan) => (n.sourceName !== undefined && renameWords(text, new Map([[n.sourceName, "\0"]])) !== text) || text.toLowerCase().includes(n.sourceMac);
      const needs = nics.filter((n) => !n.configured && names(n));
      if (needs.length) {
        throw new FixupError("NETWORK_FAILED", `${u.file} is ${u.reason}; it is the only configuration of ${needs.map((n) => n.sourceName ?? n.sourceMac).join(", ")}, which would come up without its network: repair or remove the file and run again`, "network");
      }
      warnings.push(`${u.file} is left as it is (${s.name}): ${u.reason}`);
    }
  }
  return warnings;
}

export const network: FixupStep = {
  name: "network",
  title: "name NICs by MAC (eth0, eth1...) and carry each interface's configuration over",
  fatal: false,
  failCode: "NETWORK_FAILED",

  async validate({ info, inputs, view }) {
    if (!inputs.network.interfaces.length) return;
    // validation runs before any change: the inspection of the guest is still current
    const res = resolveNics(info.network, inputs);
    if (res.errors.length) throw new FixupError("INPUT_CONTRADICTORY", res.errors.join("; "), "network");
    await unreadableFiles(view, res.nics);
  },

  async plan({ view, inputs, log }) {
    if (!inputs.network.interfaces.length) return { changes: [], warnings: [], skipped: "network-interface-map.json lists no NICs" };
    const res = await resolveGuestNics(view, inputs);
    if (res.errors.length) throw new FixupError("INPUT_CONTRADICTORY", res.errors.join("; "), "network");
    for (const n of res.nics) log.info(`network: ${describeNic(n)}`);
    const input = { renames: renamesOf(res.nics), renameNics: renameNicsEnabled(inputs) };
    const edits: FileEdit[] = [];
    const other: Change[] = [];
    const warnings: string[] = await unreadableFiles(view, res.nics);
    for (const s of NET_SYSTEMS) {
      const out = await s.rewrite(view, input);
      edits.push(...(out.edits ?? []));
      other.push(...(out.changes ?? []));
      warnings.push(...(out.warnings ?? []));
    }
    // all edits at once: a name can move from one file to another (ifcfg-eth0 <-> ifcfg-eth1)
    const moved = await editsToChanges(view, edits);
    const changes: Change[] = [...moved.changes, ...other];
    if (await hasCloudInit(view)) changes.push(cloudInitChange());
    return { changes, warnings: [...res.warnings, ...moved.warnings, ...warnings] };
  },
};
