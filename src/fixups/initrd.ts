// Gives the initramfs of every installed kernel the VMware target drivers: kept when it has them,
// completed by one more archive or rebuilt when not; see src/initrd/ and docs/storage.md.
import { planInitrd } from "../initrd/plan.ts";
import type { FixupStep } from "./types.ts";

export const initrd: FixupStep = {
  name: "initrd",
  title: "give every kernel's initramfs the VMware disk and NIC drivers (kept, completed or rebuilt)",
  fatal: true,
  failCode: "INITRD_FAILED",
  plan: planInitrd,
};
