// Reinstalls GRUB for the target VM and regenerates its configuration; see src/bootloader/grub.ts.
import { planBootloader } from "../bootloader/grub.ts";
import type { FixupStep } from "./types.ts";

export const bootloader: FixupStep = {
  name: "bootloader",
  title: "reinstall GRUB for the target firmware and regenerate grub.cfg",
  fatal: true,
  failCode: "BOOTLOADER_FAILED",
  plan: planBootloader,
};
