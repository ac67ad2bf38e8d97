// A valid migration spec for the manager's tests (two NICs, two disks).
import { parseSpec, type MigrationSpec } from "../../../src/manager/spec.ts";

export function sampleSpec(id: string, over: Record<string, unknown> = {}): MigrationSpec {
  return parseSpec({
    migrationId: id,
    source: { hostname: "web1", hypervisor: "kvm", firmware: "bios", cpus: 2, memoryMiB: 2048, os: { id: "debian", version: "12" } },
    nics: [
      { sourceMac: "52:54:00:12:34:56", sourceName: "ens3", targetMac: "00:50:56:AA:BB:01", targetName: "ens192" },
      { sourceMac: "52:54:00:12:34:57", targetMac: "00:50:56:aa:bb:02" },
    ],
    disks: [
      { path: "/img/root.qcow2", sourceDevice: "/dev/vda", boot: true },
      { path: "/img/data.qcow2", sourceDevice: "/dev/vdb" },
    ],
    fixupDisk: { path: "/img/fixup.iso" },
    toolsIso: "/img/tools.iso",
    ...over,
  });
}
