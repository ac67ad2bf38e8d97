// Stable numeric failure codes written into result.json. Never renumber: managers and
// people's runbooks key on them. Documented in README.md (kept in sync by a unit test).

export const CODES = {
  OK: { code: 0, summary: "stage 1 succeeded" },
  INPUT_MISSING: { code: 100, summary: "an input map is missing from the fixup directory" },
  INPUT_INVALID: { code: 101, summary: "an input map is not valid JSON or does not match its schema" },
  INPUT_CONTRADICTORY: { code: 102, summary: "the input maps contradict each other or the guest (duplicate MACs, unknown MAC, disk not attached)" },
  GUEST_NOT_FOUND: { code: 200, summary: "no Linux root filesystem was found on the replica disks" },
  GUEST_AMBIGUOUS_ROOT: { code: 201, summary: "several root filesystems were found and system-configuration does not say which one to fix" },
  GUEST_MOUNT_FAILED: { code: 202, summary: "a guest filesystem could not be activated, repaired or mounted" },
  GUEST_UNSUPPORTED: { code: 203, summary: "the guest OS or its layout is not supported" },
  GUEST_NO_SPACE: { code: 204, summary: "not enough free space on / or /boot, or the root is not writable" },
  GUEST_UNSAFE: { code: 205, summary: "the guest contains a path that would escape its root or is not the expected file type" },
  GUEST_LEFTOVER: { code: 206, summary: "a boot-critical file would still name a source disk or NIC that the target does not have; nothing was changed" },
  FSTAB_FAILED: { code: 300, summary: "the root filesystem entry in fstab could not be fixed" },
  DEVICE_REF_UNRESOLVED: { code: 301, summary: "a boot-critical device reference (root, resume, an fstab or crypttab line, cryptopts) names the source's hardware and no UUID is known for it" },
  INITRD_FAILED: { code: 310, summary: "rebuilding the initramfs failed; the previous image was restored" },
  INITRD_TOOL_MISSING: { code: 311, summary: "the guest has no dracut, update-initramfs or mkinitrd" },
  BOOTLOADER_FAILED: { code: 320, summary: "installing or configuring the boot loader failed; the previous configuration was restored" },
  DEFAULT_KERNEL_UNSET: { code: 321, summary: "the newest kernel lacks the target's disk or NIC driver and the guest's way of choosing its default kernel could not be determined; nothing was changed" },
  MD_ARRAY_UNIDENTIFIED: { code: 330, summary: "an md RAID array in mdadm.conf is found only by the source's device names and no UUID is known for it" },
  NETWORK_FAILED: { code: 400, summary: "the network configuration could not be carried over" },
  STAGE2_FAILED: { code: 500, summary: "the stage-2 sentinel or the single-user state could not be installed" },
  APPLY_FAILED: { code: 900, summary: "a change could not be applied; the step's originals were restored" },
  INTERNAL: { code: 999, summary: "unexpected internal error (a bug): see fixup.log" },
} as const;

export type CodeName = keyof typeof CODES;

/** An error that carries a stable code and a message a person can act on. */
export class FixupError extends Error {
  readonly codeName: CodeName;
  readonly step: string | undefined;
  constructor(codeName: CodeName, message: string, step?: string) {
    super(message);
    this.name = "FixupError";
    this.codeName = codeName;
    this.step = step;
  }
  get code(): number {
    return CODES[this.codeName].code;
  }
}
