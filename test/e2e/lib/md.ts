// The md RAID facts the deb12-md-raid1 image prints on its serial console before the boot
// marker (variants/deb12-md-raid1.customize.sh): one line "E2E-MD {json}" with /proc/mdstat
// and each array's members with the PCI driver under them. And the boot of a migrated md
// guest from its second disk alone, which is what GRUB on every member disk is for.
import assert from "node:assert/strict";
import { execa } from "execa";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { createDriver } from "../../../src/manager/drivers/index.ts";
import { parseMarker, type Marker } from "./marker.ts";
import { replicaPath, vmSpec, waitBoot, type BootOutcome, type E2eRun } from "./migration.ts";

export interface MdArray {
  name: string;
  level: string;
  /** /sys/block/<md>/md/array_state: clean, active... */
  state: string;
  /** How many members are missing ("0" when whole). */
  degraded: string;
  members: { name: string; driver: string }[];
}

export interface MdMarker {
  /** /proc/mdstat, lines joined by "|". */
  mdstat: string;
  arrays: MdArray[];
}

/** The last E2E-MD line of a console log. */
export function parseMdMarker(serial: string): MdMarker | undefined {
  const lines = serial.split(/\r?\n/).filter((l) => l.includes("E2E-MD {"));
  const last = lines.at(-1);
  if (!last) return undefined;
  try {
    return JSON.parse(last.slice(last.indexOf("{"))) as MdMarker;
  } catch {
    return undefined;
  }
}

/**
 * The root is an md RAID1 array with `members` members present, each on a disk of the target
 * controller; [U...] in /proc/mdstat says which are active.
 */
export function assertMdRoot(m: Marker, md: MdMarker | undefined, o: { members: number; of: number; driver: string }, at: string): void {
  assert.match(m.root, /^\/dev\/md/, `root is ${m.root}, not an md array ${at}`);
  assert.ok(md, `no E2E-MD line on the console ${at}`);
  const arr = md.arrays.find((a) => m.root.endsWith(a.name) || m.rootBlock === a.name) ?? md.arrays[0];
  assert.ok(arr, `no md array in /sys/block: ${md.mdstat} ${at}`);
  assert.equal(arr.level, "raid1", `${arr.name} ${at}`);
  assert.deepEqual(arr.members.map((x) => x.driver), Array<string>(o.members).fill(o.driver), `members of ${arr.name}: ${JSON.stringify(arr.members)} ${at}`);
  // the slots of the members in their roles' order: the second disk alone is [_U]
  const slots = /\[([U_]+)\]/.exec(md.mdstat)?.[1] ?? "";
  assert.deepEqual({ slots: slots.length, active: slots.replace(/_/g, "").length }, { slots: o.of, active: o.members }, `/proc/mdstat: ${md.mdstat} ${at}`);
  assert.equal(arr.degraded, String(o.of - o.members), `${arr.name} degraded ${at}`);
}

export interface SecondDiskBoot {
  outcome: BootOutcome;
  seconds: number;
  failure?: string;
  marker?: Marker;
  md?: MdMarker;
  serialPath: string;
}

/**
 * Boots the migrated guest with its first disk gone: only the second member's replica, at
 * scsi0:1 and first in the boot order, so the firmware runs the boot code stage 1 put there.
 * The overlay on top keeps the run's replica as it was.
 */
export async function bootSecondDiskAlone(run: E2eRun, timeoutMs: number): Promise<SecondDiskBoot> {
  const dir = join(run.runDir, "second-disk");
  const disk = join(run.runDir, "second-disk.qcow2");
  await execa("qemu-img", ["create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", replicaPath(run.runDir, 1), disk]);
  const driver = await createDriver("qemu", { qemu: { stateDir: dir, accel: "tcg" } });
  const spec = vmSpec(`${run.migrationId}-second`, run.image, [], undefined, {});
  const vm = await driver.createVm({ ...spec, disks: [{ unit: 1, path: disk, format: "qcow2" }] });
  try {
    await vm.setBootOrder([{ kind: "disk", unit: 1 }]);
    for (let i = 0; i < run.image.meta.nics.length; i++) await vm.setNicConnected(i, true);
    await vm.powerOn();
    const b = await waitBoot(vm, 0, timeoutMs);
    const serialPath = join(run.runDir, "second-disk.serial");
    writeFileSync(serialPath, b.serial);
    run.logs["second-disk serial"] = serialPath;
    return { outcome: b.outcome, seconds: b.seconds, ...(b.failure ? { failure: b.failure } : {}), marker: parseMarker(b.serial), md: parseMdMarker(b.serial), serialPath };
  } finally {
    await vm.powerOff().catch(() => undefined);
    await vm.close();
    await driver.close();
  }
}
