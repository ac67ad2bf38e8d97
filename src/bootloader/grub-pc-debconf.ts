// Debian's grub-pc package remembers in debconf where GRUB's BIOS boot code goes
// (grub-pc/install_devices), and every later upgrade of grub-pc reinstalls it there. Left
// naming the source's disks (/dev/vda), the first upgrade on the target finds none of them:
// unattended, it installs nowhere, and the new GRUB modules in /boot then no longer match the
// old core.img in the MBR, which stops the next boot. The value becomes the disks stage 1
// installed GRUB to, as the target VM names them.
import type { Change } from "../engine/changes.ts";
import type { FixupContext } from "../fixups/types.ts";

export const DEBCONF_DB = "/var/cache/debconf/config.dat";
const QUESTION = "grub-pc/install_devices";

/** The byte range of one field's value inside a debconf record database. */
interface FieldAt { start: number; end: number; value: string }

/**
 * The Value of question `name` in a debconf config.dat (RFC-822-like records, one per
 * question, separated by blank lines). undefined when the question or its Value is absent.
 */
export function findDebconfValue(db: string, name: string): FieldAt | undefined {
  const records = db.split(/\n(?=\n)/);
  let offset = 0;
  for (const rec of records) {
    const head = rec.replace(/^\n+/, "");
    const lead = rec.length - head.length;
    if (head.startsWith(`Name: ${name}\n`) || head === `Name: ${name}`) {
      const m = /^Value:[ \t]?(.*)$/m.exec(head);
      if (!m) return undefined;
      const start = offset + lead + m.index + m[0].length - m[1]!.length;
      return { start, end: start + m[1]!.length, value: m[1]! };
    }
    offset += rec.length + 1;
  }
  return undefined;
}

/** The change that points grub-pc's install devices at `targets` (the devices grub-install ran on). */
export async function planGrubPcDebconf(ctx: FixupContext, targets: string[], warnings: string[]): Promise<Change | undefined> {
  if (ctx.info.profile.packageFormat !== "deb" || !targets.length) return undefined;
  const bytes = await ctx.view.readBytes(DEBCONF_DB);
  if (!bytes) return undefined;
  // latin1 keeps every byte of a database whose other records are not UTF-8
  const db = bytes.toString("latin1");
  const field = findDebconfValue(db, QUESTION);
  if (!field || !field.value.trim()) return undefined;
  const was = field.value.split(",").map((d) => d.trim()).filter(Boolean);
  const now = targets.join(", ");
  if (was.join(", ") === now) return undefined;
  const dropped = was.filter((d) => !targets.includes(d));
  if (dropped.some((d) => !/^\/dev\//.test(d))) {
    warnings.push(`${DEBCONF_DB}: ${QUESTION} is "${field.value}", which is no device list; left as it is`);
    return undefined;
  }
  return {
    action: "write",
    path: DEBCONF_DB,
    content: Buffer.from(db.slice(0, field.start) + now + db.slice(field.end), "latin1"),
    reason: `grub-pc's upgrades reinstall GRUB on ${now}, where stage 1 installed it, instead of the source's ${was.join(", ")} (a GRUB upgrade that finds none of its devices leaves the MBR's boot code older than the modules in /boot)`,
  };
}
