// Against vcsim: kill the manager (SIGKILL) at every step boundary, before a step and after
// it, resume in a new process, and check that each migration completes with nothing done
// twice that must not be: one VM of its name, one CD-ROM, BEGIN written once (its content
// unchanged since stage 1 read it), stage 1 and stage 2 once each.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, existsSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { promisify } from "node:util";
import { STEP_NAMES } from "../../src/manager/steps.ts";
import { arr, text, xsiType } from "../../src/manager/drivers/vsphere/soap.ts";
import { createDisk, startVcsim, testClient } from "./vcsim.ts";
import { onceEach, simReport, startGuestSim } from "./guest-sim.ts";

const run = promisify(execFile);
const child = join(import.meta.dirname, "crash-child.ts");

test("vsphere: crash at every step boundary, resume, complete, nothing done twice", { timeout: 900_000 }, async () => {
  const vc = await startVcsim();
  const sim = await startGuestSim(vc.url, vc.user, vc.password, vc.guestRoot);
  const dir = mkdtempSync(join(tmpdir(), "osam-vs-crash-"));
  const boundaries = STEP_NAMES.flatMap((s) => [`before:${s}`, `after:${s}`]);
  const failures: string[] = [];
  try {
    const c = await testClient(vc);
    const ids = boundaries.map((_, i) => `crash-${i}`);
    for (const id of ids) {
      await createDisk(c, `[LocalDS_0] rep/${id}.vmdk`);
      await createDisk(c, `[LocalDS_0] osam/fixup-${id}.vmdk`);
    }
    const node = async (args: string[]) => {
      try {
        await run(process.execPath, [child, vc.url, vc.user, vc.password, dir, ...args], { encoding: "utf8", timeout: 120_000 });
        return "ok";
      } catch (e) {
        const x = e as { signal?: string; code?: number; stdout?: string; stderr?: string };
        return x.signal === "SIGKILL" ? "killed" : `exit ${x.code}: ${x.stdout ?? ""} ${(x.stderr ?? "").slice(-500)}`;
      }
    };
    let next = 0;
    const worker = async () => {
      for (;;) {
        const i = next++;
        const at = boundaries[i];
        if (!at) return;
        const id = `crash-${i}`;
        const first = await node([id, at, "start"]);
        if (first !== "killed") failures.push(`${at}: first run not killed (${first})`);
        const second = await node([id, "none", "resume"]);
        if (second !== "ok") failures.push(`${at}: resume: ${second}`);
      }
    };
    await Promise.all([worker(), worker(), worker(), worker()]);
    const vms = await c.propsOfAll("VirtualMachine", ["name", "config.hardware.device", "runtime.powerState"]);
    for (const [i, at] of boundaries.entries()) {
      const id = `crash-${i}`;
      const mine = vms.filter((v) => text(v.props.name) === id);
      if (mine.length !== 1) failures.push(`${at}: ${mine.length} VMs named ${id}`);
      const cds = arr((mine[0]?.props["config.hardware.device"] as Record<string, unknown> | undefined)?.VirtualDevice).filter((d) => xsiType(d) === "VirtualCdrom");
      if (cds.length !== 1) failures.push(`${at}: ${cds.length} CD-ROMs`);
      if (!existsSync(join(dir, "logs", `${id}_result.json`))) failures.push(`${at}: no collected result`);
    }
    // stage 1 and 2 once each, BEGIN as stage 1 read it (written once), no simulator error
    const byId = new Map(boundaries.map((at, i) => [`crash-${i}`, at]));
    for (const p of onceEach(simReport(sim.stats), ids, vc.guestRoot)) failures.push(`${byId.get(p.split(":")[0]!) ?? "-"}: ${p}`);
    await c.logout();
  } finally {
    await sim.stop();
    await vc.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  assert.deepEqual(failures, []);
});
