// Finding and mounting the guest on the fixup VM's disks (agent mode without --root):
// replica disks by SCSI address, md and LVM activated (LVM filtered to the replica disks so
// the fixup disk's own volume groups never clash), the root found by its content, mounted
// read-write (which replays an ext4 or xfs journal), then /boot, /boot/efi and the other
// fstab entries the fixups need, the chroot binds, and /dev/disk/by-uuid where no udev made
// it. close() undoes all of it in reverse order, also after a failure half-way.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join, posix } from "node:path";
import { Fstab } from "../formats/fstab.ts";
import { FixupError } from "../protocol/codes.ts";
import type { Inputs } from "../protocol/inputs.ts";
import { deviceOfSpec, specIdentity, type KnownDevice } from "../guest/devices.ts";
import { notWritable } from "./writable.ts";
import type { Logger } from "../util/log.ts";
import { bindChrootDirs } from "./binds.ts";
import { udevPending } from "./udev.ts";
import { probeDevices, type BlkidEntry } from "./blkid.ts";
import { host, unmount } from "./host-cmd.ts";
import type { LookAhead } from "./look-ahead.ts";
import { LINUX_FS, probeRoot } from "./root-probe.ts";
import { chooseRoot, locateDisks, mapPartitions, mdMembers, type RootCandidate } from "./discover.ts";
import { GuestRoot } from "./guest-root.ts";
import { type PhaseClock, timed } from "../util/timings.ts";

export interface OpenedGuest {
  /** Host directory where the guest's root is mounted, with /boot etc. and chroot binds. */
  root: string;
  /** What blkid says about the replica disks' filesystems, keyed by source device name. */
  devices: KnownDevice[];
  /** Unmounts everything this opened, in reverse order. Safe to call twice. */
  close(): Promise<void>;
}

export interface OpenOptions {
  /** sysfs to read SCSI addresses from (tests point it at a fake tree). */
  sys?: string;
  /** Where the guest is mounted; default /run/osam-fixup. */
  mountBase?: string;
  /** Leave the chroot binds out (tests that only look at the mounts). */
  noBinds?: boolean;
  /** udev's run directory (control socket, queue flag, device records); default /run/udev. */
  udevRun?: string;
  /** Records udev settle, discovery, the root probe, each mount and the binds (result.json timings). */
  clock?: PhaseClock;
  /** What was seen of the disks before BEGIN: taken instead of asking blkid and probing again. */
  ahead?: LookAhead;
}

/** Mount points under these are mounted when fstab lists them: what dracut, grub and the fixups touch. */
const NEEDED = ["/boot", "/efi", "/usr", "/var", "/opt", "/lib", "/lib64", "/etc"];
/** fstab options that mean something to mount(8) at boot but not to this one-off mount. */
const DROP_OPTS = new Set(["defaults", "noauto", "auto", "nofail", "_netdev", "user", "users", "owner", "group", "comment", "discard", "x-initrd.mount"]);

type Undo = { what: string; run: () => Promise<void> };

/** `lvm --config` text that shows LVM the given devices only (and not the fixup disk's). */
export function lvmFilterConfig(devices: string[], udev = true): string {
  const accept = devices.map((d) => `"a|^${d.replace(/[.+*?^$()[\]{}|\\]/g, "\\$&")}$|"`).join(", ");
  // without udevd nobody would answer LVM's udev cookies or make the /dev/mapper nodes
  const act = udev ? "" : " activation { udev_sync = 0 udev_rules = 0 }";
  return `devices { filter = [ ${accept}, "r|.*|" ] global_filter = [ ${accept}, "r|.*|" ] use_devicesfile = 0 } global { use_lvmetad = 0 }${act}`;
}

function mdArrays(): Set<string> {
  try {
    return new Set(readdirSync("/sys/block").filter((n) => n.startsWith("md")));
  } catch {
    return new Set();
  }
}

/** fstab options for a one-off mount: keep the filesystem's own (subvol=, ...), drop the boot-time ones. */
export function mountOptions(options: string): string[] {
  return options.split(",").filter((o) => o && !DROP_OPTS.has(o) && !o.startsWith("x-systemd.") && !o.startsWith("x-gvfs") && o !== "ro");
}

export function isNeeded(file: string): boolean {
  return NEEDED.some((n) => file === n || file.startsWith(n + "/"));
}

function toKnown(source: string, target: string, b: BlkidEntry | undefined): KnownDevice {
  return {
    source,
    target,
    ...(b?.uuid ? { uuid: b.uuid } : {}),
    ...(b?.partuuid ? { partuuid: b.partuuid } : {}),
    ...(b?.label ? { label: b.label } : {}),
    ...(b?.type ? { fsType: b.type } : {}),
    from: "blkid",
  };
}

/** Host device for an fstab spec, through what blkid saw (no udev needed). */
export function resolveSpec(spec: string, devices: KnownDevice[]): string | undefined {
  const s = spec.replace(/"/g, "");
  const d = deviceOfSpec(s, devices);
  if (d?.target || specIdentity(s)) return d?.target;
  return s.startsWith("/dev/mapper/") || /^\/dev\/[^/]+\/[^/]+$/.test(s) ? s : undefined;
}

export async function openGuest(inputs: Inputs, log: Logger, opts: OpenOptions = {}): Promise<OpenedGuest> {
  const sys = opts.sys ?? "/sys";
  const undo: Undo[] = [];
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    for (const u of undo.reverse()) {
      try {
        await u.run();
      } catch (e) {
        log.warn(`close: ${u.what}: ${(e as Error).message}`);
      }
    }
  };
  const fail = (code: "GUEST_MOUNT_FAILED" | "GUEST_NOT_FOUND", msg: string) => new FixupError(code, msg, "mount");
  try {
    const tDiscovery = Date.now();
    const located = locateDisks(inputs.disks, sys, (m) => log.warn(m));
    for (const d of located) log.info(`replica disk ${d.source} (scsi0:${d.unit}) is ${d.device} (${d.how})`);
    const parts = mapPartitions(located, sys);
    const udevRun = opts.udevRun ?? "/run/udev";
    if (existsSync(join(udevRun, "control"))) {
      const why = udevPending(parts.map((p) => p.target), sys, udevRun);
      if (why) {
        await timed(opts.clock, "udev-settle", async () => {
          log.info(`udev: ${why}: triggering the block devices and waiting`);
          await host(log, "udevadm", ["trigger", "--action=add", "--subsystem-match=block"], { reject: false });
          await host(log, "udevadm", ["settle", "--timeout=30"], { reject: false, timeoutMs: 40_000 });
        });
      } else log.info("udev: every replica disk and partition processed, nothing queued: no trigger");
    }
    const blk = await blkidOf(parts.map((p) => p.target), opts.ahead, log);
    const devices: KnownDevice[] = parts.map((p) => toKnown(p.source, p.target, blk.get(p.target)));

    // md before LVM: a volume group often sits on an array
    const raidMembers = parts.filter((p) => blk.get(p.target)?.type === "linux_raid_member").map((p) => p.target);
    const mdDevs: string[] = [];
    if (raidMembers.length) {
      const before = mdArrays();
      const conf = posix.join(mkdtempSync("/tmp/osam-mdadm-"), "mdadm.conf");
      // only the replica disks, and arrays named for another host assemble too
      writeFileSync(conf, `DEVICE ${raidMembers.join(" ")}\nHOMEHOST <ignore>\nAUTO +all\n`);
      const r = await host(log, "mdadm", ["--assemble", "--scan", `--config=${conf}`], { reject: false });
      rmSync(posix.dirname(conf), { recursive: true, force: true });
      for (const n of mdArrays()) if (!before.has(n)) mdDevs.push(`/dev/${n}`);
      for (const m of mdDevs) undo.push({ what: `stop ${m}`, run: async () => void (await host(log, "mdadm", ["--stop", m], { reject: false })) });
      // udev's incremental rules on the fixup disk may have assembled them already, from the
      // replica partitions: those are the guest's arrays too (and --scan finds nothing left)
      for (const n of before) if (mdMembers(`/dev/${n}`, parts, sys).length) mdDevs.push(`/dev/${n}`);
      if (!mdDevs.length) log.warn(`mdadm assembled no array from ${raidMembers.join(" ")} (exit ${r.exitCode})`);
      for (const b of await probeDevices(mdDevs)) {
        const members = mdMembers(b.device, parts, sys);
        devices.push({ ...toKnown(b.device, b.device, b), ...(members.length ? { members } : {}) });
      }
    }

    const pvs = [...parts.map((p) => p.target), ...mdDevs].filter((t) => (blk.get(t)?.type ?? devices.find((d) => d.target === t)?.fsType) === "LVM2_member");
    if (pvs.length) {
      const cfg = lvmFilterConfig(pvs, existsSync("/run/udev/control"));
      const vgs = await host(log, "vgs", ["--noheadings", "-o", "vg_name", "--config", cfg], { reject: false });
      const names = vgs.output.split("\n").map((l) => l.trim()).filter((l) => /^[A-Za-z0-9+_.-]+$/.test(l));
      if (names.length) {
        // registered first: a half-done activation is undone too
        undo.push({ what: `deactivate ${names.join(" ")}`, run: async () => void (await host(log, "vgchange", ["-an", "--config", cfg, ...names], { reject: false })) });
        await host(log, "vgchange", ["-ay", "--config", cfg, ...names]).catch((e: Error) => {
          throw fail("GUEST_MOUNT_FAILED", `activating the guest's LVM volume groups failed: ${e.message}`);
        });
        // without udev the /dev/mapper nodes may be missing
        await host(log, "vgmknodes", ["--config", cfg, ...names], { reject: false });
        const lvs = await host(log, "lvs", ["--noheadings", "--separator", "|", "-o", "lv_dm_path,lv_path", "--config", cfg, ...names], { reject: false });
        const paths = lvs.output.split("\n").map((l) => l.trim().split("|")).filter((f) => f[0]?.startsWith("/dev/"));
        for (const b of await probeDevices(paths.map((f) => f[0]!))) {
          devices.push(toKnown(b.device, b.device, b));
          const alias = paths.find((f) => f[0] === b.device)?.[1];
          if (alias && alias !== b.device) devices.push(toKnown(alias, b.device, b));
        }
      }
    }
    for (const d of devices) log.info(`device ${d.source} -> ${d.target}${d.fsType ? ` ${d.fsType}` : ""}${d.uuid ? ` UUID=${d.uuid}` : ""}`);
    opts.clock?.add("discovery", tDiscovery, Date.now(), { what: `${devices.length} device(s)` });

    // the root: the one filesystem that holds an OS
    const base = opts.mountBase ?? "/run/osam-fixup";
    mkdirSync(base, { recursive: true });
    const probeDir = mkdtempSync(posix.join(base, "probe-"));
    undo.push({ what: `remove ${probeDir}`, run: async () => rmdirSync(probeDir) });
    const tProbe = Date.now();
    const cands: RootCandidate[] = [];
    const seen = new Set<string>();
    const looked: KnownDevice[] = [];
    const look = async (d: KnownDevice) => {
      const c = await probeRoot(log, d.target!, d.fsType!, probeDir);
      if (c) cands.push({ device: d, ...c });
    };
    for (const d of devices) {
      if (!d.target || !d.fsType || !LINUX_FS.has(d.fsType) || seen.has(d.target)) continue;
      seen.add(d.target);
      const before = opts.ahead?.root(d.target);
      if (before === undefined) await look(d);
      else {
        looked.push(d);
        if (before) cands.push({ device: d, ...before });
      }
    }
    // seen before BEGIN without the journal replayed: a root missed that way is looked for again
    if (!cands.length && looked.length) {
      log.info(`no root among the ${looked.length} filesystem(s) seen before BEGIN: looking again`);
      for (const d of looked) await look(d);
    } else if (looked.length) log.info(`root probe: ${looked.length} of ${seen.size} filesystem(s) as seen before BEGIN`);
    opts.clock?.add("probe", tProbe, Date.now(), { what: `${seen.size} filesystem(s)${looked.length ? `, ${looked.length} seen before BEGIN` : ""}` });
    const chosen = chooseRoot(cands, inputs);
    log.info(`guest root: ${chosen.device.source} (${chosen.device.target}, ${chosen.os})${chosen.subvol ? ` subvolume ${chosen.subvol}` : ""}`);

    const root = posix.join(base, "root");
    mkdirSync(root, { recursive: true });
    await timed(opts.clock, "mount", () => mountFs(log, chosen.device, root, chosen.subvol ? [`subvol=${chosen.subvol}`] : []), { what: "/" });
    undo.push({ what: `unmount ${root}`, run: () => unmount(log, root) });
    const why = await notWritable(root);
    if (why) throw new FixupError("GUEST_NO_SPACE", why, "mount");

    // the guest's fstab, parents before children
    const guest = new GuestRoot(root);
    const ft = (await guest.readText("/etc/fstab")) ?? "";
    const entries = new Fstab(ft).entries().filter((e) => e.file !== "/" && isNeeded(e.file) && e.vfstype !== "swap" && !e.options.split(",").includes("bind"));
    entries.sort((a, b) => a.file.split("/").length - b.file.split("/").length);
    for (const e of entries) {
      const critical = e.file === "/boot" || e.file === "/boot/efi" || e.file === "/efi" || e.file === "/usr";
      const dev = resolveSpec(e.spec, devices);
      if (!dev) {
        const m = `fstab ${e.file}: ${e.spec} is not on any replica disk`;
        if (critical) throw fail("GUEST_MOUNT_FAILED", m);
        log.warn(`${m}; not mounted`);
        continue;
      }
      const r = await guest.resolve(e.file);
      if (!r.stat?.isDirectory()) {
        const m = `fstab ${e.file}: the mount point is missing in the guest`;
        if (critical) throw fail("GUEST_MOUNT_FAILED", m);
        log.warn(`${m}; not mounted`);
        continue;
      }
      try {
        await timed(opts.clock, "mount", () => host(log, "mount", ["-t", e.vfstype === "auto" ? "auto" : e.vfstype, ...optArgs(mountOptions(e.options)), dev, r.host]), { what: e.file });
        undo.push({ what: `unmount ${r.host}`, run: () => unmount(log, r.host) });
      } catch (err) {
        if (critical) throw fail("GUEST_MOUNT_FAILED", `mounting ${e.file} (${e.spec}) failed: ${(err as Error).message}`);
        log.warn(`mounting ${e.file} failed: ${(err as Error).message}`);
      }
    }

    if (!opts.noBinds) {
      const release = await timed(opts.clock, "binds", () => bindChrootDirs(root, log));
      undo.push({ what: "release chroot binds", run: release });
    }
    // grub-mkconfig writes root=UUID= only when /dev/disk/by-uuid/<uuid> exists; a fixup disk
    // without udev has no such links
    const made = makeByLinks(devices);
    if (made.links.length) {
      log.info(`created ${made.links.length} /dev/disk/by-* links (no udev)`);
      undo.push({
        what: "remove /dev/disk links",
        run: async () => {
          made.links.forEach((l) => rmSync(l, { force: true }));
          for (const d of made.dirs.reverse()) if (readdirSync(d).length === 0) rmdirSync(d);
        },
      });
    }
    return { root, devices, close };
  } catch (e) {
    await close();
    if (e instanceof FixupError) throw e;
    throw new FixupError("GUEST_MOUNT_FAILED", (e as Error).message, "mount");
  }
}

/** blkid of each device, taken from before BEGIN where the device is unchanged since. */
async function blkidOf(devices: string[], ahead: LookAhead | undefined, log: Logger): Promise<Map<string, BlkidEntry>> {
  const out = new Map<string, BlkidEntry>();
  const ask: string[] = [];
  for (const d of devices) {
    const e = ahead?.entry(d);
    if (e === undefined) ask.push(d);
    else if (e) out.set(d, e);
  }
  if (ahead && ask.length < devices.length) log.info(`blkid: ${devices.length - ask.length} of ${devices.length} device(s) as seen before BEGIN`);
  for (const e of await probeDevices(ask)) out.set(e.device, e);
  return out;
}

function optArgs(opts: string[]): string[] {
  return opts.length ? ["-o", opts.join(",")] : [];
}

/** Mounts read-write, which replays a dirty ext4 or xfs journal; an ext* that refuses gets a preen fsck first. */
async function mountFs(log: Logger, d: KnownDevice, at: string, extra: string[]): Promise<void> {
  const args = ["-t", d.fsType!, ...optArgs(extra), d.target!, at];
  const r = await host(log, "mount", args, { reject: false });
  if (r.exitCode === 0) return;
  if (d.fsType?.startsWith("ext")) {
    // -p only fixes what is safe to fix without a person; exit 1/2 mean it did
    const f = await host(log, "e2fsck", ["-p", d.target!], { reject: false, timeoutMs: 30 * 60_000 });
    if (f.exitCode <= 2 && (await host(log, "mount", args, { reject: false })).exitCode === 0) return;
  }
  // xfs_repair -L would throw away the log; mounting is what replays it, so it stays a failure
  throw new FixupError("GUEST_MOUNT_FAILED", `mounting the guest root ${d.source} (${d.target}, ${d.fsType}) failed: ${r.output.trim().split("\n").slice(-2).join(" / ")}`, "mount");
}

/** /dev/disk/by-uuid, by-partuuid and by-label links for the replica devices where missing. */
function makeByLinks(devices: KnownDevice[]): { links: string[]; dirs: string[] } {
  const made: string[] = [];
  const dirs: string[] = [];
  for (const d of devices) {
    if (!d.target || d.fsType === "linux_raid_member" || d.fsType === "LVM2_member") continue;
    for (const [kind, v] of [["by-uuid", d.uuid], ["by-partuuid", d.partuuid], ["by-label", d.label]] as const) {
      if (!v || v.includes("/")) continue;
      const dir = `/dev/disk/${kind}`;
      const link = posix.join(dir, v);
      if (existsSync(link)) continue;
      for (const p of ["/dev/disk", dir]) {
        if (existsSync(p)) continue;
        mkdirSync(p);
        dirs.push(p);
      }
      try {
        symlinkSync(d.target, link);
        made.push(link);
      } catch {
        // another device with the same id (a RAID member and its array): the first wins
      }
    }
  }
  return { links: made, dirs };
}
