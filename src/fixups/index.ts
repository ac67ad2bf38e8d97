// The order in which stage 1 runs the fixups. Later steps see earlier steps' changes: the
// initramfs is built after the network names and drivers are configured, and the boot loader
// config is generated last, after every kernel command-line edit.
import type { FixupStep } from "./types.ts";
import { staleCaches } from "./stale-caches.ts";
import { network } from "./network.ts";
import { preflight } from "./preflight.ts";
import { deviceRefs } from "./device-refs.ts";
import { initrd } from "./initrd.ts";
import { bootloader } from "./bootloader.ts";
import { stage2State } from "./stage2-state.ts";
import { singleUser } from "./single-user.ts";
import { selinux } from "./selinux.ts";
import { foreignTools } from "./foreign-tools.ts";
import { sentinel } from "./sentinel.ts";
import { verifyFirstBoot } from "./verify.ts";
import { residueAudit } from "./residue.ts";

export const ALL_STEPS: FixupStep[] = [
  // storage: device references
  preflight,
  staleCaches,
  deviceRefs,
  // network: names and configuration
  network,
  // stage 2: state, single-user mode, sentinel, foreign tools
  stage2State,
  singleUser,
  selinux,
  foreignTools,
  sentinel,
  verifyFirstBoot,
  // what the steps above left behind that stops the boot: checked before the slow part
  residueAudit,
  // last: initramfs, then boot loader
  initrd,
  bootloader,
];

export function selectSteps(only?: string[], skip?: string[]): FixupStep[] {
  const names = new Set(ALL_STEPS.map((s) => s.name));
  for (const n of [...(only ?? []), ...(skip ?? [])]) {
    if (!names.has(n)) throw new Error(`unknown step '${n}' (steps: ${[...names].join(", ")})`);
  }
  return ALL_STEPS.filter((s) => (!only?.length || only.includes(s.name)) && !skip?.includes(s.name));
}
