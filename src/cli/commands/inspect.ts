import { GuestRoot } from "../../guest/guest-root.ts";
import { DiskView } from "../../guest/view.ts";
import { inspectGuest, type GuestInfo } from "../../guest/inspect.ts";
import { guestFacts } from "../../agent/stage1.ts";
import { type Command, noPositionals, need, parse } from "../args.ts";
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { checkRoot } from "./common.ts";
import { UsageError } from "../args.ts";
import { FixupError } from "../../protocol/codes.ts";
import { FIXUP_FILES } from "../../protocol/files.ts";
import { parseInput, type Inputs } from "../../protocol/inputs.ts";
import { NetworkInterfaceMap, SystemConfiguration } from "../../protocol/schemas.ts";
import { describeNic, resolveNics, type Resolution } from "../../network/mapping.ts";

const usage = `Usage: osam-fixup inspect --root DIR [--inputs DIR] [--json]

Reads a mounted guest and prints what osam-fixup sees in it: OS family, id and version;
init system; kernels and their initramfs images; the initramfs tool; the boot loader and
firmware; fstab entries; and every network interface the guest configures, with its MAC and
the files that configure it. Changes nothing.

  --root DIR   the guest's root filesystem, mounted (with /boot, /boot/efi inside it)
  --inputs DIR also show which guest interface each entry of network-interface-map.json
               is, and what the network step would warn about or refuse
  --json       print the facts as JSON`;

/** The two maps the network mapping needs; system-configuration.json is optional here. */
function mappingInputs(dir: string): Pick<Inputs, "network" | "system"> {
  const d = resolve(dir);
  try {
    const net = join(d, FIXUP_FILES.networkInterfaceMap);
    if (!existsSync(net)) throw new UsageError(`--inputs ${dir}: no ${FIXUP_FILES.networkInterfaceMap}`);
    const sys = join(d, FIXUP_FILES.systemConfiguration);
    return {
      network: parseInput(FIXUP_FILES.networkInterfaceMap, NetworkInterfaceMap, readFileSync(net)),
      system: existsSync(sys) ? parseInput(FIXUP_FILES.systemConfiguration, SystemConfiguration, readFileSync(sys)) : { migrationId: "inspect", source: { firmware: "bios" }, target: { firmware: "bios", scsiController: "pvscsi", nicModel: "vmxnet3" } },
    };
  } catch (e) {
    if (e instanceof FixupError) throw new UsageError(`bad input (code ${e.code}): ${e.message}`);
    throw e;
  }
}

function netRole(n: GuestInfo["network"][number]): string {
  const parts = [n.kind && n.kind !== "ethernet" ? n.kind : undefined, n.parent ? `on ${n.parent}` : undefined, n.master ? `member of ${n.master}` : undefined].filter(Boolean);
  return parts.length ? `  [${parts.join(", ")}]` : "";
}

export function formatMapping(r: Resolution): string {
  return [
    "Network mapping (network-interface-map.json):",
    ...(r.nics.length ? r.nics.map((n) => `  [${n.index}] ${describeNic(n)}`) : ["  (no NICs in the map)"]),
    ...r.errors.map((e) => `  error: ${e}`),
    ...r.warnings.map((w) => `  warning: ${w}`),
  ].join("\n");
}

export function formatInfo(i: GuestInfo): string {
  const lines = [
    `OS:          ${i.os.name} (family ${i.os.family}, id ${i.os.id}, version ${i.os.version || "?"}; from ${i.os.from || "nothing"})`,
    `Init:        ${i.init}`,
    `Firmware:    ${i.firmware}`,
    `Boot loader: ${i.bootloader.kind}${i.bootloader.configs.length ? ` (${i.bootloader.configs.join(", ")})` : ""}${i.bootloader.blsEntries.length ? `, ${i.bootloader.blsEntries.length} BLS entries` : ""}`,
    `Initramfs:   ${i.initrdTool}`,
    `Kernels:`,
    ...(i.kernels.length ? i.kernels.map((k) => `  ${k.version}  image ${k.image ?? "-"}  initramfs ${k.initrd ?? "(none)"}`) : ["  (none found)"]),
    `fstab:`,
    ...(i.fstab.length ? i.fstab.map((e) => `  ${e.spec}  ${e.file}  ${e.vfstype}  ${e.options}`) : ["  (no /etc/fstab entries)"]),
    `Network interfaces:`,
    ...(i.network.length ? i.network.map((n) => `  ${n.name.padEnd(12)} ${(n.mac ?? "(no MAC in config)").padEnd(18)} ${n.configs.map((c) => `${c.system}:${c.file}`).join(", ")}${netRole(n)}`) : ["  (none configured)"]),
  ];
  if (i.selinux) lines.push(`SELinux:     ${i.selinux}`);
  return lines.join("\n");
}

export const inspectCommand: Command = {
  name: "inspect",
  summary: "show what osam-fixup sees in a mounted guest",
  usage,
  async run(argv) {
    const { values, positionals, help } = parse(argv, { root: { type: "string" }, inputs: { type: "string" }, json: { type: "boolean" } }, usage);
    if (help) {
      console.log(usage);
      return 0;
    }
    noPositionals(positionals, usage);
    const root = checkRoot(need(values.root, "--root", usage));
    const info = await inspectGuest(new DiskView(new GuestRoot(root)));
    const mapping = typeof values.inputs === "string" ? resolveNics(info.network, mappingInputs(values.inputs)) : undefined;
    if (values.json) {
      const facts = guestFacts(info);
      facts.network = info.network;
      console.log(JSON.stringify({ ...facts, ...(mapping ? { networkMapping: mapping } : {}) }, null, 2));
    } else console.log(formatInfo(info) + (mapping ? "\n" + formatMapping(mapping) : ""));
    return 0;
  },
};
