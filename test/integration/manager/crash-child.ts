// A manager process for crash.test.ts: runs one migration on the simulated hypervisor in DIR
// and kills itself with SIGKILL at the given boundary ("before:STEP" or "after:STEP").
import { join } from "node:path";
import { Manager } from "../../../src/manager/manager.ts";
import { SimDriver } from "../../unit/manager/sim-driver.ts";
import { sampleSpec } from "../../unit/manager/spec-sample.ts";

const [dir, crashAt, mode] = process.argv.slice(2) as [string, string, string];
const die = (where: string) => (id: string, step: string) => {
  if (`${where}:${step}` === crashAt) process.kill(process.pid, "SIGKILL");
  void id;
};
const mgr = new Manager({ driver: new SimDriver(join(dir, "hv")), stateDir: join(dir, "state"), logDir: join(dir, "logs"), pollMs: 10, beforeStep: die("before"), afterStep: die("after") });
const out = await mgr.runOne(mode === "resume" ? { resumeId: "crash-1" } : { spec: sampleSpec("crash-1") });
process.stdout.write(JSON.stringify(out) + "\n");
process.exitCode = out.status === "succeeded" ? 0 : 1;
