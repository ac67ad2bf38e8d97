// blkid on the fixup VM: what each attached block device holds. `blkid -o export` prints
// KEY=value blocks separated by blank lines; values are shell-escaped (\ before specials).
import { execa } from "execa";

export interface BlkidEntry {
  device: string;
  uuid?: string;
  uuidSub?: string;
  partuuid?: string;
  label?: string;
  type?: string;
  ptuuid?: string;
}

export function parseBlkidExport(text: string): BlkidEntry[] {
  const out: BlkidEntry[] = [];
  for (const block of text.split(/\n\s*\n/)) {
    const kv = new Map<string, string>();
    for (const line of block.split("\n")) {
      const m = /^([A-Z_]+)=(.*)$/.exec(line.trim());
      if (m) kv.set(m[1]!, m[2]!.replace(/\\(.)/g, "$1"));
    }
    const device = kv.get("DEVNAME");
    if (!device) continue;
    const e: BlkidEntry = { device };
    const set = (k: keyof BlkidEntry, key: string) => {
      const v = kv.get(key);
      if (v !== undefined && v !== "") (e as unknown as Record<string, string>)[k] = v;
    };
    set("uuid", "UUID");
    set("uuidSub", "UUID_SUB");
    set("partuuid", "PARTUUID");
    set("label", "LABEL");
    set("type", "TYPE");
    set("ptuuid", "PTUUID");
    out.push(e);
  }
  return out;
}

/** At most this many blkid processes at a time: each start costs a tenth of a second in an emulated VM. */
const PARALLEL = 4;

/**
 * Probes the given devices directly (-p: no cache, which on a fixup disk would describe
 * some other VM's disks), a few at a time, in their order. blkid exits 2 when a device has
 * nothing recognisable on it.
 */
export async function probeDevices(devices: string[]): Promise<BlkidEntry[]> {
  const found: (BlkidEntry | undefined)[] = new Array<BlkidEntry | undefined>(devices.length);
  let next = 0;
  const worker = async () => {
    while (next < devices.length) {
      const i = next++;
      found[i] = await probeOne(devices[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL, devices.length) }, worker));
  return found.filter((e): e is BlkidEntry => e !== undefined);
}

async function probeOne(d: string): Promise<BlkidEntry | undefined> {
  const r = await execa("blkid", ["-p", "-o", "export", d], { reject: false });
  if (r.exitCode !== 0) return undefined;
  const e = parseBlkidExport(r.stdout)[0];
  if (!e) return undefined;
  // -p prints PART_ENTRY_UUID for the partition's own id; export mode may not say PARTUUID
  const pe = /^PART_ENTRY_UUID=(.*)$/m.exec(r.stdout)?.[1];
  if (pe && !e.partuuid) e.partuuid = pe;
  return { ...e, device: d };
}
