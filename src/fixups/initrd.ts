// Rebuilds the initramfs of every installed kernel with the VMware target drivers; see src/initrd/.
import { planInitrd } from "../initrd/plan.ts";
import type { FixupStep } from "./types.ts";

export const initrd: FixupStep = {
  name: "initrd",
  title: "rebuild the initramfs of every kernel with the VMware disk and NIC drivers",
  fatal: true,
  failCode: "INITRD_FAILED",
  plan: planInitrd,
};
