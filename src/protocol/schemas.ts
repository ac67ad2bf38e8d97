// The manager-agent contract. These zod schemas are the single definition of the three
// input maps and of result.json; docs/schemas/*.json is generated from them.
import { z } from "zod";
import { PreflightReport } from "./preflight.ts";

/** The fixup disk's unit on scsi0 (its SCSI target in the fixup VM): never a replica disk. */
export const FIXUP_UNIT = 15;

const MAC_RE = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;
/** A MAC address, any case on input, lower case after parsing so comparisons are exact. */
export const Mac = z
  .string()
  .regex(MAC_RE, { message: "must be a MAC address like 00:50:56:aa:bb:cc" })
  .transform((s) => s.toLowerCase());

const DevicePath = z
  .string()
  .regex(/^\/dev\/[A-Za-z0-9._\-/:]+$/, { message: "must be a device path under /dev/ (letters, digits, . _ - / :)" })
  .refine((s) => !s.split("/").includes(".."), { message: "must not contain '..'" });

/** Interface names as the kernel accepts them: 1-15 bytes, no '/', ':' or white space. */
export const IfName = z
  .string()
  .regex(/^[A-Za-z0-9_.-]{1,15}$/, { message: "must be a Linux interface name (1-15 of A-Z a-z 0-9 _ . -)" })
  .refine((s) => !s.startsWith("-") && s !== "." && s !== "..", { message: "must not start with '-' or be '.' or '..'" });

const Uuid = z.string().regex(/^[0-9A-Fa-f-]{4,64}$/, { message: "must be a filesystem UUID" });

export const Firmware = z.enum(["bios", "uefi"]);

export const SourceBlockDevice = z.strictObject({
  device: DevicePath,
  uuid: Uuid.optional(),
  partuuid: Uuid.optional(),
  fsType: z.string().max(32).optional(),
  label: z.string().max(256).optional(),
  mountpoint: z.string().startsWith("/").max(4096).optional(),
});

/** What an interface of the source is: only physical NICs are mapped; the others follow their ports. */
export const SourceInterfaceKind = z.enum(["physical", "bridge", "bond", "team", "vlan", "virtual"]);

export const SourceInterface = z.strictObject({
  name: IfName,
  /** The current MAC (a bond member carries its bond's). */
  mac: Mac,
  addresses: z.array(z.string().max(64)).max(256).optional(),
  /**
   * Those of `addresses` that a lease gave (DHCP or SLAAC: ip's "dynamic" flag). The target NIC
   * gets a lease of its own, so the first-boot verification wants an address of the same family
   * there, not this one.
   */
  dynamic: z.array(z.string().max(64)).max(256).optional(),
  /** The default route's gateway when it leaves through this interface (the first-boot verification expects it). */
  gateway: z.string().max(64).optional(),
  kind: SourceInterfaceKind.optional(),
  /** A physical NIC's own, burned-in MAC, when it differs from `mac` or was read. */
  permanentMac: Mac.optional(),
});

/** The source system as collected on it (osam-fixup collect prints this part). */
export const SourceSystem = z.strictObject({
  hostname: z.string().max(255).optional(),
  hypervisor: z.string().max(64).optional(),
  firmware: Firmware,
  os: z.strictObject({ id: z.string().min(1).max(64), version: z.string().max(64) }).optional(),
  defaultTarget: z.string().max(255).optional(),
  runlevel: z.string().max(8).optional(),
  selinux: z.string().max(32).optional(),
  /** Root filesystem to fix when the disks hold several: a device, UUID=... or a bare UUID. */
  root: z.string().max(512).optional(),
  blockDevices: z.array(SourceBlockDevice).max(4096).optional(),
  interfaces: z.array(SourceInterface).max(1024).optional(),
  /** The name servers the source resolves with (resolv.conf, or systemd-resolved's upstream servers). */
  nameservers: z.array(z.string().max(64)).max(64).optional(),
});

/** What stage 1 may do; every option defaults to true, except requireTools (false). */
export const FixupOptions = z.strictObject({
  singleUserMode: z.boolean().optional(),
  installStage2: z.boolean().optional(),
  renameNics: z.boolean().optional(),
  removeForeignTools: z.boolean().optional(),
  /**
   * Leftover references to source disks or NICs the user accepts on purpose ("/etc/fstab:7"
   * or a whole file); the residue audit then reports them as warnings instead of blocking.
   */
  acceptLeftovers: z.array(z.string().min(1).max(4096)).max(1024).optional(),
  /** true: stage 2 fails (guest left in single-user mode) when VMware Tools cannot be installed; false: a warning. */
  requireTools: z.boolean().optional(),
  /** Install the first-boot verification (default true; only with installStage2). */
  verifyFirstBoot: z.boolean().optional(),
  /**
   * true: rebuild every initramfs with the guest's own tool. Default false: an image that
   * already holds the target drivers is kept, and an initramfs-tools image that lacks only
   * files (drivers, module indexes, the NIC pins) is completed by one more archive.
   */
  rebuildInitramfs: z.boolean().optional(),
});

/** NIC models the target VM may have (the manager's spec uses the same list). */
export const NicModel = z.enum(["vmxnet3", "e1000e", "e1000"]);

export const SystemConfiguration = z.strictObject({
  migrationId: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, { message: "must be 1-128 of A-Z a-z 0-9 . _ - and start with a letter or digit" }),
  source: SourceSystem,
  target: z.strictObject({
    firmware: Firmware,
    scsiController: z.enum(["pvscsi", "lsilogic", "lsisas"]),
    nicModel: NicModel,
  }),
  options: FixupOptions.optional(),
});
export type SystemConfiguration = z.infer<typeof SystemConfiguration>;

export const ReplicaDisk = z.strictObject({
  source: z.strictObject({
    device: DevicePath,
    serial: z.string().max(256).optional(),
    sizeBytes: z.number().int().positive().optional(),
  }),
  target: z.strictObject({
    controller: z.literal("scsi0"),
    unit: z.number().int().min(0).max(15).refine((u) => u !== 7, { message: "unit 7 is the controller itself" }),
    device: DevicePath.optional(),
  }),
  boot: z.boolean().optional(),
});

export const ReplicaDiskMap = z
  .strictObject({ disks: z.array(ReplicaDisk).min(1).max(60) })
  .superRefine((m, ctx) => {
    const seen = new Map<string, number>();
    const units = new Map<number, number>();
    m.disks.forEach((d, i) => {
      const prev = seen.get(d.source.device);
      if (prev !== undefined) ctx.addIssue({ code: "custom", path: ["disks", i, "source", "device"], message: `duplicates disks[${prev}] (${d.source.device})` });
      seen.set(d.source.device, i);
      const pu = units.get(d.target.unit);
      if (pu !== undefined) ctx.addIssue({ code: "custom", path: ["disks", i, "target", "unit"], message: `scsi0:${d.target.unit} is already used by disks[${pu}]` });
      units.set(d.target.unit, i);
      if (d.target.unit === FIXUP_UNIT) ctx.addIssue({ code: "custom", path: ["disks", i, "target", "unit"], message: `scsi0:${FIXUP_UNIT} is reserved for the fixup disk` });
    });
    if (m.disks.filter((d) => d.boot).length > 1) ctx.addIssue({ code: "custom", path: ["disks"], message: "more than one disk is marked boot: true" });
  });
export type ReplicaDiskMap = z.infer<typeof ReplicaDiskMap>;

export const NicMapping = z.strictObject({
  sourceMac: Mac,
  sourceName: IfName.optional(),
  targetMac: Mac,
  targetName: IfName.optional(),
});

export const NetworkInterfaceMap = z
  .strictObject({ interfaces: z.array(NicMapping).max(64) })
  .superRefine((m, ctx) => {
    const check = (key: "sourceMac" | "targetMac" | "targetName", names: (string | undefined)[]) => {
      const seen = new Map<string, number>();
      names.forEach((v, i) => {
        if (v === undefined) return;
        const prev = seen.get(v);
        if (prev !== undefined) ctx.addIssue({ code: "custom", path: ["interfaces", i, key], message: `${v} is already used by interfaces[${prev}]` });
        else seen.set(v, i);
      });
    };
    check("sourceMac", m.interfaces.map((n) => n.sourceMac));
    check("targetMac", m.interfaces.map((n) => n.targetMac));
    check("targetName", m.interfaces.map((n, i) => n.targetName ?? `eth${i}`));
  })
  .transform((m) => ({
    interfaces: m.interfaces.map((n, i) => ({ ...n, targetName: n.targetName ?? `eth${i}` })),
  }));
export type NetworkInterfaceMap = z.infer<typeof NetworkInterfaceMap>;
export type NicMapping = NetworkInterfaceMap["interfaces"][number];

// ---- result.json ----

export const ChangeSummary = z.object({
  action: z.enum(["write", "rename", "symlink", "remove", "mkdir", "exec"]),
  path: z.string().optional(),
  to: z.string().optional(),
  argv: z.array(z.string()).optional(),
  reason: z.string(),
  /** write and remove: the file's unified diff (cut at 64 KiB), for the report. */
  diff: z.string().optional(),
});

export const StepResult = z.object({
  name: z.string(),
  status: z.enum(["changed", "unchanged", "skipped", "failed"]),
  durationMs: z.number().nonnegative(),
  changes: z.array(ChangeSummary),
  warnings: z.array(z.string()),
  /** What the step chose not to do and why (e.g. an initramfs kept because it already has the drivers). */
  notes: z.array(z.string()).optional(),
  error: z.object({ code: z.number().int(), message: z.string() }).optional(),
});
export type StepResult = z.infer<typeof StepResult>;

/** Leaf phases of stage 1, in the order they usually come; entries never overlap, but for those marked `alongside`. */
export const PHASES = ["inputs", "udev-settle", "discovery", "probe", "mount", "binds", "undo-previous", "inspect", "validate", "journal", "plan", "backup", "write", "exec", "rollback", "unmount"] as const;

/** One phase's duration; startMs counts from the result's startedAt. */
export const Timing = z.object({
  phase: z.enum(PHASES),
  /** The fixup step it belongs to (plan, backup, write, exec, rollback). */
  step: z.string().optional(),
  /** What it worked on: a mount point, a path, a command. */
  what: z.string().optional(),
  /** The step whose time this entry's step ran alongside: it may overlap that step's entries. */
  alongside: z.string().optional(),
  startMs: z.number().nonnegative(),
  durationMs: z.number().nonnegative(),
});
export type Timing = z.infer<typeof Timing>;

export const Result = z.object({
  migrationId: z.string(),
  status: z.enum(["succeeded", "failed"]),
  code: z.number().int(),
  message: z.string(),
  step: z.string().optional(),
  startedAt: z.string(),
  finishedAt: z.string(),
  durationMs: z.number().nonnegative(),
  version: z.string(),
  guest: z.record(z.string(), z.unknown()),
  steps: z.array(StepResult),
  warnings: z.array(z.string()),
  /** Where the time went: every leaf phase, so that the gaps between them are the unexplained rest. */
  timings: z.array(Timing).optional(),
});
export type Result = z.infer<typeof Result>;

// ---- stage2-result.json (written by the sentinel in the guest, collected by the manager) ----

/** What happened to VMware Tools in stage 2. Stable codes: managers and runbooks key on them. */
export const Stage2ToolsCode = z.enum([
  /** installed from the tools medium in this run */
  "INSTALLED",
  /** vmtoolsd was already there; left as it was */
  "ALREADY_INSTALLED",
  /** no CD-ROM or tools source with VMware Tools within the wait */
  "NO_MEDIUM",
  /** the medium has no package for this guest's package manager and no usable tarball installer */
  "NO_PACKAGE",
  /** dpkg, rpm or the VMware installer failed */
  "INSTALL_FAILED",
  /** the install finished but vmtoolsd is not there */
  "NOT_RUNNABLE",
  /** the sentinel stopped before it got to the tools */
  "NOT_ATTEMPTED",
]);

/** Why stage 2 ended as it did. Stable codes. */
export const Stage2Code = z.enum([
  /** everything done: tools in place, the guest restored, the sentinel gone */
  "OK",
  /** the guest was restored but has no VMware Tools (a warning unless options.requireTools) */
  "TOOLS_MISSING",
  /** the boot target, runlevel or SELinux mode could not be put back */
  "RESTORE_FAILED",
  /** the sentinel was stopped (a signal, the unit's timeout) or ended unexpectedly */
  "ABORTED",
  /** a failure injected by the test hook OSAM_FAIL_AT */
  "TEST_HOOK",
]);

export const Stage2Result = z.object({
  version: z.literal(1),
  status: z.enum(["succeeded", "succeeded-with-warnings", "failed"]),
  code: Stage2Code,
  /** One sentence for a person: what happened and, on a failure, what to do. */
  reason: z.string(),
  tools: z.object({
    installed: z.boolean(),
    code: Stage2ToolsCode,
    detail: z.string(),
    /** options.requireTools as stage 1 rendered it into the sentinel */
    required: z.boolean(),
  }),
  /** The boot target or runlevel is the source's again (true when stage 1 did not change it). */
  targetRestored: z.boolean(),
  /** No root shell without a password is left: the drop-ins and SINGLE=/sbin/sushell are gone. */
  consoleSecured: z.boolean(),
  /** What the guest does next: restored and powering off, or waiting in single-user mode (asking for the root password). */
  guestState: z.enum(["restored", "single-user"]),
  powerOff: z.enum(["requested", "failed", "not-attempted"]),
  warnings: z.array(z.string()),
  startedAt: z.string(),
  finishedAt: z.string(),
  /** The sentinel's log in the guest. */
  log: z.string(),
});
export type Stage2Result = z.infer<typeof Stage2Result>;

/** What the first-boot verification checks, one entry per subject (a NIC, an address, ...). */
export const VerifyCheckName = z.enum(["root", "root-driver", "nic", "address", "default-route", "dns", "target", "failed-units", "tools"]);
/**
 * Stable codes of the verification's checks. NOT_APPLICABLE: the check cannot hold on this
 * hypervisor (VMware Tools under QEMU) or has nothing to compare with (no expectation known).
 */
export const VerifyCode = z.enum([
  "OK",
  "NOT_APPLICABLE",
  "ROOT_UNEXPECTED",
  "ROOT_DRIVER",
  "NIC_MISSING",
  "NIC_MAC",
  "NIC_NOT_MIGRATED",
  "ADDRESS_MISSING",
  "ROUTE_MISSING",
  "DNS_CHANGED",
  "TARGET_NOT_RESTORED",
  "UNITS_FAILED",
  "TOOLS_NOT_RUNNING",
]);
export const VerifyCheck = z.object({
  check: VerifyCheckName,
  /** What the entry is about: "/", a NIC name, an address with its NIC, a unit list. */
  subject: z.string(),
  status: z.enum(["ok", "failed", "skipped"]),
  code: VerifyCode,
  expected: z.string(),
  actual: z.string(),
  /** One sentence for a person; for a failure, what it means on the target. */
  detail: z.string(),
});
export type VerifyCheck = z.infer<typeof VerifyCheck>;

/** verification.json: the guest checked from inside on its first boot in the restored target. */
export const Verification = z.object({
  version: z.literal(1),
  /** Every check ok or skipped. */
  verified: z.boolean(),
  /** One sentence: "verified", or what differs (the failed checks' subjects). */
  summary: z.string(),
  /** systemd-detect-virt's answer (or what /sys/class/dmi says), "unknown" when neither answers. */
  hypervisor: z.string(),
  checks: z.array(VerifyCheck),
  startedAt: z.string(),
  finishedAt: z.string(),
  /** The verification's log in the guest. */
  log: z.string(),
});
export type Verification = z.infer<typeof Verification>;

/** Every schema published under docs/schemas/, by file name. */
export const PUBLISHED_SCHEMAS = {
  "system-configuration.schema.json": SystemConfiguration,
  "replica-disk-map.schema.json": ReplicaDiskMap,
  "network-interface-map.schema.json": NetworkInterfaceMap,
  "result.schema.json": Result,
  "stage2-result.schema.json": Stage2Result,
  "verification.schema.json": Verification,
  "preflight-report.schema.json": PreflightReport,
} as const;
