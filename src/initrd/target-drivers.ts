// The kernel modules the fixup VM itself drives the guest's disks with. In agent mode the fixup
// VM is the target VM, so these are the target's disk drivers whatever its controller: what a
// host-only build (MODULES=dep, dracut --hostonly) picks when it runs there. An image that is
// kept or completed instead of rebuilt must hold them as well as the list of drivers.ts: a
// target controller the list does not name (an NVMe disk) must not be left out because no
// tool looked at the hardware.
import { readdirSync, realpathSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import type { KnownDevice } from "../guest/devices.ts";
import { normModule } from "./modules.ts";

function linkName(p: string): string | undefined {
  try {
    return basename(realpathSync(p));
  } catch {
    return undefined;
  }
}

/**
 * Modules of every device above a block device in sysfs (the disk, its SCSI or NVMe device, the
 * host adapter's PCI function), through device-mapper and md to the disks underneath.
 */
function modulesAbove(name: string, sys: string, out: Set<string>, seen: Set<string>): void {
  if (seen.has(name)) return;
  seen.add(name);
  let p: string;
  try {
    p = realpathSync(join(sys, "class/block", name));
  } catch {
    return;
  }
  let slaves: string[] = [];
  try {
    slaves = readdirSync(join(p, "slaves"));
  } catch {
    // a disk or partition has none
  }
  for (const s of slaves) modulesAbove(s, sys, out, seen);
  // built-in drivers have no module link: nothing to carry
  for (let d = p; d.startsWith(join(sys, "devices") + "/"); d = dirname(d)) {
    const m = linkName(join(d, "driver/module"));
    if (m) out.add(normModule(m));
  }
}

/** The modules under the guest's block devices as the fixup VM sees them (from blkid discovery only). */
export function diskDriverModules(devices: KnownDevice[], sys = "/sys", dev = "/dev"): string[] {
  const out = new Set<string>();
  const seen = new Set<string>();
  for (const d of devices) {
    if (d.from !== "blkid" || !d.target) continue;
    const name = linkName(d.target.startsWith("/dev/") ? join(dev, d.target.slice(5)) : d.target);
    if (name) modulesAbove(name, sys, out, seen);
  }
  return [...out].sort();
}
