// md RAID arrays are assembled from mdadm.conf, and the initramfs carries a copy of it. A
// `DEVICE /dev/vd*` line or an ARRAY's `devices=/dev/vda1,/dev/vdb1` names the source's disks,
// so on PVSCSI nothing is scanned or nothing matches, and the root array never assembles.
// Arrays are left to be found by their UUID: DEVICE lines that name source disks become
// `DEVICE partitions containers` (mdadm's own default), devices= goes from every ARRAY that
// has another identity, and an ARRAY with none gets the UUID its members report (blkid on the
// replica, else the source inventory). An array that stays unidentifiable stops the run.
import type { Change } from "../engine/changes.ts";
import { FixupError } from "../protocol/codes.ts";
import type { FixupContext, KnownDevice } from "./types.ts";

export const MDADM_CONFS = ["/etc/mdadm.conf", "/etc/mdadm/mdadm.conf"];

/** Names and globs of disks whose names depend on the source's controller. */
const SOURCE_DISK = /^\/dev\/(?:[shv]d|xvd|nvme|mmcblk)/;
const SCAN_ALL = "DEVICE partitions containers";
/** What identifies an array without naming a device (mdadm.conf(5)); keys are case-blind. */
const IDENTITY = /^(?:uuid|name|super-minor)=/i;

/** mdadm writes an array UUID as four groups of eight hex digits; blkid and lsblk with dashes. */
export function mdadmUuid(uuid: string): string | undefined {
  const hex = uuid.replace(/[-:]/g, "").toLowerCase();
  return /^[0-9a-f]{32}$/.test(hex) ? hex.match(/.{8}/g)!.join(":") : undefined;
}

/** The array UUID the members report, when they all report the same one. */
function uuidOfMembers(members: string[], devices: KnownDevice[]): string | undefined {
  const found = new Set<string>();
  for (const m of members) {
    const d = devices.find((x) => x.source === m && x.fsType === "linux_raid_member" && x.uuid);
    const u = d?.uuid ? mdadmUuid(d.uuid) : undefined;
    if (!u) return undefined;
    found.add(u);
  }
  return found.size === 1 ? [...found][0] : undefined;
}

/** One configuration entry: its keyword line and the continuation lines after it. */
interface Entry {
  start: number;
  lines: string[];
}

function entries(lines: string[]): Entry[] {
  const out: Entry[] = [];
  lines.forEach((l, i) => {
    // a line starting with white space continues the one before (comments and blanks end it)
    if (/^\s/.test(l) && l.trim() && !l.trim().startsWith("#") && out.length) out[out.length - 1]!.lines.push(l);
    else out.push({ start: i, lines: [l] });
  });
  return out;
}

const words = (e: Entry): string[] => e.lines.join(" ").replace(/#.*$/, "").trim().split(/\s+/).filter(Boolean);

/** The new lines of one entry, or undefined when it stays as it is. */
function editEntry(file: string, e: Entry, devices: KnownDevice[], notes: string[]): string[] | undefined {
  const w = words(e);
  const keyword = w[0]?.toUpperCase() ?? "";
  if (keyword.startsWith("DEV") && "DEVICE".startsWith(keyword)) {
    if (!w.slice(1).some((x) => SOURCE_DISK.test(x))) return undefined;
    notes.push(`${file}: ${w.join(" ")} scans only the source's disk names`);
    return [SCAN_ALL];
  }
  if (!(keyword.startsWith("ARR") && "ARRAY".startsWith(keyword))) return undefined;
  const devs = w.find((x) => /^devices=/i.test(x));
  if (!devs) return undefined;
  const members = devs.slice(devs.indexOf("=") + 1).split(",").filter(Boolean);
  let added: string | undefined;
  if (!w.some((x) => IDENTITY.test(x))) {
    const uuid = uuidOfMembers(members, devices);
    if (!uuid) {
      throw new FixupError(
        "MD_ARRAY_UNIDENTIFIED",
        `${file}: the array ${w[1] ?? ""} is identified only by its devices (${members.join(",")}), which get other names on the target, and no UUID is known for them; add its UUID to the ARRAY line (mdadm --detail --scan on the source prints it), or list the members with their UUIDs in system-configuration.json (blockDevices, fsType linux_raid_member), and run again`,
      );
    }
    added = `UUID=${uuid}`;
  }
  notes.push(`${file}: ARRAY ${w[1] ?? ""} named its members ${members.join(",")}`);
  // drop the devices= word where it stands, keeping the rest of each line as it was
  const out = e.lines.map((l) => l.replace(/(\s+)devices=\S*/i, "").replace(/^devices=\S*\s*/i, "")).filter((l, i) => i === 0 || l.trim() !== "");
  if (added) out[0] = out[0]!.replace(/^(\s*\S+(?:\s+\/\S+)?)/, `$1 ${added}`);
  return out;
}

/** The changes that make every mdadm.conf assemble by UUID. */
export async function planMdadmConf(ctx: FixupContext): Promise<Change[]> {
  const changes: Change[] = [];
  for (const file of MDADM_CONFS) {
    if ((await ctx.view.kind(file)) !== "file") continue;
    const text = (await ctx.view.readText(file))!;
    const lines = text.split("\n");
    const notes: string[] = [];
    const out: string[] = [];
    let changed = false;
    let scanAll = false;
    for (const e of entries(lines)) {
      let edited = editEntry(file, e, ctx.devices, notes);
      if (edited?.[0] === SCAN_ALL) {
        // several DEVICE lines for source disks become one
        if (scanAll) edited = [];
        scanAll = true;
      }
      if (edited) changed = true;
      out.push(...(edited ?? e.lines));
    }
    if (changed) changes.push({ action: "write", path: file, content: out.join("\n"), reason: `md RAID arrays assembled by UUID, not by the source's disk names (${notes.map((n) => n.slice(file.length + 2)).join("; ")})` });
  }
  return changes;
}
