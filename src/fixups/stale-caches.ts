// Caches that pin the source's device names. RHEL 9 waits at boot for the devices listed in
// system.devices; blkid.tab and the LVM cache would keep pointing at /dev/vdX.
import type { FixupStep } from "./types.ts";

const STALE = [
  { path: "/etc/blkid.tab", why: "blkid cache of the source's device names" },
  { path: "/etc/blkid/blkid.tab", why: "blkid cache of the source's device names" },
  { path: "/etc/lvm/cache/.cache", why: "LVM device cache of the source's disks" },
  { path: "/etc/lvm/devices/system.devices", why: "LVM devices file lists the source's disks by their old IDs (LVM with a devices file, the default since lvm2 2.03.12, scans nothing else and the boot hangs)" },
];

export const staleCaches: FixupStep = {
  name: "stale-caches",
  title: "remove caches that pin the source's device names",
  fatal: false,
  failCode: "APPLY_FAILED",
  async plan({ view }) {
    const changes = [];
    for (const s of STALE) if (await view.kind(s.path)) changes.push({ action: "remove" as const, path: s.path, reason: s.why });
    return { changes, warnings: [] };
  },
};
