// A FixupContext over a small tree written from a map of files, for the storage unit tests.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { GuestRoot } from "../../../src/guest/guest-root.ts";
import { inspectGuest } from "../../../src/guest/inspect.ts";
import { DiskView } from "../../../src/guest/view.ts";
import type { FixupContext, KnownDevice } from "../../../src/fixups/types.ts";
import type { Inputs } from "../../../src/protocol/inputs.ts";
import { NetworkInterfaceMap, ReplicaDiskMap, SystemConfiguration } from "../../../src/protocol/schemas.ts";
import { Logger } from "../../../src/util/log.ts";

export function inputs(o: { disks?: { source: string; unit: number; boot?: boolean }[]; controller?: "pvscsi" | "lsilogic" | "lsisas"; firmware?: "bios" | "uefi"; root?: string } = {}): Inputs {
  const fw = o.firmware ?? "bios";
  return {
    system: SystemConfiguration.parse({ migrationId: "unit", source: { firmware: fw, ...(o.root ? { root: o.root } : {}) }, target: { firmware: fw, scsiController: o.controller ?? "pvscsi", nicModel: "vmxnet3" } }),
    disks: ReplicaDiskMap.parse({ disks: (o.disks ?? [{ source: "/dev/vda", unit: 0, boot: true }]).map((d) => ({ source: { device: d.source }, target: { controller: "scsi0", unit: d.unit }, ...(d.boot ? { boot: true } : {}) })) }),
    network: NetworkInterfaceMap.parse({ interfaces: [] }),
  };
}

export function tree(files: Record<string, string | Buffer>): { root: string; cleanup: () => void } {
  const root = mkdtempSync(join(tmpdir(), "osam-unit-storage-"));
  for (const [p, t] of Object.entries(files)) {
    if (p.endsWith("/")) {
      mkdirSync(join(root, p), { recursive: true });
      continue;
    }
    mkdirSync(dirname(join(root, p)), { recursive: true });
    writeFileSync(join(root, p), t);
  }
  return { root, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}

export async function context(files: Record<string, string | Buffer>, inp: Inputs = inputs(), devices: KnownDevice[] = []): Promise<FixupContext & { cleanup: () => void }> {
  const t = tree(files);
  const view = new DiskView(new GuestRoot(t.root));
  return { view, info: await inspectGuest(view), inputs: inp, devices, log: new Logger({ keep: true }), cleanup: t.cleanup };
}

export const dev = (source: string, uuid?: string, fsType?: string, target?: string): KnownDevice => ({ source, ...(uuid ? { uuid } : {}), ...(fsType ? { fsType } : {}), ...(target ? { target } : {}), from: "blkid" });

/** A sysfs tree with SCSI disks (host:channel:target:lun) and their partitions, each with a device number and size. */
export function fakeSys(disks: { hctl: string; name: string; parts?: number[]; proc?: string }[]): { sys: string; cleanup: () => void } {
  const t = tree({});
  const sys = t.root;
  let minor = 0;
  for (const d of disks) {
    mkdirSync(join(sys, "class/scsi_disk", d.hctl, "device/block", d.name), { recursive: true });
    const host = d.hctl.split(":")[0]!;
    mkdirSync(join(sys, "class/scsi_host", `host${host}`), { recursive: true });
    writeFileSync(join(sys, "class/scsi_host", `host${host}`, "proc_name"), `${d.proc ?? "vmw_pvscsi"}\n`);
    const block = (name: string) => {
      mkdirSync(join(sys, "class/block", name), { recursive: true });
      writeFileSync(join(sys, "class/block", name, "dev"), `8:${minor++}\n`);
      writeFileSync(join(sys, "class/block", name, "size"), "41943040\n");
    };
    block(d.name);
    for (const p of d.parts ?? []) {
      mkdirSync(join(sys, "class/block", d.name, `${d.name}${p}`), { recursive: true });
      writeFileSync(join(sys, "class/block", d.name, `${d.name}${p}`, "partition"), `${p}\n`);
      block(`${d.name}${p}`);
    }
  }
  return { sys, cleanup: t.cleanup };
}
