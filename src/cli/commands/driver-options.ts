// The driver options shared by `migrate` and `manager`: which driver, and how to reach it.
import { resolve } from "node:path";
import { createDriver, DRIVER_NAMES, type DriverName, type DriverOptions } from "../../manager/drivers/index.ts";
import type { Driver } from "../../manager/drivers/types.ts";
import { vsphereOptionsFromEnv } from "../../manager/drivers/vsphere/config.ts";
import { UsageError, str } from "../args.ts";

export const DRIVER_ARGS = {
  driver: { type: "string" },
  "vm-dir": { type: "string" },
  accel: { type: "string" },
  "vsphere-url": { type: "string" },
  "vsphere-credentials": { type: "string" },
  "vsphere-datacenter": { type: "string" },
  "vsphere-pool": { type: "string" },
  "vsphere-folder": { type: "string" },
  "vsphere-datastore": { type: "string" },
  insecure: { type: "boolean" },
} as const;

export const DRIVER_USAGE = `qemu driver:
  --vm-dir DIR         VM directories (default <state-dir>/vms)
  --accel tcg|kvm      QEMU accelerator (default tcg)
vsphere driver (credentials only from the environment or a file, never from arguments):
  --vsphere-url URL            https://vcenter/sdk (or OSAM_VSPHERE_URL)
  --vsphere-credentials FILE   JSON {"user","password","guestUser","guestPassword"}
                               (or OSAM_VSPHERE_USER/_PASSWORD, OSAM_GUEST_USER/_PASSWORD)
  --vsphere-datacenter NAME    (or OSAM_VSPHERE_DATACENTER; default: the first one)
  --vsphere-pool PATH          resource pool inventory path (default: the first cluster's)
  --vsphere-folder PATH        VM folder inventory path (default: <datacenter>/vm)
  --vsphere-datastore NAME     datastore for the VM's files (default: the first one)
  --insecure                   do not verify the server's TLS certificate`;

type Values = Record<string, string | boolean | string[] | undefined>;

export function driverNameOf(values: Values, usage: string): DriverName {
  const name = (str(values.driver) ?? "qemu") as DriverName;
  if (!DRIVER_NAMES.includes(name)) throw new UsageError(`--driver must be one of ${DRIVER_NAMES.join(", ")}\n\n${usage}`);
  return name;
}

/** The driver's options from the arguments and the environment (bad ones are usage errors). */
export async function driverOptionsOf(name: DriverName, values: Values, stateDir: string, usage: string): Promise<DriverOptions> {
  const accel = str(values.accel) ?? "tcg";
  if (accel !== "tcg" && accel !== "kvm") throw new UsageError(`--accel must be tcg or kvm\n\n${usage}`);
  const opts: DriverOptions = {};
  if (name === "qemu") opts.qemu = { stateDir: resolve(str(values["vm-dir"]) ?? `${stateDir}/vms`), accel };
  else {
    try {
      opts.vsphere = await vsphereOptionsFromEnv(process.env, {
        url: str(values["vsphere-url"]),
        credentialsFile: str(values["vsphere-credentials"]),
        datacenter: str(values["vsphere-datacenter"]),
        pool: str(values["vsphere-pool"]),
        folder: str(values["vsphere-folder"]),
        datastore: str(values["vsphere-datastore"]),
        insecure: Boolean(values.insecure),
      });
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
  }
  return opts;
}

export { createDriver, type Driver };
