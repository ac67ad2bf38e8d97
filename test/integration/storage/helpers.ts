// Shared pieces of the storage integration tests: input maps for a one-disk KVM guest, the
// storage steps run for real in a chroot, and what an initramfs image contains.
import { execa } from "execa";
import { runStage1, type Stage1Outcome } from "../../../src/agent/stage1.ts";
import type { KnownDevice } from "../../../src/fixups/types.ts";
import type { Inputs } from "../../../src/protocol/inputs.ts";
import { NetworkInterfaceMap, ReplicaDiskMap, SystemConfiguration } from "../../../src/protocol/schemas.ts";
import { Logger } from "../../../src/util/log.ts";

export const STORAGE_STEPS = ["preflight", "stale-caches", "device-refs", "initrd", "bootloader"];

export function assertRoot(): void {
  if (process.getuid?.() !== 0) throw new Error("the storage integration tests need root (chroot, mounts, loop devices); run them as root");
}

export function inputsFor(opts: { firmware?: "bios" | "uefi"; disks?: { source: string; unit: number; device?: string; boot?: boolean }[]; root?: string; rebuildInitramfs?: boolean } = {}): Inputs {
  const fw = opts.firmware ?? "bios";
  return {
    system: SystemConfiguration.parse({
      migrationId: "storage-it",
      source: { hypervisor: "kvm", firmware: fw, ...(opts.root ? { root: opts.root } : {}) },
      target: { firmware: fw, scsiController: "pvscsi", nicModel: "vmxnet3" },
      ...(opts.rebuildInitramfs ? { options: { rebuildInitramfs: true } } : {}),
    }),
    disks: ReplicaDiskMap.parse({
      disks: (opts.disks ?? [{ source: "/dev/vda", unit: 0, boot: true }]).map((d) => ({
        source: { device: d.source },
        target: { controller: "scsi0", unit: d.unit, ...(d.device ? { device: d.device } : {}) },
        ...(d.boot ? { boot: true } : {}),
      })),
    }),
    network: NetworkInterfaceMap.parse({ interfaces: [] }),
  };
}

/** What blkid would say about a chroot tree's source devices, when the tree is not on a disk. */
export function fakeDevices(list: { source: string; uuid: string; fsType: string }[]): KnownDevice[] {
  return list.map((d) => ({ ...d, from: "inventory" as const }));
}

export async function applyStorage(root: string, inputs: Inputs, devices: KnownDevice[], only = STORAGE_STEPS): Promise<Stage1Outcome & { log: Logger }> {
  const log = new Logger({ keep: true });
  const out = await runStage1({ root, inputs, mode: "apply", log, devices, only });
  return { ...out, log };
}

/** File list of an initramfs, with the guest's own lister (lsinitramfs or lsinitrd). */
export async function initrdFiles(root: string, image: string): Promise<string> {
  for (const tool of ["lsinitramfs", "lsinitrd"]) {
    const r = await execa("chroot", [root, "/bin/sh", "-c", `command -v ${tool} >/dev/null && ${tool} "$1"`, "sh", image], { reject: false, timeout: 300_000 });
    if (r.exitCode === 0 && r.stdout.trim()) return r.stdout;
  }
  throw new Error(`neither lsinitramfs nor lsinitrd could list ${image} in ${root}`);
}
