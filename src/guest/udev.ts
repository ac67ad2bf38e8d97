// Whether udev still has work to do for the replica disks before they are probed. Coldplug at
// the fixup VM's boot has processed the disks attached at power on, so a trigger and a settle
// (two process starts, 0.9 s in the fixup VM) are needed only for a disk udev has no record of
// (hot-added late) or while its queue holds events.
import { existsSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";

/** Why udev must be triggered and waited for (undefined: it has processed every device). */
export function udevPending(devices: string[], sys = "/sys", udev = "/run/udev"): string | undefined {
  if (existsSync(join(udev, "queue"))) return "udev has events queued";
  for (const d of devices) {
    let majMin: string;
    try {
      majMin = readFileSync(join(sys, "class/block", basename(d), "dev"), "utf8").trim();
    } catch {
      return `${d} has no device number in sysfs`;
    }
    if (!existsSync(join(udev, "data", `b${majMin}`))) return `udev has no record of ${d} (${majMin})`;
  }
  return undefined;
}
