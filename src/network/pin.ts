// Pins each target NIC to its new name by MAC, from the initramfs on: udev rules in
// /etc/udev/rules.d/70-persistent-net.rules (read by every udev since RHEL 6 / SLES 11, and
// copied into the initramfs by dracut and initramfs-tools), plus net.ifnames=0
// biosdevname=0 so that nothing else renames the NICs.
//
// Collisions: with net.ifnames=0 the kernel itself names NICs eth0, eth1... in probe order,
// and udev renames each NIC once, on its "add" event, failing if the name is taken. When two
// names swap (the NIC the kernel called eth0 must become eth1 and the other one eth0), each
// NIC that finds its name held by another steps aside to a temporary name outside the ethN
// namespace (osamnicN); the next "add" event, the coldplug that replays every device after
// the initramfs hands over to the real root, gives it its final name once that is free. A
// NIC whose name is free takes it at once; one the kernel already named right keeps it.
import { posix } from "node:path";
import type { Change } from "../engine/changes.ts";
import type { GuestView } from "../guest/view.ts";
import { UdevRulesFile, formatRule, ruleMacName, type UdevToken } from "../formats/udev-rules.ts";
import { planKernelArgs } from "../bootloader/cmdline.ts";
import type { NicPlan } from "./mapping.ts";
import type { Renames } from "./rewrite.ts";

export const UDEV_RULES_DIR = "/etc/udev/rules.d";
export const PERSISTENT_NET = `${UDEV_RULES_DIR}/70-persistent-net.rules`;
/** dracut installs 70-persistent-net.rules only when host-only; the pins must be there anyway. */
export const DRACUT_CONF = "/etc/dracut.conf.d/70-osam-persistent-net.conf";
export const CLOUD_INIT_CFG = "/etc/cloud/cloud.cfg.d/99-osam-disable-network-config.cfg";
const BEGIN = "# osam-fixup: begin";
const END = "# osam-fixup: end";
export const NAME_ARGS = { "net.ifnames": "0", biosdevname: "0" } as const;

export function tempName(n: NicPlan): string {
  return `osamnic${n.index}`;
}

export function pinRules(nics: NicPlan[]): string[] {
  const lines = [
    `${BEGIN} (NIC names for the target VM, pinned by MAC from network-interface-map.json)`,
    "# A NIC keeps the name the kernel gave it if that is its name, takes its name if it is free,",
    "# and otherwise steps aside to a temporary name (osamnicN) until its next \"add\" event (the",
    "# coldplug after the initramfs), so that names which swap never collide.",
  ];
  for (const n of nics) {
    const base: UdevToken[] = [
      { key: "SUBSYSTEM", op: "==", value: "net" },
      { key: "ACTION", op: "==", value: "add" },
      { key: "DRIVERS", op: "==", value: "?*" },
      { key: "ATTR", attr: "type", op: "==", value: "1" },
      { key: "ATTR", attr: "address", op: "==", value: n.targetMac },
    ];
    const sys = `/sys/class/net/${n.newName}`;
    lines.push(`# ${n.newName}: target MAC ${n.targetMac}${n.sourceName ? `, was ${n.sourceName} (${n.sourceMac})` : ` (source ${n.sourceMac})`}`);
    lines.push(formatRule([...base, { key: "KERNEL", op: "==", value: n.newName }, { key: "NAME", op: "=", value: n.newName }]));
    lines.push(formatRule([...base, { key: "KERNEL", op: "!=", value: n.newName }, { key: "TEST", op: "!=", value: sys }, { key: "NAME", op: "=", value: n.newName }]));
    lines.push(formatRule([...base, { key: "KERNEL", op: "!=", value: n.newName }, { key: "TEST", op: "==", value: sys }, { key: "NAME", op: "=", value: tempName(n) }]));
  }
  lines.push(END);
  return lines;
}

/** Comment lines the persistent-net generator writes above each rule it adds. */
const GENERATOR_COMMENT = /^#\s*(PCI|USB|net|Xen|virtio|PCMCIA|SDIO|platform)\b.*device|^#\s*(PCI|USB) device 0x/i;

/**
 * Drops the rules that would name the mapped NICs otherwise (stale rules for the source MACs,
 * rules that claim one of the new names) and a previous osam block; returns the kept lines.
 */
function keepLines(text: string, drop: (mac: string | undefined, name: string | undefined) => boolean): { lines: string[]; dropped: string[] } {
  const f = new UdevRulesFile(text);
  const gone = new Set<number>();
  const dropped: string[] = [];
  let inBlock = false;
  f.lines.forEach((l, i) => {
    if (l.startsWith(BEGIN)) inBlock = true;
    if (inBlock) gone.add(i);
    if (l.startsWith(END)) inBlock = false;
  });
  for (const r of f.rules()) {
    if (gone.has(r.first)) continue;
    const { mac, name } = ruleMacName(r.tokens);
    if (!drop(mac, name)) continue;
    for (let i = r.first; i < r.first + r.count; i++) gone.add(i);
    dropped.push(r.text.trim());
    for (let i = r.first - 1; i >= 0 && GENERATOR_COMMENT.test(f.lines[i]!); i--) gone.add(i);
  }
  f.removeLines(gone);
  while (f.lines.length && f.lines[f.lines.length - 1]!.trim() === "") f.lines.pop();
  return { lines: f.lines, dropped };
}

export async function planPins(view: GuestView, r: Renames, rename: boolean): Promise<{ changes: Change[]; warnings: string[] }> {
  const changes: Change[] = [];
  const warnings: string[] = [];
  const sourceMacs = new Set(r.nics.map((n) => n.sourceMac));
  const targetMacs = new Set(r.nics.map((n) => n.targetMac));
  const newNames = new Set(r.nics.map((n) => n.newName));
  const oldNames = new Set(r.names.keys());
  const claims = (mac: string | undefined, name: string | undefined) => (mac !== undefined && (sourceMacs.has(mac) || targetMacs.has(mac))) || (name !== undefined && (newNames.has(name) || oldNames.has(name)));

  const existing = (await view.kind(PERSISTENT_NET)) === "file" ? await view.readText(PERSISTENT_NET) : undefined;
  if (rename) {
    const { lines, dropped } = keepLines(existing ?? "", claims);
    const out = [...lines, ...(lines.length ? [""] : []), ...pinRules(r.nics)].join("\n") + "\n";
    const why = dropped.length ? `pin ${r.nics.map((n) => `${n.newName}=${n.targetMac}`).join(", ")} by MAC; drop ${dropped.length} stale rule(s) for the source NICs` : `pin ${r.nics.map((n) => `${n.newName}=${n.targetMac}`).join(", ")} by MAC`;
    if ((await view.kind(PERSISTENT_NET)) === "symlink") warnings.push(`${PERSISTENT_NET} was a link (often to /dev/null, to mask the persistent-net generator); it is replaced by a file`);
    if ((await view.kind(PERSISTENT_NET)) === "symlink") changes.push({ action: "remove", path: PERSISTENT_NET, reason: "a masked rules file is replaced by the NIC pins" });
    changes.push({ action: "write", path: PERSISTENT_NET, content: out, ...(existing === undefined ? { mode: 0o644 } : {}), reason: why });
    if ((await view.exists("/usr/lib/dracut")) || (await view.exists("/etc/dracut.conf.d")) || (await view.exists("/etc/dracut.conf"))) {
      changes.push({
        action: "write",
        path: DRACUT_CONF,
        mode: 0o644,
        content: `# Written by osam-fixup: the NIC name pins must be in the initramfs even when it is not\n# built host-only (dracut then leaves 70-persistent-net.rules out).\ninstall_items+=" ${PERSISTENT_NET} "\n`,
        reason: "the initramfs carries the NIC name pins whether dracut builds it host-only or not",
      });
    }
    changes.push(...(await planKernelArgs(view, { set: { ...NAME_ARGS } }, "kernel names NICs eth0, eth1... (no predictable names) so the MAC pins decide every name")));
  } else if (existing !== undefined) {
    // names stay: the guest's own pins follow the NICs to their target MACs
    const f = new UdevRulesFile(existing);
    const re = new RegExp([...r.macs.keys()].join("|") || "(?!)", "gi");
    const after = f.lines.map((l) => (l.trim().startsWith("#") ? l : l.replace(re, (m) => r.macs.get(m.toLowerCase()) ?? m))).join("\n") + (existing.endsWith("\n") ? "\n" : "");
    if (after !== existing) changes.push({ action: "write", path: PERSISTENT_NET, content: after, reason: "the guest's own NIC name pins follow the NICs to their target MACs" });
  }
  if (!rename) warnings.push("options.renameNics is false: NIC names are not pinned; the target NICs get the names the guest's udev gives them, and configuration is only moved to the new MACs");

  // other rules files that would rename the mapped NICs (NAME= assignments run in order; a
  // later file or a NAME:= could undo the pins)
  if (rename) {
    for (const n of await view.readdir(UDEV_RULES_DIR)) {
      const file = posix.join(UDEV_RULES_DIR, n);
      if (file === PERSISTENT_NET || !n.endsWith(".rules") || (await view.kind(file)) !== "file") continue;
      const t = (await view.readText(file))!;
      if (!t.includes("NAME")) continue;
      const f = new UdevRulesFile(t);
      let touched = false;
      for (const rule of f.rules()) {
        const { mac, name } = ruleMacName(rule.tokens);
        if (!rule.tokens.some((x) => x.key === "SUBSYSTEM" && x.value === "net") || !claims(mac, name) || name === undefined) continue;
        for (let i = rule.first; i < rule.first + rule.count; i++) f.lines[i] = `# osam-fixup: superseded by ${PERSISTENT_NET}: ${f.lines[i]}`;
        touched = true;
      }
      if (touched) changes.push({ action: "write", path: file, content: f.toString(), reason: "a rule here would give a mapped NIC another name; commented out" });
    }
  }
  return { changes, warnings };
}

export function cloudInitChange(): Change {
  return {
    action: "write",
    path: CLOUD_INIT_CFG,
    mode: 0o644,
    content:
      "# Written by osam-fixup: the network configuration was carried over to the target VM's\n" +
      "# NICs; cloud-init must not render it again from the source's datasource on first boot.\n" +
      "network: {config: disabled}\n",
    reason: "cloud-init would re-render the network from the source's datasource and undo the carried-over configuration",
  };
}
