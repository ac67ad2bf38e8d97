// The one place that maps a driver name to its implementation.
import { QemuDriver, type QemuDriverOptions } from "./qemu/driver.ts";
import type { Driver } from "./types.ts";
import type { VsphereDriverOptions } from "./vsphere/config.ts";

export const DRIVER_NAMES = ["qemu", "vsphere"] as const;
export type DriverName = (typeof DRIVER_NAMES)[number];

export interface DriverOptions {
  qemu?: QemuDriverOptions;
  vsphere?: VsphereDriverOptions;
}

export async function createDriver(name: DriverName, opts: DriverOptions): Promise<Driver> {
  if (name === "qemu") {
    if (!opts.qemu) throw new Error("the qemu driver needs its options (stateDir)");
    return new QemuDriver(opts.qemu);
  }
  if (!opts.vsphere) throw new Error("the vsphere driver needs its options (url, credentials)");
  const { VsphereDriver } = await import("./vsphere/driver.ts");
  return VsphereDriver.connect(opts.vsphere);
}

export * from "./types.ts";
