// The shape every fixup has: a named step that looks at a read-only view of the guest and
// returns the changes it wants, never writing anything itself.
import type { CodeName } from "../protocol/codes.ts";
import type { Inputs } from "../protocol/inputs.ts";
import type { StepPlan } from "../engine/changes.ts";
import type { GuestView } from "../guest/view.ts";
import type { GuestInfo } from "../guest/inspect.ts";
import type { Logger } from "../util/log.ts";
import type { KnownDevice } from "../guest/devices.ts";
import type { ImageReads } from "../initrd/image-reads.ts";

export type { KnownDevice };


export interface FixupContext {
  view: GuestView;
  info: GuestInfo;
  inputs: Inputs;
  devices: KnownDevice[];
  log: Logger;
  /** The run's reads of initramfs images, started ahead (src/initrd/image-reads.ts). */
  images?: ImageReads;
}

export interface FixupStep {
  name: string;
  /** One line for --help and progress displays. */
  title: string;
  /** A fatal step's failure rolls the whole run back; others become warnings. */
  fatal: boolean;
  failCode: CodeName;
  /**
   * Checks the inputs against the guest before anything is changed; throws a FixupError
   * (INPUT_CONTRADICTORY, ...) to stop the run with the guest untouched.
   */
  validate?(ctx: FixupContext): Promise<void>;
  plan(ctx: FixupContext): Promise<StepPlan>;
  /**
   * Apply mode: this step may run alongside the step just before it (named here) when `when`
   * holds on the guest as the steps before them left it: neither reads what the other changes.
   * This step starts first and the other is planned and applied meanwhile (engine/run.ts).
   */
  alongside?: { step: string; why: string; when(ctx: FixupContext): Promise<boolean> };
}
