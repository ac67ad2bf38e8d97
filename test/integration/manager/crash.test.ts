// Kill the manager (SIGKILL) at every step boundary, before a step starts and after it is
// done, resume it in a new process, and check that it completes with nothing done twice that
// must not be: one VM, one BEGIN, one power-on per boot (two from the disk: stage 2 and the
// first boot), one CD-ROM, one tools insert.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, existsSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { promisify } from "node:util";
import { STEP_NAMES } from "../../../src/manager/steps.ts";
import { SimDriver } from "../../unit/manager/sim-driver.ts";

const run = promisify(execFile);
const child = join(import.meta.dirname, "crash-child.ts");

async function node(args: string[]): Promise<{ code: number | null; signal: string | null; stdout: string }> {
  try {
    const r = await run(process.execPath, [child, ...args], { encoding: "utf8", timeout: 60_000 });
    return { code: 0, signal: null, stdout: r.stdout };
  } catch (e) {
    const x = e as { code: number | null; signal: string | null; stdout: string };
    return { code: typeof x.code === "number" ? x.code : null, signal: x.signal, stdout: x.stdout };
  }
}

// how often each may happen: the disk boots twice, for stage 2 and for the first boot
const TIMES: Record<string, number> = { createVm: 1, "writeFile /tmp/fixup/BEGIN": 1, "powerOn 15": 1, "stage1-done": 1, addCdrom: 1, "powerOn 0": 2, "insertMedia /img/tools.iso": 1, "stage2-poweroff": 1 };

const boundaries = STEP_NAMES.flatMap((s) => [`before:${s}`, `after:${s}`]);

test(`crash at each of ${boundaries.length} step boundaries, resume, complete, nothing done twice`, { timeout: 600_000 }, async () => {
  const failures: string[] = [];
  let next = 0;
  const worker = async () => {
    for (;;) {
      const at = boundaries[next++];
      if (!at) return;
      const dir = mkdtempSync(join(tmpdir(), "osam-crash-"));
      try {
        const first = await node([dir, at, "start"]);
        if (first.signal !== "SIGKILL") failures.push(`${at}: the first run was not killed (${first.code} ${first.stdout})`);
        const second = await node([dir, "none", "resume"]);
        if (second.code !== 0) failures.push(`${at}: resume failed: ${second.stdout}`);
        const ops = new SimDriver(join(dir, "hv")).ops("crash-1");
        for (const [op, times] of Object.entries(TIMES)) {
          const n = ops.filter((o) => o === op).length;
          if (n !== times) failures.push(`${at}: "${op}" happened ${n} times, not ${times}`);
        }
        if (!existsSync(join(dir, "logs", "crash-1_result.json"))) failures.push(`${at}: no collected result`);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
  };
  await Promise.all([worker(), worker(), worker()]);
  assert.deepEqual(failures, []);
});
