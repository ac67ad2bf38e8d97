// Installs the first-boot verification (src/sentinel/verify.sh) beside the stage-2 sentinel:
// the script, what it expects (from the three input maps and the guest tree, as this run
// leaves it), a systemd unit wanted by the multi-user and graphical targets and a SysV init
// script linked S99 in rc2-5.d, and its manifest. It runs on the boot after stage 2, checks
// the guest from inside, keeps verification.json and removes what the manifest lists. Stage 2
// does not touch any of it (its manifest lists only the sentinel's files).
import { posix } from "node:path";
import type { Change, StepPlan } from "../engine/changes.ts";
import type { GuestView } from "../guest/view.ts";
import type { GuestInfo } from "../guest/inspect.ts";
import { readFstab } from "../guest/inspect.ts";
import { resolveSpec } from "../guest/mount.ts";
import type { KnownDevice } from "../guest/devices.ts";
import { CONTROLLER_DRIVER } from "../initrd/drivers.ts";
import { physicalSource, renameNicsEnabled, resolveNics } from "../network/mapping.ts";
import { renameWords } from "../network/names.ts";
import type { NetInterfaceInfo } from "../network/inspect.ts";
import type { Inputs } from "../protocol/inputs.ts";
import { GUEST_DATA_DIR, STAGE2_NONE, VERIFY_FILES, VERIFY_SCRIPT, stage2Path, verifyPath } from "../protocol/files.ts";
import { sysvVerifyScript, verifyScript, verifyUnit, VERIFY_UNIT_NAME } from "../sentinel/render.ts";
import { uuidByRole } from "./hardware-names.ts";
import { parentDir, sysvLayout } from "./sentinel.ts";
import { parseState, stage2Options, usesSystemd, usesSysv } from "./stage2-state.ts";
import type { FixupStep } from "./types.ts";

export const VERIFY_UNIT_PATH = `/etc/systemd/system/${VERIFY_UNIT_NAME}`;
export const VERIFY_WANTS = ["multi-user.target", "graphical.target"].map((t) => `/etc/systemd/system/${t}.wants/${VERIFY_UNIT_NAME}`);
export const VERIFY_SYSV_NAME = "osam-verify";
/** systemd-resolved's stub listeners: not a name server of the source's network. */
const RESOLVED_STUBS = new Set(["127.0.0.53", "127.0.0.54"]);

/** The UUID of the file system fstab mounts at / (after this run's device-refs edits), if known. */
async function rootUuid(view: GuestView, inputs: Inputs, devices: KnownDevice[]): Promise<string | undefined> {
  const spec = (await readFstab(view)).find((e) => e.file === "/")?.spec.replace(/"/g, "");
  const m = spec ? (/^UUID=(.+)$/.exec(spec) ?? /^\/dev\/disk\/by-uuid\/(.+)$/.exec(spec)) : undefined;
  if (m) return m[1]!.toLowerCase();
  if (spec) {
    const dev = resolveSpec(spec, devices);
    const d = devices.find((x) => x.uuid && (x.source === spec || (dev !== undefined && x.target === dev)));
    if (d?.uuid) return d.uuid.toLowerCase();
  }
  return uuidByRole({ mountpoint: "/" }, inputs.system, devices);
}

/** A source address the target must carry: not loopback, not IPv6 link-local (made from the MAC, which changes). */
function carriedAddress(cidr: string): boolean {
  const a = cidr.toLowerCase();
  return !/^127\./.test(a) && !/^::1(\/|$)/.test(a) && !/^fe[89ab][0-9a-f]:/.test(a);
}

/** The default target (systemd) or runlevel (SysV) the source boots into: what stage 2 restores. */
async function bootTarget(view: GuestView, info: GuestInfo, inputs: Inputs): Promise<string | undefined> {
  const src = inputs.system.source;
  if (usesSystemd(info)) {
    const rec = parseState((await view.readText(stage2Path("defaultTarget"))) ?? "");
    if (rec && rec !== STAGE2_NONE) return `target ${posix.basename(rec)}`;
    for (const d of ["/etc/systemd/system", "/lib/systemd/system", "/usr/lib/systemd/system"]) {
      // the distribution's default, which applies when stage 1 found no link of the admin's
      if (d === "/etc/systemd/system" && rec === STAGE2_NONE) continue;
      const l = await view.readlink(`${d}/default.target`);
      // the admin's link is rescue.target here only because the single-user step set it
      if (l && !/^(rescue|emergency)\.target$/.test(posix.basename(l))) return `target ${posix.basename(l)}`;
    }
    return src.defaultTarget ? `target ${src.defaultTarget}` : undefined;
  }
  const line = parseState((await view.readText(stage2Path("initdefault"))) ?? "");
  const level = line && line !== STAGE2_NONE ? /^[^#:]*:([0-9Ss]):initdefault:/.exec(line)?.[1] : undefined;
  const rl = level ?? src.runlevel;
  return rl ? `runlevel ${rl}` : undefined;
}

/**
 * The verification's expectations, one "KEY value..." line each (format: src/sentinel/verify.sh),
 * and notes on what it will not check and why.
 */
export async function verifyExpectations(view: GuestView, info: GuestInfo, inputs: Inputs, devices: KnownDevice[]): Promise<{ lines: string[]; notes: string[] }> {
  const lines: string[] = [];
  const notes: string[] = [];
  const uuid = await rootUuid(view, inputs, devices);
  if (uuid) lines.push(`root-uuid ${uuid}`);
  else notes.push("no UUID is known for the root file system: the verification does not check which one is mounted");
  lines.push(`root-driver ${CONTROLLER_DRIVER[inputs.system.target.scsiController]}`);

  const { nics } = resolveNics(info.network, inputs);
  const mapped = nics.filter((n) => n.foundBy !== "none");
  for (const n of mapped) lines.push(`nic ${n.newName} ${n.targetMac}`);
  if (!renameNicsEnabled(inputs) && mapped.length) notes.push("options.renameNics is false: the verification expects each NIC under its source name, which the guest's udev may not give it on the target");
  const names = new Map(mapped.filter((n) => n.sourceName !== undefined).map((n) => [n.sourceName!, n.newName]));
  const byName = new Map<string, NetInterfaceInfo>(info.network.map((i) => [i.name, i]));
  for (const i of inputs.system.source.interfaces ?? []) {
    const addrs = (i.addresses ?? []).filter(carriedAddress);
    if (!addrs.length || i.name === "lo") continue;
    let target: string;
    if (physicalSource(i, byName)) {
      const n = mapped.find((x) => x.sourceName === i.name) ?? mapped.find((x) => x.sourceMac === (i.permanentMac ?? i.mac));
      target = n ? n.newName : "-";
    } else if (i.kind === "virtual") {
      // a software device (a container or VM bridge, a tunnel) comes up with its software, not with the boot
      notes.push(`${i.name} is a virtual interface: its addresses (${addrs.join(", ")}) are not checked`);
      continue;
    } else {
      // a bridge, bond, team or VLAN keeps its name, but the NIC names in it follow the renames (ens3.10 -> eth0.10)
      target = renameWords(i.name, names);
    }
    const leased = new Set((i.dynamic ?? []).map((a) => a.toLowerCase()));
    for (const a of addrs) lines.push(`${leased.has(a.toLowerCase()) ? "lease" : "address"} ${i.name} ${target} ${a.toLowerCase()}`);
  }
  for (const gw of new Set((inputs.system.source.interfaces ?? []).flatMap((i) => (i.gateway ? [i.gateway] : [])))) lines.push(`gateway ${gw}`);

  let dns = inputs.system.source.nameservers;
  if (!dns?.length && (await view.kind("/etc/resolv.conf")) === "file") {
    dns = [...((await view.readText("/etc/resolv.conf")) ?? "").matchAll(/^\s*nameserver\s+(\S+)/gm)].map((m) => m[1]!);
  }
  for (const ns of new Set((dns ?? []).filter((s) => !RESOLVED_STUBS.has(s)))) lines.push(`dns ${ns}`);

  const target = await bootTarget(view, info, inputs);
  if (target) lines.push(target);
  else notes.push("the source's default target or runlevel is not known: the verification does not check it");
  lines.push(`tools ${stage2Options(inputs).requireTools ? "required" : "optional"}`);
  // the script reads words: a value with white space in it (an inventory's odd address) is left out
  return { lines: lines.filter((l) => /^\S+( \S+)*$/.test(l)), notes };
}

function expectText(lines: string[]): string {
  return [`# what the osam-fixup first-boot verification expects (written by stage 1; format: ${VERIFY_SCRIPT}'s header)`, ...lines, ""].join("\n");
}

export const verifyFirstBoot: FixupStep = {
  name: "verify",
  title: "install the first-boot verification (checks the guest from inside after stage 2)",
  fatal: false,
  failCode: "STAGE2_FAILED",
  async plan({ view, info, inputs, devices }): Promise<StepPlan> {
    if (!stage2Options(inputs).installStage2) return { changes: [], warnings: [], skipped: "options.installStage2 is false (the verification comes with stage 2)" };
    if (inputs.system.options?.verifyFirstBoot === false) return { changes: [], warnings: [], skipped: "options.verifyFirstBoot is false" };
    const systemd = usesSystemd(info);
    const sysv = await usesSysv(view, info);
    if (!systemd && !sysv) return { changes: [], warnings: ["neither systemd nor SysV init found: the first-boot verification was not installed"], skipped: "no known init system" };
    const { lines, notes } = await verifyExpectations(view, info, inputs, devices);
    const changes: Change[] = [];
    const links: string[] = [];
    const files: string[] = [];
    const dirs = new Set<string>([parentDir(VERIFY_SCRIPT)]);
    changes.push({ action: "write", path: VERIFY_SCRIPT, content: verifyScript(), mode: 0o755, reason: "the first-boot verification (POSIX sh): runs once on the boot after stage 2, keeps its result, removes itself" });
    changes.push({ action: "write", path: verifyPath("expect"), content: expectText(lines), mode: 0o644, reason: `what the verification expects: ${lines.map((l) => l.split(" ")[0]).filter((k, i, a) => a.indexOf(k) === i).join(", ")}` });
    if (systemd) {
      changes.push({ action: "write", path: VERIFY_UNIT_PATH, content: verifyUnit(), mode: 0o644, reason: "systemd unit that runs the verification after multi-user.target (never in stage 2's rescue.target)" });
      files.push(VERIFY_UNIT_PATH);
      for (const w of VERIFY_WANTS) {
        changes.push({ action: "symlink", path: w, target: VERIFY_UNIT_PATH, reason: `enable the verification in ${w.split("/")[4]!.replace(/\.wants$/, "")}` });
        links.push(w);
        dirs.add(parentDir(w));
      }
    }
    if (sysv) {
      const l = await sysvLayout(view);
      const init = `${l.initd}/${VERIFY_SYSV_NAME}`;
      changes.push({ action: "write", path: init, content: sysvVerifyScript(), mode: 0o755, reason: "SysV init script that starts the verification in the background" });
      files.push(init);
      const rel = posix.relative(l.rcDir(2), init);
      for (const lv of [2, 3, 4, 5]) {
        const p = `${l.rcDir(lv)}/S99${VERIFY_SYSV_NAME}`;
        changes.push({ action: "symlink", path: p, target: rel, reason: `run the verification in runlevel ${lv}` });
        links.push(p);
      }
    }
    // removal order: the links that start it, the unit or init script, the expectations, the script, then empty directories
    const manifest = [
      `# paths osam-fixup stage 1 installed for the first-boot verification; it removes them (directories, ending in /, only when empty), then this file; it keeps ${VERIFY_FILES.result}`,
      ...links,
      ...files,
      verifyPath("expect"),
      VERIFY_SCRIPT,
      ...[...dirs].filter((d) => d !== GUEST_DATA_DIR + "/"),
      "",
    ].join("\n");
    changes.push({ action: "write", path: verifyPath("manifest"), content: manifest, mode: 0o644, reason: `the list of what the verification removes when it has run (${VERIFY_FILES.manifest})` });
    return { changes, warnings: [], ...(notes.length ? { notes } : {}) };
  },
};
