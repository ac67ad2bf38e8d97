// Finding and mounting the guest on the fixup VM's disks (agent mode without --root).
import { FixupError } from "../protocol/codes.ts";
import type { Inputs } from "../protocol/inputs.ts";
import type { KnownDevice } from "../fixups/types.ts";
import type { Logger } from "../util/log.ts";

export interface OpenedGuest {
  /** Host directory where the guest's root is mounted, with /boot etc. and chroot binds. */
  root: string;
  /** What blkid says about the replica disks' filesystems, keyed by source device name. */
  devices: KnownDevice[];
  /** Unmounts everything this opened, in reverse order. Safe to call twice. */
  close(): Promise<void>;
}

export function openGuest(_inputs: Inputs, _log: Logger): Promise<OpenedGuest> {
  return Promise.reject(new FixupError("GUEST_NOT_FOUND", "automatic discovery of the guest's disks is not available in this build; mount the guest and pass --root DIR", "mount"));
}
