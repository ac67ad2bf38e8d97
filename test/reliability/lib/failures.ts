// The tool-failure cases: the guest's own dracut, update-initramfs, grub-install or
// grub-mkconfig failing (a wrapper that writes half a file and exits non-zero, placed first in
// the guest's PATH), missing, or a /boot that fills up. Each runs a full stage 1 through the
// agent protocol and checks result.json, END and the whole tree.
import assert from "node:assert/strict";
import { chmodSync, existsSync, lstatSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { FIXUP_FILES } from "../../../src/protocol/files.ts";
import type { Result } from "../../../src/protocol/schemas.ts";
import type { Variant } from "../../helpers/images.ts";
import { scratchDir } from "./disk.ts";
import { type RunOptions, type RunResult, apply, runCli, writeInputs } from "./run.ts";

/** A script that replaces a guest tool: writes half of `target` (an argv position or path), says why on stderr, exits 1. */
export function halfWriteWrapper(tool: string, target: { argFromEnd: number } | { path: string }, why: string): string {
  const pick = "path" in target ? `out=${JSON.stringify(target.path)}` : `eval "out=\\\${$(( $# - ${target.argFromEnd - 1} ))}"`;
  return [
    "#!/bin/sh",
    `# test wrapper for ${tool}: half a file, then a failure`,
    pick,
    'mkdir -p "$(dirname "$out")"',
    'if [ -f "$out" ]; then size=$(stat -c %s "$out"); truncate -s $((size / 2)) "$out"; else printf "half" > "$out"; fi',
    `echo ${JSON.stringify(`${tool}: E: ${why}`)} >&2`,
    "exit 1",
    "",
  ].join("\n");
}

/** Installs a wrapper in the guest's /usr/local/sbin (first in the chroot's PATH). */
export function installWrapper(root: string, tool: string, script: string): void {
  mkdirSync(join(root, "usr/local/sbin"), { recursive: true });
  writeFileSync(join(root, "usr/local/sbin", tool), script);
  chmodSync(join(root, "usr/local/sbin", tool), 0o755);
}

/** Removes a tool from every directory the guest could find it in (links to /usr are not followed). */
export function removeTool(root: string, tool: string): string[] {
  const gone: string[] = [];
  for (const d of ["usr/local/sbin", "usr/local/bin", "usr/sbin", "usr/bin", "sbin", "bin"]) {
    // in a merged-/usr guest sbin and bin are links into usr/: never resolve them on the host
    if (!lstatSync(join(root, d), { throwIfNoEntry: false })?.isDirectory()) continue;
    const p = join(root, d, tool);
    if (lstatSync(p, { throwIfNoEntry: false })) {
      rmSync(p);
      gone.push(`/${d}/${tool}`);
    }
  }
  return gone;
}

export interface ProtocolRun {
  run: RunResult;
  result: Result;
  end: string;
  fixupDir: string;
}

/** `osam-fixup apply --root --fixup-dir`: the agent protocol against a mounted guest. */
export async function applyProtocol(root: string, maps: { system: unknown; disks: unknown; network: unknown }, extra: string[] = []): Promise<ProtocolRun> {
  const dir = scratchDir("fixup-");
  const inputs = writeInputs(join(dir, "inputs"), maps);
  const fixupDir = join(dir, "fixup");
  const run = await apply(root, inputs, { fixupDir, extra });
  return { run, ...readOutcome(fixupDir), fixupDir };
}

/** `osam-fixup agent`: finds and mounts the guest on the attached disks itself. */
export async function agentProtocol(maps: { system: unknown; disks: unknown; network: unknown }, extra: string[] = []): Promise<ProtocolRun> {
  const { run, fixupDir } = await agentRun(maps, extra);
  return { run, ...readOutcome(fixupDir), fixupDir };
}

/** The agent through BEGIN, as its own process group, that a test may kill (no END then). */
export async function agentRun(maps: { system: unknown; disks: unknown; network: unknown }, extra: string[] = [], opts: RunOptions = {}): Promise<{ run: RunResult; fixupDir: string }> {
  const dir = scratchDir("agent-");
  const fixupDir = writeInputs(join(dir, "fixup"), maps);
  writeFileSync(join(fixupDir, FIXUP_FILES.begin), "");
  const run = await runCli(["agent", "--fixup-dir", fixupDir, "--timeout", "5", "-q", ...extra], { privateMounts: true, ...opts });
  return { run, fixupDir };
}

function readOutcome(fixupDir: string): { result: Result; end: string } {
  const endFile = join(fixupDir, FIXUP_FILES.end);
  assert.ok(existsSync(endFile), `no ${FIXUP_FILES.end} in ${fixupDir}`);
  return { result: JSON.parse(readFileSync(join(fixupDir, FIXUP_FILES.result), "utf8")) as Result, end: readFileSync(endFile, "utf8") };
}

export const INPUTS = (variant: Variant, opts: { bootDevice?: string } = {}) => ({
  system: {
    migrationId: `toolfail-${variant}`,
    source: { hypervisor: "kvm", firmware: "bios", blockDevices: variant === "deb12-dracut-lvm" ? [{ device: "/dev/vda1", uuid: "6f1c2b7e-0d4a-4c55-9a0e-2b8f3d1e4c21", fsType: "ext4", mountpoint: "/boot" }] : [] },
    target: { firmware: "bios", scsiController: "pvscsi", nicModel: "vmxnet3" },
    // the guest's own tools are what fails here: never an image completed by an archive instead
    options: { rebuildInitramfs: true },
  },
  disks: { disks: [{ source: { device: "/dev/vda" }, target: { controller: "scsi0", unit: 0, ...(opts.bootDevice ? { device: opts.bootDevice } : {}) }, boot: true }] },
  network: { interfaces: [{ sourceMac: "52:54:00:12:34:56", sourceName: "ens3", targetMac: "00:50:56:aa:00:01" }] },
});
