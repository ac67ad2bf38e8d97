// A manager process for crash.test.ts: runs migration ID through the vSphere driver against
// the vcsim at URL and kills itself with SIGKILL at the boundary "before:STEP" or "after:STEP".
import { join } from "node:path";
import { VsphereDriver } from "../../src/manager/drivers/vsphere/driver.ts";
import { Manager } from "../../src/manager/manager.ts";
import { parseSpec } from "../../src/manager/spec.ts";

const [url, user, password, dir, id, crashAt, mode] = process.argv.slice(2) as [string, string, string, string, string, string, string];
const die = (where: string) => (_id: string, step: string) => {
  if (`${where}:${step}` === crashAt) process.kill(process.pid, "SIGKILL");
};
const drv = await VsphereDriver.connect({ url, user, password, guestUser: "root", guestPassword: "crash", pollMs: 50, extraConfig: { "RUN.container": '["busybox"]' } });
const mgr = new Manager({ driver: drv, stateDir: join(dir, "state"), logDir: join(dir, "logs"), pollMs: 100, beforeStep: die("before"), afterStep: die("after") });
const spec = parseSpec({
  migrationId: id,
  source: { firmware: "bios", cpus: 1, memoryMiB: 512 },
  nics: [{ sourceMac: "52:54:00:00:00:01", targetMac: "00:50:56:00:00:01" }],
  disks: [{ path: `[LocalDS_0] rep/${id}.vmdk`, sourceDevice: "/dev/vda" }],
  fixupDisk: { path: `[LocalDS_0] osam/fixup-${id}.vmdk`, kind: "disk" },
  toolsIso: "[LocalDS_0] osam/tools.iso",
});
const out = await mgr.runOne(mode === "resume" ? { resumeId: id } : { spec });
await drv.close();
process.stdout.write(JSON.stringify(out) + "\n");
process.exitCode = out.status === "succeeded" ? 0 : 1;
