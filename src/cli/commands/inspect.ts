import { GuestRoot } from "../../guest/guest-root.ts";
import { DiskView } from "../../guest/view.ts";
import { inspectGuest, type GuestInfo } from "../../guest/inspect.ts";
import { guestFacts } from "../../agent/stage1.ts";
import { type Command, noPositionals, need, parse } from "../args.ts";
import { checkRoot } from "./common.ts";

const usage = `Usage: osam-fixup inspect --root DIR [--json]

Reads a mounted guest and prints what osam-fixup sees in it: OS family, id and version;
init system; kernels and their initramfs images; the initramfs tool; the boot loader and
firmware; fstab entries; and every network interface the guest configures, with its MAC and
the files that configure it. Changes nothing.

  --root DIR   the guest's root filesystem, mounted (with /boot, /boot/efi inside it)
  --json       print the facts as JSON`;

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
    ...(i.network.length ? i.network.map((n) => `  ${n.name.padEnd(12)} ${(n.mac ?? "(no MAC in config)").padEnd(18)} ${n.configs.map((c) => `${c.system}:${c.file}`).join(", ")}`) : ["  (none configured)"]),
  ];
  if (i.selinux) lines.push(`SELinux:     ${i.selinux}`);
  return lines.join("\n");
}

export const inspectCommand: Command = {
  name: "inspect",
  summary: "show what osam-fixup sees in a mounted guest",
  usage,
  async run(argv) {
    const { values, positionals, help } = parse(argv, { root: { type: "string" }, json: { type: "boolean" } }, usage);
    if (help) {
      console.log(usage);
      return 0;
    }
    noPositionals(positionals, usage);
    const root = checkRoot(need(values.root, "--root", usage));
    const info = await inspectGuest(new DiskView(new GuestRoot(root)));
    console.log(values.json ? JSON.stringify(guestFacts(info), null, 2) : formatInfo(info));
    return 0;
  },
};
