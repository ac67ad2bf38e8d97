// Real migrations against vcsim (test/vsphere), run by the Manager as `migrate` runs them: two
// succeed, one fails in stage 1 with code 200, one stops before it has logs (its replica disk
// does not exist). The Manager writes the report pages itself.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { VsphereDriver } from "../../../src/manager/drivers/vsphere/driver.ts";
import { Manager } from "../../../src/manager/manager.ts";
import { parseSpec, type MigrationSpec } from "../../../src/manager/spec.ts";
import type { ManagerView } from "../../../src/report/load.ts";
import { startGuestSim } from "../../vsphere/guest-sim.ts";
import { createDisk, startVcsim, testClient } from "../../vsphere/vcsim.ts";

const GUEST_PASSWORD = "report-guest-secret";

function spec(id: string, hostname: string): MigrationSpec {
  return parseSpec({
    migrationId: id,
    source: { hostname, hypervisor: "kvm", firmware: "bios", cpus: 1, memoryMiB: 512 },
    nics: [{ sourceMac: "52:54:00:00:00:01", sourceName: "ens3", targetMac: "00:50:56:01:00:01", targetName: "ens192" }],
    disks: [{ path: `[LocalDS_0] rep/${id}.vmdk`, sourceDevice: "/dev/vda" }],
    fixupDisk: { path: `[LocalDS_0] osam/fixup-${id}.vmdk`, kind: "disk" },
    toolsIso: "[LocalDS_0] osam/vmware-tools.iso",
  });
}

export async function runVcsimWave(work: string, logDir: string): Promise<{ states: Map<string, ManagerView>; stateDir: string }> {
  const vc = await startVcsim();
  let sim: Awaited<ReturnType<typeof startGuestSim>> | undefined;
  const ids = ["rep-web1", "rep-db1", "rep-app1"];
  const noDisk = "rep-nodisk1";
  try {
    const c = await testClient(vc);
    for (const id of ids) {
      await createDisk(c, `[LocalDS_0] osam/fixup-${id}.vmdk`);
      await createDisk(c, `[LocalDS_0] rep/${id}.vmdk`);
    }
    await c.logout();
    sim = await startGuestSim(vc.url, vc.user, vc.password, vc.guestRoot);
    const drv = await VsphereDriver.connect({ url: vc.url, user: vc.user, password: vc.password, guestUser: "root", guestPassword: GUEST_PASSWORD, pollMs: 50, extraConfig: { "RUN.container": '["busybox"]' } });
    try {
      const stateDir = join(work, "vcsim-state");
      mkdirSync(logDir, { recursive: true });
      const mgr = new Manager({ driver: drv, stateDir, logDir, pollMs: 100, concurrency: 4 });
      await mgr.runAll([...ids, noDisk].map((id) => ({ spec: spec(id, id === "rep-db1" ? "fail-stage1" : id) })));
      const states = new Map<string, ManagerView>();
      for (const id of [...ids, noDisk]) {
        const st = await mgr.store.load(id);
        if (!st) throw new Error(`no state for ${id}`);
        states.set(id, st);
        if (st.vm) await (await drv.openVm(st.vm)).destroy();
      }
      return { states, stateDir };
    } finally {
      await drv.close();
    }
  } finally {
    await sim?.stop();
    await vc.stop();
  }
}
