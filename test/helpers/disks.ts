// Disks in memory for the engine's boot-code backups, as a command runner that runs nothing
// stands in for the guest's tools: golden and unit tests never touch a host device.
import type { DiskAccess, Range } from "../../src/bootloader/boot-area.ts";

/** An MBR disk of `size` bytes with one partition from sector 2048, the gap filled with `fill`. */
export function mbrDisk(size = 4 << 20, fill = 0): Buffer {
  const b = Buffer.alloc(size, 0);
  b.fill(fill, 0, 440);
  b.fill(fill, 512, 2048 * 512);
  b.writeUInt32LE(0x1234abcd, 440); // disk signature
  b[446 + 4] = 0x83;
  b.writeUInt32LE(2048, 446 + 8);
  b.writeUInt32LE(size / 512 - 2048, 446 + 12);
  b[510] = 0x55;
  b[511] = 0xaa;
  return b;
}

export interface MemoryDisks extends DiskAccess {
  disks: Map<string, Buffer>;
  writes: string[];
}

/** Disks by device name; a device not given is a fresh MBR disk. `refuse` lists refused devices. */
export function memoryDisks(given: Record<string, Buffer> = {}, refused: string[] = []): MemoryDisks {
  const disks = new Map(Object.entries(given));
  const disk = (d: string): Buffer => {
    let b = disks.get(d);
    if (!b) disks.set(d, (b = mbrDisk()));
    return b;
  };
  const writes: string[] = [];
  return {
    disks,
    writes,
    size: (d) => disk(d).length,
    read: (d, ranges: Range[]) => Buffer.concat(ranges.map(([o, l]) => Buffer.from(disk(d).subarray(o, o + l)))),
    write: (d, ranges: Range[], data) => {
      let at = 0;
      for (const [o, l] of ranges) {
        data.copy(disk(d), o, at, at + l);
        at += l;
      }
      writes.push(d);
    },
    refuse: (_root, d) => (refused.includes(d) ? `${d} refused by the test` : undefined),
  };
}
