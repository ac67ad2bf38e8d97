// Reinstalls GRUB for the target VM and regenerates its configuration; see src/bootloader/grub.ts.
import { planBootloader } from "../bootloader/grub.ts";
import { imagePathFor } from "../initrd/plan.ts";
import type { FixupContext, FixupStep } from "./types.ts";

/** Whether the initramfs step leaves /boot's names as they are: every kernel has its image already. */
async function everyImageExists(ctx: FixupContext): Promise<boolean> {
  if (!ctx.info.kernels.length) return false;
  for (const k of ctx.info.kernels) if (!(await ctx.view.exists(imagePathFor(ctx, k)))) return false;
  return true;
}

export const bootloader: FixupStep = {
  name: "bootloader",
  title: "reinstall GRUB for the target firmware and regenerate grub.cfg",
  fatal: true,
  failCode: "BOOTLOADER_FAILED",
  plan: planBootloader,
  // grub-install and grub-mkconfig are most of stage 1's time; the initramfs step is planned
  // and applied while they run. grub-mkconfig lists the images by name only, and the
  // initramfs step adds no name while every kernel has its image (a build for a kernel without
  // one makes a new name: then the steps run one after the other, as listed)
  alongside: { step: "initrd", why: "every kernel has its initramfs image, so the boot loader reads nothing the initramfs step changes", when: everyImageExists },
};
