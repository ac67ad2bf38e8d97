// What a reader of a report can do about each stable failure code (codes.ts says what it
// means). The message next to it names the file or device concerned.
import { CODES, type CodeName } from "../protocol/codes.ts";

const TODO: Partial<Record<CodeName, string>> = {
  INPUT_MISSING: "Deliver all three maps before BEGIN (the manager does); rerun the migration.",
  INPUT_INVALID: "Fix the map field the message names; the schemas are in docs/schemas/.",
  INPUT_CONTRADICTORY: "Make the maps agree with each other and with the VM (MACs, disks); rerun.",
  GUEST_NOT_FOUND: "Check that the replica disks are attached and hold the source's root filesystem.",
  GUEST_AMBIGUOUS_ROOT: "Name the root to fix in system-configuration.json (source.root).",
  GUEST_MOUNT_FAILED: "Check the replica's filesystems (fsck) and that replication finished; rerun.",
  GUEST_UNSUPPORTED: "This OS or layout is not supported; migrate it by hand (see FIXUPS.md).",
  GUEST_NO_SPACE: "Free space on / and /boot of the source (an old kernel), replicate again, rerun.",
  GUEST_UNSAFE: "Inspect the path the message names in the guest; a link may point outside the root.",
  FSTAB_FAILED: "Fix the root entry of /etc/fstab by hand, or correct the disk map; rerun.",
  INITRD_FAILED: "Read the tool's output below; the guest keeps its previous image. Fix and rerun.",
  INITRD_TOOL_MISSING: "Install dracut, initramfs-tools or mkinitrd on the source and replicate again.",
  BOOTLOADER_FAILED: "Read grub-install's output below; the previous boot configuration was restored.",
  NETWORK_FAILED: "Check the network map against the guest's configuration; rerun.",
  STAGE2_FAILED: "Check free space and /etc/systemd on the guest; rerun.",
  APPLY_FAILED: "Read the step's error below; its changes were undone. Fix the cause and rerun.",
  INTERNAL: "A bug: attach this page and fixup.log to an issue.",
};

export interface CodeInfo {
  name: string;
  summary: string;
  todo?: string;
}

export function codeInfo(code: number): CodeInfo | undefined {
  for (const [name, c] of Object.entries(CODES) as [CodeName, (typeof CODES)[CodeName]][]) {
    if (c.code === code) return { name, summary: c.summary, ...(TODO[name] ? { todo: TODO[name] } : {}) };
  }
  return undefined;
}
