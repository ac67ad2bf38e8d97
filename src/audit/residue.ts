// The residue audit: after the steps have planned their edits, walk the would-be guest and find
// every reference that is still left to a source disk or a source NIC. A rewriter that does not
// know a file leaves the audit to catch what it left behind, so the audit reads every text
// file under /etc and every place a kernel command line lives, not a list of known files.
// Each reference is judged by where it stands: one that stops the boot (root, /usr, /boot, an
// fstab or crypttab line without nofail, the resume device, md assembly, an LVM filter, a
// mapped NIC's own configuration) is a blocker; one in a comment or a backup copy is
// harmless; anything else is reported with its file and line.
import { posix } from "node:path";
import type { GuestView } from "../guest/view.ts";
import { splitPartition, targetDiskNames } from "../guest/discover-names.ts";
import type { Inputs } from "../protocol/inputs.ts";
import { normMac } from "../network/names.ts";

export type LeftoverKind = "disk" | "nic-name" | "nic-mac";
export type Severity = "blocker" | "warning" | "harmless" | "accepted";

export interface Leftover {
  file: string;
  /** 1-based. */
  line: number;
  /** The reference as it stands in the file. */
  ref: string;
  kind: LeftoverKind;
  severity: Severity;
  /** Why it matters on the target (or why it does not). */
  why: string;
}

/** A source NIC as the network step will carry it over. */
export interface NicRename {
  sourceName?: string;
  newName: string;
  sourceMac: string;
  targetMac: string;
}

export interface AuditInput {
  view: GuestView;
  inputs: Pick<Inputs, "system" | "disks">;
  /** The mapped NICs; source NICs of the inventory that are not here are not migrated. */
  nics: NicRename[];
  /** Files (or file:line) the user accepts as they are: options.acceptLeftovers. */
  accept?: string[];
}

export interface AuditResult {
  leftovers: Leftover[];
  filesRead: number;
  /** Files passed over: too large, not text, or past the file limit. */
  passedOver: string[];
}

// bounds, so a hostile or huge /etc cannot stall stage 1 or exhaust its memory
const MAX_FILES = 20000;
const MAX_FILE_BYTES = 4 * 1024 * 1024;
/** fstab-like files are read whole however large they are: they are the boot. */
const ALWAYS_READ = new Set(["/etc/fstab", "/etc/crypttab"]);

/** Where kernel command lines and boot loader settings live outside /etc. */
const BOOT_PLACES = ["/boot/loader/entries", "/boot/grub", "/boot/grub2", "/boot/efi/EFI", "/efi/EFI"];
const BOOT_FILE = /(^|\/)(grub\.cfg|grubenv|menu\.lst|grub\.conf|[^/]+\.conf)$/;

/** Directories under /etc whose files are history or caches, never read at boot. */
const HISTORY = /^\/etc\/(lvm\/(archive|backup)\/|\.git\/|etckeeper\/|ssl\/|pki\/|ca-certificates\/|alternatives\/|selinux\/[^/]+\/(modules|policy|contexts\/files\/file_contexts\.bin))/;
const BACKUP_NAME = /\.(bak|orig|old|save|rpmsave|rpmnew|dpkg-old|dpkg-dist|dpkg-new|dpkg-bak|ucf-old|ucf-dist)$|~$|\.swp$/;

/** Network configuration: a leftover NIC name or MAC here leaves a mapped NIC unconfigured. */
const NET_CONFIG = /^\/etc\/(sysconfig\/network-scripts\/(ifcfg|route6?|rule6?)-|sysconfig\/network\/(ifcfg|ifroute)-|sysconfig\/networking\/|NetworkManager\/system-connections\/|network\/interfaces(\.d\/|$)|netplan\/|systemd\/network\/|udev\/rules\.d\/|iftab$|mactab$)/;

const DISK_TOKEN = /\/dev\/(?:disk\/by-(?:id|path)\/[^\s"',;)}\]]+|(?:x?vd|hd|sd)[a-z*?[\]]*\d*|nvme\d+n\d+(?:p\d+)?|mmcblk\d+(?:p\d+)?)/g;
/** by-id names derived from content, not from the hardware: they follow the data. */
const CONTENT_BY_ID = /^\/dev\/disk\/by-id\/(dm-uuid-|dm-name-|lvm-pv-uuid-|md-uuid-|md-name-)/;

export async function auditResidue(a: AuditInput): Promise<AuditResult> {
  const out: AuditResult = { leftovers: [], filesRead: 0, passedOver: [] };
  const matchers = buildMatchers(a);
  if (!matchers.length) return out;
  const files = await listFiles(a.view, out);
  const accept = new Set(a.accept ?? []);
  for (const file of files) {
    const data = await a.view.readBytes(file);
    if (!data) continue;
    if (data.length > MAX_FILE_BYTES && !ALWAYS_READ.has(file)) {
      out.passedOver.push(`${file} (${data.length} bytes)`);
      continue;
    }
    if (data.subarray(0, 8192).includes(0)) continue; // not text
    out.filesRead++;
    scanText(file, data.toString("utf8"), matchers, accept, out.leftovers);
  }
  return out;
}

interface Matcher {
  kind: LeftoverKind;
  re: RegExp;
  /** Decides about one match; undefined: not a leftover after all. */
  judge(ref: string): { why: string; net?: boolean } | undefined;
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** The NIC's name as a word; a VLAN (ens3.100) or alias (ens3:1) of it counts, ens33 does not. */
function nameRe(name: string): RegExp {
  return new RegExp(`(?<![A-Za-z0-9_])${escapeRe(name)}(?![A-Za-z0-9_])`, "g");
}

function buildMatchers(a: AuditInput): Matcher[] {
  const ms: Matcher[] = [];
  const newNames = targetDiskNames(a.inputs.disks);
  const targetNames = new Set(newNames.values());
  const inventory = new Set((a.inputs.system.source.blockDevices ?? []).map((b) => splitPartition(b.device).disk));
  ms.push({
    kind: "disk",
    re: DISK_TOKEN,
    judge(ref) {
      if (ref.startsWith("/dev/disk/")) {
        if (CONTENT_BY_ID.test(ref)) return undefined;
        return { why: `${ref} is named after the source's disk hardware (serial or bus path), which the target does not have` };
      }
      const { disk } = splitPartition(ref);
      const moved = newNames.get(disk);
      // an sd name that the target has too may be the new name a rewriter wrote: not judged
      if (targetNames.has(disk)) return undefined;
      if (moved !== undefined) return { why: `the source disk ${disk} is ${moved} on the target` };
      if (/^\/dev\/sd/.test(disk)) {
        if (!inventory.has(disk)) return undefined;
        return { why: `${disk} is a source disk that is not among the replica disks` };
      }
      return { why: inventory.has(disk) && !newNames.has(disk) ? `${disk} is a source disk that is not among the replica disks` : `${ref} is a source hypervisor's device name; the target's disks are ${[...targetNames].join(", ") || "named otherwise"}` };
    },
  });
  const mapped = new Set(a.nics.map((n) => n.sourceName).filter(Boolean));
  // in a swap (eth0 -> eth1, eth1 -> eth0) an old name is also a new one: only the MAC tells
  const newNics = new Set(a.nics.map((n) => n.newName));
  for (const n of a.nics) {
    if (n.sourceName && n.sourceName !== n.newName && !newNics.has(n.sourceName)) {
      const name = n.sourceName;
      ms.push({
        kind: "nic-name",
        re: nameRe(name),
        judge: () => ({ why: `the NIC ${name} is ${n.newName} on the target`, net: true }),
      });
    }
    if (normMac(n.sourceMac) !== normMac(n.targetMac)) {
      ms.push({
        kind: "nic-mac",
        re: new RegExp(`(?<![0-9A-Fa-f:])${n.sourceMac.split(/[:-]/).map(escapeRe).join("[:-]")}(?![0-9A-Fa-f:])`, "gi"),
        judge: () => ({ why: `the NIC with MAC ${n.sourceMac} has ${n.targetMac} on the target (${n.newName})`, net: true }),
      });
    }
  }
  for (const i of a.inputs.system.source.interfaces ?? []) {
    if (mapped.has(i.name) || newNics.has(i.name) || a.nics.some((n) => normMac(n.sourceMac) === normMac(i.mac ?? ""))) continue;
    // a bridge, bond, team or VLAN keeps its name on the target, over its ports' new names;
    // its MAC may be none of theirs (systemd-networkd gives a bond one of its own)
    if (i.kind !== undefined && i.kind !== "physical") continue;
    // not migrated: its configuration is inert on the target, but say where it is
    ms.push({
      kind: "nic-name",
      re: nameRe(i.name),
      judge: () => ({ why: `the source NIC ${i.name} is not in network-interface-map.json, so it does not exist on the target` }),
    });
  }
  return ms;
}

async function listFiles(view: GuestView, out: AuditResult): Promise<string[]> {
  const files: string[] = [];
  const walk = async (dir: string, depth: number, filter?: (p: string) => boolean): Promise<void> => {
    if (depth > 12) return;
    for (const [name, k] of await view.readdirKinds(dir)) {
      if (files.length >= MAX_FILES) {
        if (!out.passedOver.includes(`${dir}/... (more than ${MAX_FILES} files)`)) out.passedOver.push(`${dir}/... (more than ${MAX_FILES} files)`);
        return;
      }
      const p = posix.join(dir, name);
      if (HISTORY.test(p + "/") || HISTORY.test(p)) continue;
      if (k === "dir") await walk(p, depth + 1, filter);
      else if (k === "file" && (!filter || filter(p))) files.push(p);
    }
  };
  await walk("/etc", 0);
  for (const d of BOOT_PLACES) await walk(d, 0, (p) => BOOT_FILE.test(p));
  return files;
}

/** What a line is, for judging a reference in it. */
interface LineContext {
  comment: boolean;
}

function isComment(file: string, line: string): boolean {
  const t = line.trimStart();
  if (t.startsWith("#")) return true;
  if (t.startsWith(";") && /\.(nmconnection|conf|ini|network|netdev|link)$/.test(file)) return true;
  return false;
}

const NETPLAN_FILE = /^\/(etc|lib|run)\/netplan\/[^/]+\.ya?ml$/;

/** A netplan ID (`ens3:` with a `match:` below it) names an entry, not an interface. */
function netplanMatchedId(lines: string[], i: number, ref: string): boolean {
  const key = new RegExp(`^(\\s*)["']?${escapeRe(ref)}["']?\\s*:\\s*(#.*)?$`).exec(lines[i]!);
  if (!key) return false;
  const indent = key[1]!.length;
  for (let j = i + 1; j < lines.length; j++) {
    const l = lines[j]!;
    if (!l.trim() || l.trim().startsWith("#")) continue;
    const ind = /^\s*/.exec(l)![0].length;
    if (ind <= indent) return false;
    if (/^\s*match\s*:/.test(l)) return true;
  }
  return false;
}

function hasMatch(re: RegExp, line: string): boolean {
  re.lastIndex = 0;
  return re.test(line);
}

function scanText(file: string, text: string, ms: Matcher[], accept: Set<string>, out: Leftover[]): void {
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (!line.includes("/dev/") && !ms.some((m) => m.kind !== "disk" && hasMatch(m.re, line))) continue;
    const ctx: LineContext = { comment: isComment(file, line) };
    for (const m of ms) {
      m.re.lastIndex = 0;
      for (const hit of line.matchAll(m.re)) {
        const ref = hit[0];
        const j = m.judge(ref);
        if (!j) continue;
        const lo: Leftover = { file, line: i + 1, ref, kind: m.kind, severity: "warning", why: j.why };
        judge(lo, line, ctx, j.net === true);
        if (m.kind === "nic-name" && NETPLAN_FILE.test(file) && netplanMatchedId(lines, i, ref)) {
          lo.severity = "harmless";
          lo.why += "; it is only the netplan ID of an entry that matches its NIC by MAC";
        }
        if (lo.severity === "blocker" && (accept.has(file) || accept.has(`${file}:${i + 1}`))) {
          lo.severity = "accepted";
          lo.why += "; accepted in options.acceptLeftovers";
        }
        out.push(lo);
      }
    }
  }
}

const NOFAIL = (opts: string | undefined) => (opts ?? "").split(",").some((o) => o === "nofail" || o === "noauto" || o.startsWith("x-systemd.automount"));
const BOOT_MOUNTS = new Set(["/", "/usr", "/boot", "/boot/efi", "/efi", "/var"]);
/** Kernel arguments that name the devices the boot itself needs. */
const BOOT_ARG = /^(root|resume|cryptdevice|cryptopts|real_root|rd\.luks\.[a-z]+|rd\.md\.[a-z]+|rd\.lvm\.[a-z]+|rd\.dm\.[a-z]+|mdadm|crypt_root|netroot|rd\.neednet|ip|bootdev|ifname|bond|bridge|vlan)=/;
const CMDLINE_FILE = /^\/(etc\/default\/grub(\.d\/.*)?|etc\/kernel\/cmdline|etc\/sysconfig\/bootloader|boot\/loader\/entries\/.*\.conf|boot\/grub2?\/grubenv|boot\/grub\/(menu\.lst|grub\.conf)|boot\/efi\/EFI\/.*\.conf)$/;

function judge(lo: Leftover, line: string, ctx: LineContext, net: boolean): void {
  const f = lo.file;
  const fields = line.trim().split(/\s+/);
  const block = (why: string) => {
    lo.severity = "blocker";
    lo.why += `; ${why}`;
  };
  if (ctx.comment) {
    lo.severity = "harmless";
    lo.why += "; in a comment";
    return;
  }
  if (BACKUP_NAME.test(f)) {
    lo.severity = "harmless";
    lo.why += "; in a backup copy nothing reads";
    return;
  }
  if (lo.kind !== "disk") {
    if (net && NET_CONFIG.test(f)) block("the interface's own configuration: the NIC would come up without it");
    else if (net && CMDLINE_FILE.test(f)) block("on the kernel command line, which names the NIC for the initramfs");
    return;
  }
  if (f === "/etc/fstab") {
    // only the device field mounts: "-/dev/vdc1" or a mount point that holds the name is no reference
    if (fields[0] !== lo.ref) return;
    const mp = fields[1] ?? "";
    if (BOOT_MOUNTS.has(mp)) block(`${mp} is mounted from it: the boot stops`);
    else if (!NOFAIL(fields[3])) block(`${mp === "none" || fields[2] === "swap" ? "swap" : mp} is mounted from it without nofail: the boot waits, then stops in emergency mode`);
    return;
  }
  if (f === "/etc/crypttab") {
    if (!NOFAIL(fields[3])) block(`the encrypted volume ${fields[0] ?? ""} is opened from it without nofail: the boot waits for it`);
    return;
  }
  if (f === "/etc/mdadm.conf" || f === "/etc/mdadm/mdadm.conf") {
    if (/^(DEVICE|ARRAY)$/.test(fields[0] ?? "")) block("md arrays are assembled from these names at boot: none would assemble");
    return;
  }
  if (/^\/etc\/lvm\/lvm(local)?\.conf$/.test(f)) {
    if (/^\s*(global_)?filter\s*=/.test(line) || /^\s*"[ar]\|/.test(line)) block("an LVM filter: the physical volumes would not be scanned and the volume groups would not activate");
    return;
  }
  if (/^\/etc\/initramfs-tools\/(conf\.d\/|initramfs\.conf$)/.test(f) && /^\s*RESUME\s*=/.test(line)) {
    block("the resume device: the initramfs waits for it");
    return;
  }
  if (/^\/etc\/dracut\.conf(\.d\/.*)?$/.test(f) && /^\s*(add_device|kernel_cmdline)\s*\+?=/.test(line)) {
    block("dracut builds it into the initramfs, which waits for the device at boot");
    return;
  }
  if (/^\/etc\/systemd\/system\/.*\.(mount|swap)$/.test(f) && /^\s*What\s*=/.test(line)) {
    block("a systemd mount or swap unit on it: the boot waits for the device");
    return;
  }
  if (CMDLINE_FILE.test(f)) {
    const word = fields.find((w) => w.includes(lo.ref)) ?? "";
    if (BOOT_ARG.test(word.replace(/^["']|["']$/g, "").replace(/^([A-Z_]+|kernelopts)=["']?/, ""))) block(`${word.split("=")[0]} on the kernel command line: the boot waits for it`);
  }
}

/** One line for a person: where, what, why. */
export function describeLeftover(l: Leftover): string {
  return `${l.file}:${l.line}: ${l.ref}: ${l.why}`;
}
