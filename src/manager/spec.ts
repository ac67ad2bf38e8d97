// The migration spec: everything the manager needs to run one migration, in one JSON file.
// From it come the VM (VmSpec) and the three maps delivered to the stage-1 agent, which are
// validated with the contract's own schemas (src/protocol/schemas.ts) before anything starts.
import { readFile } from "node:fs/promises";
import { z } from "zod";
import { Firmware, FixupOptions, SourceSystem, IfName, Mac, NicModel, NetworkInterfaceMap, ReplicaDiskMap, SystemConfiguration } from "../protocol/schemas.ts";
import { VM_NAME_RE, type DiskSpec, type VmSpec } from "./drivers/types.ts";
import { PreflightReport } from "../protocol/preflight.ts";

const QemuBus = z.enum(["scsi", "sata", "nvme"]);

export const MigrationSpec = z.strictObject({
  /** Also the VM name and the prefix of the collected logs. */
  migrationId: z.string().regex(VM_NAME_RE, { message: "must be 1-80 of A-Z a-z 0-9 . _ - and start with a letter or digit" }),
  // the blueprint: the source system as in system-configuration.json, with the VM's size;
  // its interfaces come from nics[] below
  source: SourceSystem.omit({ interfaces: true }).extend({
    cpus: z.number().int().min(1).max(128),
    memoryMiB: z.number().int().min(64),
  }),
  /** The source NICs and the MACs they get on the target, in target order. */
  nics: z
    .array(
      z.strictObject({
        sourceMac: Mac,
        sourceName: IfName.optional(),
        targetMac: Mac,
        targetName: IfName.optional(),
        addresses: z.array(z.string().max(64)).max(256).optional(),
        /** Those of `addresses` a lease gave (DHCP, SLAAC): the target NIC gets its own. */
        dynamic: z.array(z.string().max(64)).max(256).optional(),
        /** The source's default gateway when the default route leaves through this NIC. */
        gateway: z.string().max(64).optional(),
        model: NicModel.default("vmxnet3"),
        /** vSphere port group (default "VM Network"). */
        network: z.string().max(255).optional(),
      }),
    )
    .max(10),
  /** The replica disks in order; unit defaults to the position (skipping 7). */
  disks: z
    .array(
      z.strictObject({
        /** qemu: a host image file; vsphere: a datastore path "[ds] dir/disk.vmdk". */
        path: z.string().min(1),
        /** The disk's device name on the source (/dev/vda...). */
        sourceDevice: z.string().regex(/^\/dev\/[A-Za-z0-9._\-/:]+$/),
        unit: z.number().int().min(0).max(14).optional(),
        serial: z.string().max(256).optional(),
        sizeBytes: z.number().int().positive().optional(),
        boot: z.boolean().optional(),
        format: z.enum(["raw", "qcow2"]).optional(),
        qemuBus: QemuBus.optional(),
      }),
    )
    .min(1)
    .max(14),
  fixupDisk: z.strictObject({ path: z.string().min(1), kind: z.enum(["cdrom", "disk"]).default("cdrom"), qemuBus: QemuBus.optional() }),
  toolsIso: z.string().min(1),
  target: z
    .strictObject({
      firmware: Firmware.optional(),
    })
    .optional(),
  options: FixupOptions.optional(),
  /** Per-step timeouts in seconds, overriding the defaults (see docs/manager.md). */
  timeouts: z.record(z.string(), z.number().positive()).optional(),
  /**
   * The first boot after stage 2: the manager powers the VM on and waits for the guest's own
   * verification (default), then leaves the VM running (default) or powers it off.
   */
  firstBoot: z.strictObject({ verify: z.boolean().optional(), leave: z.enum(["running", "off"]).optional() }).optional(),
  /** The source's preflight report (osam-fixup preflight --json): a blocked one is refused without --force. */
  preflight: PreflightReport.optional(),
});
export type MigrationSpec = z.output<typeof MigrationSpec>;

export class SpecError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SpecError";
  }
}

function zodMessage(e: z.ZodError, what: string): string {
  return `${what}: ${e.issues.map((i) => `${i.path.join(".") || "(top)"}: ${i.message}`).join("; ")}`;
}

export function parseSpec(raw: unknown, what = "migration spec"): MigrationSpec {
  const r = MigrationSpec.safeParse(raw);
  if (!r.success) throw new SpecError(zodMessage(r.error, what));
  const spec = r.data;
  deriveMaps(spec); // the maps must validate too, before the VM is created
  return spec;
}

export async function loadSpec(path: string): Promise<MigrationSpec> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    throw new SpecError(`${path}: ${(e as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new SpecError(`${path}: not valid JSON: ${(e as Error).message}`);
  }
  return parseSpec(raw, path);
}

/** Units by position, skipping 7 (the controller's own id on VMware). */
export function diskUnits(spec: MigrationSpec): number[] {
  let next = 0;
  return spec.disks.map((d) => {
    if (d.unit !== undefined) return d.unit;
    if (next === 7) next++;
    return next++;
  });
}

/** The unit the guest boots from after stage 1: the disk marked boot, else the first one. */
export function bootUnit(spec: MigrationSpec): number {
  const units = diskUnits(spec);
  const i = spec.disks.findIndex((d) => d.boot);
  return units[i >= 0 ? i : 0] ?? 0;
}

export interface DerivedMaps {
  system: SystemConfiguration;
  disks: ReplicaDiskMap;
  network: NetworkInterfaceMap;
}

export function deriveMaps(spec: MigrationSpec): DerivedMaps {
  const s = spec.source;
  const units = diskUnits(spec);
  const sys = {
    migrationId: spec.migrationId,
    source: {
      ...(s.hostname !== undefined ? { hostname: s.hostname } : {}),
      ...(s.hypervisor !== undefined ? { hypervisor: s.hypervisor } : {}),
      firmware: s.firmware,
      ...(s.os ? { os: s.os } : {}),
      ...(s.defaultTarget !== undefined ? { defaultTarget: s.defaultTarget } : {}),
      ...(s.runlevel !== undefined ? { runlevel: s.runlevel } : {}),
      ...(s.selinux !== undefined ? { selinux: s.selinux } : {}),
      ...(s.root !== undefined ? { root: s.root } : {}),
      ...(s.blockDevices ? { blockDevices: s.blockDevices } : {}),
      interfaces: spec.nics
        .filter((n) => n.sourceName !== undefined)
        .map((n) => ({ name: n.sourceName as string, mac: n.sourceMac, ...(n.addresses ? { addresses: n.addresses } : {}), ...(n.dynamic ? { dynamic: n.dynamic } : {}), ...(n.gateway ? { gateway: n.gateway } : {}) })),
      ...(s.nameservers ? { nameservers: s.nameservers } : {}),
    },
    target: {
      firmware: spec.target?.firmware ?? s.firmware,
      scsiController: "pvscsi",
      nicModel: spec.nics[0]?.model ?? "vmxnet3",
    },
    ...(spec.options ? { options: spec.options } : {}),
  };
  const disks = {
    disks: spec.disks.map((d, i) => ({
      source: { device: d.sourceDevice, ...(d.serial !== undefined ? { serial: d.serial } : {}), ...(d.sizeBytes !== undefined ? { sizeBytes: d.sizeBytes } : {}) },
      target: { controller: "scsi0", unit: units[i] },
      ...(d.boot !== undefined ? { boot: d.boot } : {}),
    })),
  };
  const network = {
    interfaces: spec.nics.map((n) => ({
      sourceMac: n.sourceMac,
      ...(n.sourceName !== undefined ? { sourceName: n.sourceName } : {}),
      targetMac: n.targetMac,
      ...(n.targetName !== undefined ? { targetName: n.targetName } : {}),
    })),
  };
  const out: Partial<DerivedMaps> = {};
  for (const [key, schema, value, name] of [
    ["system", SystemConfiguration, sys, "system-configuration"],
    ["disks", ReplicaDiskMap, disks, "replica-disk-map"],
    ["network", NetworkInterfaceMap, network, "network-interface-map"],
  ] as const) {
    const r = schema.safeParse(value);
    if (!r.success) throw new SpecError(zodMessage(r.error, `the ${name} derived from the spec`));
    (out as Record<string, unknown>)[key] = r.data;
  }
  return out as DerivedMaps;
}

/** The VM: the source's CPU, memory and firmware, every NIC disconnected, disks and fixup disk. */
export function vmSpecOf(spec: MigrationSpec): VmSpec {
  const units = diskUnits(spec);
  return {
    name: spec.migrationId,
    cpus: spec.source.cpus,
    memoryMiB: spec.source.memoryMiB,
    firmware: spec.target?.firmware ?? spec.source.firmware,
    nics: spec.nics.map((n) => ({ mac: n.targetMac, model: n.model, connected: false, ...(n.network ? { network: n.network } : {}) })),
    disks: spec.disks.map((d, i): DiskSpec => ({
      unit: units[i] ?? i,
      path: d.path,
      ...(d.format ? { format: d.format } : {}),
      ...(d.qemuBus ? { qemuBus: d.qemuBus } : {}),
    })),
    fixupDisk: { path: spec.fixupDisk.path, kind: spec.fixupDisk.kind, ...(spec.fixupDisk.qemuBus ? { qemuBus: spec.fixupDisk.qemuBus } : {}) },
  };
}

/**
 * What the spec's preflight report says before the migration starts: the warnings to show,
 * and, for a blocked source, why it is refused (undefined with --force or when not blocked).
 */
export function preflightGate(spec: MigrationSpec, force: boolean): { warnings: string[]; refusal?: string } {
  const r = spec.preflight;
  if (!r) return { warnings: [] };
  const where = (f: PreflightReport["findings"][number]) => `${f.code}${f.file ? ` ${f.file}${f.line ? `:${f.line}` : ""}` : ""}: ${f.why}`;
  const warnings = r.findings.filter((f) => f.severity === "warning" || (force && f.severity === "blocker")).map((f) => `${spec.migrationId}: preflight ${f.severity} ${where(f)}`);
  if (r.verdict !== "blocked" || force) return { warnings };
  const blockers = r.findings.filter((f) => f.severity === "blocker");
  return { warnings, refusal: `${spec.migrationId}: the source's preflight report is blocked (${blockers.map(where).join("; ")}); fix the source and run preflight again, or migrate with --force` };
}
