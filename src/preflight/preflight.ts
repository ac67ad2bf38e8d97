// osam-fixup preflight: on the live source (or a mounted tree), before anything is copied,
// plan stage 1 for the target hardware with the maps that target would get, audit what the
// plan would leave behind, and say whether the guest will boot there and what will change.
// Read-only: stage 1 runs in plan mode (no command runs in the guest), and the only process
// started is the collect script on a live source.
import { runStage1, guestFacts } from "../agent/stage1.ts";
import { auditResidue, describeLeftover } from "../audit/residue.ts";
import { NOT_ATTACHED } from "../bootloader/grub.ts";
import { ALL_STEPS } from "../fixups/index.ts";
import { GuestRoot } from "../guest/guest-root.ts";
import { DiskView, type GuestView } from "../guest/view.ts";
import { inspectGuest, type GuestInfo } from "../guest/inspect.ts";
import { SOURCE_STYLE_NAME, splitPartition } from "../guest/discover-names.ts";
import { CONTROLLER_DRIVER, NIC_DRIVER } from "../initrd/drivers.ts";
import { bootChoice, kernelFits } from "../initrd/modules.ts";
import { PHYSICAL, physicalSource, resolveNics } from "../network/mapping.ts";
import { CODES } from "../protocol/codes.ts";
import type { Inputs } from "../protocol/inputs.ts";
import { type Finding, type PreflightReport, verdictOf } from "../protocol/preflight.ts";
import { NetworkInterfaceMap, ReplicaDiskMap, SystemConfiguration } from "../protocol/schemas.ts";
import { Logger } from "../util/log.ts";
import { VERSION } from "../version.ts";

type Source = SystemConfiguration["source"];
type Target = SystemConfiguration["target"];

export interface PreflightOptions {
  root: string;
  /** The source inventory (collect's output); for a tree without one, it is derived from its files. */
  source?: Source;
  target?: Partial<Target>;
  /** The maps the target will get, when the manager already knows them (its NIC MACs, a NIC
   * left out); without them preflight builds its own (diskMapFor, nicMapFor). */
  maps?: { disks?: ReplicaDiskMap; network?: NetworkInterfaceMap };
  log?: Logger;
}

const AUDIT_STEP = "residue-audit";

/** The disks the source has, in the order the target would get them (units 0.., 7 skipped). */
export function diskMapFor(source: Source, info: GuestInfo): ReplicaDiskMap {
  const names: string[] = [];
  const add = (dev: string) => {
    const d = splitPartition(dev).disk;
    if (SOURCE_STYLE_NAME.test(d) && !names.includes(d)) names.push(d);
  };
  for (const b of source.blockDevices ?? []) add(b.device);
  if (!names.length) for (const e of info.fstab) add(e.spec);
  if (!names.length) names.push("/dev/sda");
  const rootDev = (source.blockDevices ?? []).find((b) => b.mountpoint === "/")?.device ?? info.fstab.find((e) => e.file === "/")?.spec;
  const bootDisk = rootDev && SOURCE_STYLE_NAME.test(rootDev) ? splitPartition(rootDev).disk : names[0];
  // the boot disk first: it goes to scsi0:0
  names.sort((a, b) => Number(b === bootDisk) - Number(a === bootDisk));
  const units = [0, 1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 12, 13, 14];
  return ReplicaDiskMap.parse({
    disks: names.slice(0, units.length).map((device, i) => ({ source: { device }, target: { controller: "scsi0", unit: units[i] }, ...(i === 0 ? { boot: true } : {}) })),
  });
}

/** The NIC map the target would get: each physical NIC, its MAC kept, named eth0, eth1... */
export function nicMapFor(source: Source, info: GuestInfo): NetworkInterfaceMap {
  const seen = new Set<string>();
  const nics: { sourceMac: string; sourceName: string }[] = [];
  const byName = new Map(info.network.map((n) => [n.name, n]));
  for (const i of source.interfaces ?? []) {
    // a bond member's own MAC, not the bond's it carries
    const mac = i.permanentMac ?? i.mac;
    if (!mac || i.name === "lo" || !physicalSource(i, byName) || seen.has(mac.toLowerCase())) continue;
    seen.add(mac.toLowerCase());
    nics.push({ sourceMac: mac, sourceName: i.name });
  }
  if (!source.interfaces?.length) {
    for (const n of info.network) {
      if (!n.mac || !PHYSICAL(n) || seen.has(n.mac.toLowerCase())) continue;
      seen.add(n.mac.toLowerCase());
      nics.push({ sourceMac: n.mac, sourceName: n.name });
    }
  }
  return NetworkInterfaceMap.parse({ interfaces: nics.map((n, i) => ({ ...n, targetMac: n.sourceMac, targetName: `eth${i}` })) });
}

async function kernelFindings(view: GuestView, info: GuestInfo, target: Target, stage1Code?: number): Promise<Finding[]> {
  const out: Finding[] = [];
  const controller = CONTROLLER_DRIVER[target.scsiController];
  const need = [controller, NIC_DRIVER[target.nicModel]];
  if (!info.kernels.length) return out; // stage 1's plan says so
  const fits = await kernelFits(view, info.kernels, need);
  for (const f of fits) {
    const k = f.kernel;
    if (!f.lacks) out.push({ code: "KERNEL_MODULES_UNKNOWN", severity: "warning", file: `/lib/modules/${k.version}/modules.dep`, why: `the module list of kernel ${k.version} could not be read, so whether it has ${need.join(" and ")} is unknown`, todo: `run depmod ${k.version} on the source, or check that the kernel has ${need.join(" and ")}` });
  }
  const good = fits.filter((f) => f.lacks?.length === 0);
  const known = fits.filter((f) => f.lacks !== undefined);
  if (known.length && !good.length) {
    out.push({ code: "NO_KERNEL_WITH_DRIVERS", severity: "blocker", why: `no installed kernel has ${need.join(" and ")} (${known.map((f) => `${f.kernel.version} lacks ${f.lacks!.join(", ")}`).join("; ")}): the guest cannot see its disks or NIC on the target`, todo: `install a kernel with ${need.join(" and ")} on the source (the distribution's standard kernel has them) before replication` });
    return out;
  }
  // GRUB boots the newest kernel unless told otherwise; stage 1's bootloader step makes the
  // newest kernel with the drivers the default (src/bootloader/default-kernel.ts)
  const choice = bootChoice(fits, controller);
  if (choice?.pick) {
    const { newest, pick } = choice;
    const refused = stage1Code === CODES.DEFAULT_KERNEL_UNSET.code;
    out.push({
      code: "DEFAULT_KERNEL_LACKS_DRIVERS",
      severity: refused ? "blocker" : "warning",
      file: newest.kernel.image,
      why: refused
        ? `the newest kernel ${newest.kernel.version}, which boots by default, lacks ${newest.lacks!.join(", ")}, and stage 1 cannot tell how this guest chooses its default kernel to make ${pick.kernel.version} the default`
        : `the newest kernel ${newest.kernel.version}, which boots by default, lacks ${newest.lacks!.join(", ")}; stage 1 will make ${pick.kernel.version}, the newest kernel that has them, the default`,
      todo: refused ? `make ${pick.kernel.version} the default on the source (grub2-set-default, GRUB_DEFAULT), or install ${newest.lacks!.join(", ")} for ${newest.kernel.version}` : `nothing; install ${newest.lacks!.join(", ")} for ${newest.kernel.version} and make it the default again after the migration if it should boot`,
    });
  }
  return out;
}

function luksFindings(source: Source, info: GuestInfo): Finding[] {
  const out: Finding[] = [];
  const luks = (source.blockDevices ?? []).filter((b) => b.fsType === "crypto_LUKS");
  const rootSpec = info.fstab.find((e) => e.file === "/")?.spec ?? "";
  const rootOnCrypt = /^\/dev\/mapper\/(luks-|crypt)/.test(rootSpec) || luks.some((b) => b.mountpoint === "/");
  if (rootOnCrypt) {
    out.push({ code: "LUKS_ROOT", severity: "blocker", file: "/etc/fstab", why: `the root filesystem (${rootSpec}) is on a LUKS volume: stage 1 must open it to fix the guest, and it has no key`, todo: "stage 1 cannot fix an encrypted root yet: decrypt it, or migrate this guest with a method that keeps the source's boot chain" });
  } else if (luks.length) {
    out.push({ code: "LUKS_VOLUME", severity: "warning", why: `${luks.map((b) => b.device).join(", ")} ${luks.length > 1 ? "are" : "is"} LUKS-encrypted; stage 1 leaves ${luks.length > 1 ? "them" : "it"} closed and rewrites only the references to ${luks.length > 1 ? "them" : "it"}`, todo: "have the passphrase ready for the first boot on the target, or a key file that the guest already uses" });
  }
  return out;
}

async function networkFindings(view: GuestView, source: Source, info: GuestInfo, inputs: Inputs, planned: string[]): Promise<Finding[]> {
  const out: Finding[] = [];
  const cloud = await view.exists("/etc/cloud/cloud.cfg");
  if (cloud) {
    const disabled = planned.some((p) => p.startsWith("/etc/cloud/"));
    out.push({
      code: "CLOUD_INIT_NETWORK",
      severity: disabled ? "info" : "warning",
      file: "/etc/cloud/cloud.cfg",
      why: disabled ? "cloud-init is installed; it would render the network again on the first boot on new hardware, so stage 1 disables its network configuration" : "cloud-init is installed and may render the network again on the first boot, replacing the carried-over configuration",
      todo: disabled ? "nothing; remove /etc/cloud/cloud.cfg.d/99-osam-disable-network-config.cfg after the migration if cloud-init should manage the network again" : "disable cloud-init's network configuration (network: {config: disabled}) on the source",
    });
  }
  const r = resolveNics(info.network, inputs);
  for (const n of r.nics) {
    const inv = (source.interfaces ?? []).find((i) => i.mac?.toLowerCase() === n.sourceMac.toLowerCase());
    if (!n.configured && inv?.addresses?.length) {
      out.push({ code: "NIC_NOT_CONFIGURED", severity: "warning", why: `${n.sourceName ?? n.sourceMac} has ${inv.addresses.join(", ")} on the source, but no configuration system stage 1 knows (ifcfg, NetworkManager, ifupdown, netplan, networkd, wicked) configures it; it will be ${n.newName} on the target with no address`, todo: `find what sets its address (a script, a unit) and change it to name ${n.newName}, or configure the address in one of those systems` });
    }
  }
  return out;
}

export async function runPreflight(o: PreflightOptions): Promise<PreflightReport> {
  const t0 = Date.now();
  const log = o.log ?? new Logger({ keep: true });
  const guest = new GuestRoot(o.root);
  const view = new DiskView(guest);
  const info = await inspectGuest(view);
  const source: Source = o.source ?? { firmware: info.firmware };
  const target: Target = { firmware: o.target?.firmware ?? source.firmware, scsiController: o.target?.scsiController ?? "pvscsi", nicModel: o.target?.nicModel ?? "vmxnet3" };
  const inputs: Inputs = {
    system: SystemConfiguration.parse({ migrationId: "preflight", source, target }),
    disks: o.maps?.disks ?? diskMapFor(source, info),
    network: o.maps?.network ?? nicMapFor(source, info),
  };
  const findings: Finding[] = [];
  const skip = ALL_STEPS.some((s) => s.name === AUDIT_STEP) ? [AUDIT_STEP] : [];
  const { result, outcome } = await runStage1({ root: o.root, inputs, mode: "plan", log, skip });
  if (result.status === "failed") {
    const space = result.code === CODES.GUEST_NO_SPACE.code;
    findings.push({
      code: space ? "SPACE_LOW" : "STAGE1_WOULD_FAIL",
      severity: "blocker",
      why: `stage 1 would stop with code ${result.code}${result.step ? ` in ${result.step}` : ""}: ${result.message}`,
      todo: space ? "free space on / and /boot (remove old kernels) before replication" : "fix what the message names on the source, then run preflight again",
    });
  }
  // on the source no disk is attached under its target name, so the boot code's reinstall is
  // never planned here; on the fixup VM it is: that warning says nothing about this guest
  for (const w of result.warnings.filter((x) => !x.includes(NOT_ATTACHED))) findings.push({ code: "PLAN_WARNING", severity: "warning", why: w, todo: "read the warning; stage 1 goes on, but check that this is what you want" });
  const planned = outcome.planned.flatMap((p) => (p.change.action === "exec" ? [] : [p.change.path]));
  if (outcome.view && !outcome.failure) {
    const nics = resolveNics(info.network, inputs).nics;
    const audit = await auditResidue({ view: outcome.view, inputs, nics });
    for (const l of audit.leftovers) {
      if (l.severity === "harmless") continue;
      findings.push({
        code: l.severity === "blocker" ? "LEFTOVER_BLOCKER" : "LEFTOVER",
        severity: l.severity === "blocker" ? "blocker" : "warning",
        file: l.file,
        line: l.line,
        why: describeLeftover(l),
        todo: l.kind === "disk" ? "name the device by UUID= (or add nofail if it is not migrated) on the source" : "name the interface by MAC, or map it, on the source",
      });
    }
    for (const p of audit.passedOver) findings.push({ code: "LEFTOVER", severity: "warning", why: `${p} was not audited`, todo: "check it for source device and NIC names by hand" });
  }
  findings.push(...(await kernelFindings(view, info, target, result.status === "failed" ? result.code : undefined)));
  findings.push(...luksFindings(source, info));
  findings.push(...(await networkFindings(view, source, info, inputs, planned)));
  if ((source.selinux ?? info.selinux) === "enforcing") {
    findings.push({ code: "SELINUX_ENFORCING", severity: "info", file: "/etc/selinux/config", why: "SELinux is enforcing: files written by stage 1 carry no labels, so stage 1 sets permissive for stage 2 and asks for a relabel", todo: "nothing; the first boot on the target takes longer while the filesystem is relabelled, and stage 2 restores enforcing" });
  }
  return {
    version: VERSION,
    root: guest.root,
    checkedAt: new Date(t0).toISOString(),
    durationMs: Date.now() - t0,
    target,
    verdict: verdictOf(findings),
    findings,
    skipped: [],
    plan: result.steps.map((s) => ({ step: s.name, status: s.status, changes: s.changes.length })),
    guest: guestFacts(info),
  };
}

/** The report as a person reads it. */
export function renderPreflight(r: PreflightReport): string {
  const lines = [`preflight: ${r.verdict} (${r.root}, target ${r.target.scsiController} + ${r.target.nicModel}, ${r.target.firmware})`];
  const order = { blocker: 0, warning: 1, info: 2 } as const;
  for (const f of [...r.findings].sort((a, b) => order[a.severity] - order[b.severity])) {
    lines.push(`  ${f.severity.padEnd(7)} ${f.code}${f.file ? ` ${f.file}${f.line ? `:${f.line}` : ""}` : ""}`, `          ${f.why}`, `          to do: ${f.todo}`);
  }
  if (!r.findings.length) lines.push("  no findings");
  for (const s of r.skipped) lines.push(`  skipped: ${s}`);
  lines.push(`stage 1 would: ${r.plan.map((p) => `${p.step} ${p.status}${p.changes ? ` (${p.changes})` : ""}`).join(", ")}`);
  return lines.join("\n") + "\n";
}
