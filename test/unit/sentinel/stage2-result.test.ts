// The stage-2 result from end to end without a VM: the sentinel's own JSON writer and console
// printer (run under dash and busybox sh on awkward text), the manager's parser of console
// output (cut, garbled and repeated blocks), and the manager's wait-stage2 step on a fake VM
// (a failure reported at once, a success with warnings collected, an earlier boot's block
// ignored, a power-off that failed done by the manager).
import { test } from "node:test";
import assert from "node:assert/strict";
import { execa } from "execa";
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sentinelScript } from "../../../src/sentinel/render.ts";
import { STAGE2_RESULT_MARKERS, collectedLogName } from "../../../src/protocol/files.ts";
import { Stage2Result } from "../../../src/protocol/schemas.ts";
import { lastStage2Result, parseStage2Blocks } from "../../../src/manager/stage2.ts";
import { MigrationFailure, STEPS, type StepContext } from "../../../src/manager/steps.ts";
import type { MigrationState } from "../../../src/manager/state.ts";
import type { PowerState, Vm } from "../../../src/manager/drivers/types.ts";
import { Logger } from "../../../src/util/log.ts";

const AWKWARD = 'a "quoted" reason with a back\\slash,\ta tab, a new\nline and a bell\x07';

/** Runs write_result and emit_result of the real sentinel under `shell`; returns the result file and the console file. */
async function sentinelWrites(shell: string[], dir: string): Promise<{ file: string; console: string }> {
  // the script without its last line (main "$@"): its functions, for a test to call
  const lib = sentinelScript().replace(/\nmain "\$@"\n$/, "\n");
  assert.notEqual(lib, sentinelScript(), "the script ends with main \"$@\"");
  const script = `${lib}
DATA=${dir}/data
RESULT=$DATA/stage2-result.json
LOG=${dir}/sentinel.log
STARTED=2026-01-01T00:00:00Z
TOOLS_CODE=NO_PACKAGE
TOOLS_DETAIL="$1"
warn "$1"
warn "second warning"
TARGET_RESTORED=true
CONSOLE_SECURED=true
POWER=requested
write_result succeeded-with-warnings TOOLS_MISSING "$1" restored
OSAM_CONSOLE=${dir}/console
emit_result
`;
  await writeFile(join(dir, "t.sh"), script);
  const r = await execa(shell[0]!, [...shell.slice(1), join(dir, "t.sh"), AWKWARD], { reject: false, all: true });
  assert.equal(r.exitCode, 0, String(r.all));
  return { file: readFileSync(join(dir, "data/stage2-result.json"), "utf8"), console: readFileSync(join(dir, "console"), "utf8") };
}

for (const shell of [["dash"], ["busybox", "sh"]]) {
  test(`${shell.join(" ")}: the sentinel writes valid JSON for awkward text and prints it between the markers`, async () => {
    const dir = await mkdtemp(join(tmpdir(), "osam-s2r-"));
    try {
      const { file, console } = await sentinelWrites(shell, dir);
      const r = Stage2Result.parse(JSON.parse(file));
      const flat = AWKWARD.replace(/[\t\n]/g, " ").replace(String.fromCharCode(7), "");
      assert.equal(r.reason, flat);
      assert.equal(r.tools.detail, flat);
      // a warning with a new line is two lines of WARNINGS: each becomes an entry
      assert.deepEqual(r.warnings, ['a "quoted" reason with a back\\slash, a tab, a new', "line and a bell", "second warning"]);
      assert.deepEqual([r.status, r.code, r.tools.installed, r.tools.code, r.tools.required, r.guestState, r.powerOff], ["succeeded-with-warnings", "TOOLS_MISSING", false, "NO_PACKAGE", false, "restored", "requested"]);
      const blocks = parseStage2Blocks(console);
      assert.equal(blocks.length, 1, console);
      assert.deepEqual(blocks[0]!.result, r);
      assert.equal(blocks[0]!.raw + "\n", file, "the console carries the file as it is");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
}

const sample = (over: Partial<Stage2Result> = {}): Stage2Result => ({
  version: 1,
  status: "succeeded",
  code: "OK",
  reason: "stage 2 finished",
  tools: { installed: true, code: "INSTALLED", detail: "installed from the tools medium", required: false },
  targetRestored: true,
  consoleSecured: true,
  guestState: "restored",
  powerOff: "requested",
  warnings: [],
  startedAt: "2026-01-01T00:00:00Z",
  finishedAt: "2026-01-01T00:01:00Z",
  log: "/var/log/osam-sentinel.log",
  ...over,
});

/** A block as the sentinel prints it, through a tty (\r\n). */
function block(r: Stage2Result, bytesDelta = 0): string {
  const json = JSON.stringify(r);
  return `\r\n${STAGE2_RESULT_MARKERS.begin}\r\n${json}\r\n${STAGE2_RESULT_MARKERS.end} bytes=${Buffer.byteLength(json) + 1 + bytesDelta}\r\n`;
}

test("the parser takes whole blocks only: cut by kernel output, wrong length, bad JSON or schema are skipped; the last whole one wins", () => {
  const ok1 = sample();
  const ok2 = sample({ status: "failed", code: "TOOLS_MISSING", guestState: "single-user", powerOff: "not-attempted" });
  const json = JSON.stringify(ok1);
  const cut = `${STAGE2_RESULT_MARKERS.begin}\n${json.slice(0, 40)}[   12.345678] sd 2:0:0:0: [sda] Synchronize Cache\n${json.slice(40)}\n${STAGE2_RESULT_MARKERS.end} bytes=${json.length + 1}\n`;
  const text = ["[    0.000000] Linux version 6.1", block(ok1), cut, block(ok1, 3), `${STAGE2_RESULT_MARKERS.begin}\n{not json\n${STAGE2_RESULT_MARKERS.end} bytes=10\n`, block({ ...ok1, code: "NOPE" } as unknown as Stage2Result), `login: ${block(ok2).slice(2)}`, "Give root password for maintenance\r\n"].join("");
  const blocks = parseStage2Blocks(text);
  assert.deepEqual(blocks.map((b) => b.result.status), ["succeeded", "failed"]);
  assert.deepEqual(lastStage2Result(text)?.result, ok2);
  assert.equal(lastStage2Result("no markers at all\n"), undefined);
  assert.equal(lastStage2Result(block(ok1).slice(0, -30)), undefined, "a block still being written");
});

// ---- the manager's wait-stage2 step on a fake VM ----

interface FakeVm {
  vm: Vm;
  serial: { text: string };
  power: { state: PowerState; offs: number };
}

function fakeVm(withSerial = true): FakeVm {
  const serial = { text: "" };
  const power = { state: "on" as PowerState, offs: 0 };
  const vm = {
    ref: { driver: "fake", name: "vm", id: "vm" },
    serialLogPath: undefined,
    powerState: () => Promise.resolve(power.state),
    powerOff: () => {
      power.offs++;
      power.state = "off";
      return Promise.resolve();
    },
    waitPoweredOff: () => {
      power.state = "off";
      return Promise.resolve();
    },
    ...(withSerial ? { serialOutput: () => Promise.resolve(Buffer.from(serial.text)) } : {}),
  } as unknown as Vm;
  return { vm, serial, power };
}

async function withCtx<T>(f: FakeVm, fn: (ctx: StepContext, st: MigrationState) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), "osam-s2m-"));
  const st = { id: "mig-1", logDir: join(dir, "logs"), collected: { log: "l", result: "r" } } as unknown as MigrationState;
  const ctx: StepContext = {
    state: st,
    driver: undefined as never,
    vm: () => Promise.resolve(f.vm),
    log: new Logger(),
    signal: new AbortController().signal,
    pollMs: 10,
    deadline: Date.now() + 10_000,
    save: () => Promise.resolve(),
  };
  try {
    return await fn(ctx, st);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const step = (name: string) => STEPS.find((s) => s.name === name)!;

test("wait-stage2: a failed result on the serial console ends the wait at once with the sentinel's reason, and is kept as <id>_stage2.json", async () => {
  const f = fakeVm();
  await withCtx(f, async (ctx, st) => {
    f.serial.text = "fixup boot\n" + block(sample({ status: "failed", code: "ABORTED", reason: "stopped" }));
    const withPowerOn: Vm = { ...f.vm, powerOn: () => Promise.resolve() };
    await step("power-on-stage2").run({ ...ctx, vm: () => Promise.resolve(withPowerOn) });
    assert.equal(st.stage2SerialOffset, f.serial.text.length, "output before the stage-2 boot is not this boot's");
    const failed = sample({ status: "failed", code: "TOOLS_MISSING", reason: "VMware Tools are required and were not installed", tools: { installed: false, code: "NO_MEDIUM", detail: "no medium", required: true }, guestState: "single-user", powerOff: "not-attempted" });
    setTimeout(() => (f.serial.text += block(failed) + "Give root password for maintenance\n"), 50);
    const t0 = Date.now();
    await assert.rejects(step("wait-stage2").run(ctx), (e: unknown) => e instanceof MigrationFailure && /stage 2 failed \(TOOLS_MISSING\): VMware Tools are required/.test(e.message));
    assert.ok(Date.now() - t0 < 5000);
    assert.equal(f.power.state, "on", "the guest is left waiting for a person");
    const kept = join(st.logDir, collectedLogName("mig-1", "stage2"));
    assert.deepEqual(Stage2Result.parse(JSON.parse(readFileSync(kept, "utf8"))), failed);
    assert.deepEqual(st.stage2, { status: "failed", code: "TOOLS_MISSING", reason: failed.reason, toolsInstalled: false, toolsCode: "NO_MEDIUM" });
  });
});

test("wait-stage2: succeeded with warnings is collected when the guest powers off; a failed power-off is done by the manager", async () => {
  const f = fakeVm();
  await withCtx(f, async (ctx, st) => {
    st.stage2SerialOffset = 0;
    const warned = sample({ status: "succeeded-with-warnings", code: "TOOLS_MISSING", tools: { installed: false, code: "NO_PACKAGE", detail: "no package", required: false }, warnings: ["VMware Tools were not installed"] });
    setTimeout(() => {
      f.serial.text += block(warned);
      f.power.state = "off";
    }, 50);
    await step("wait-stage2").run(ctx);
    assert.deepEqual(st.stage2, { status: "succeeded-with-warnings", code: "TOOLS_MISSING", reason: warned.reason, toolsInstalled: false, toolsCode: "NO_PACKAGE" });
    assert.ok(st.collected?.stage2 && existsSync(st.collected.stage2));
  });
  const g = fakeVm();
  await withCtx(g, async (ctx, st) => {
    g.serial.text = block(sample({ powerOff: "failed", reason: "stage 2 finished; but the guest did not power itself off" }));
    await step("wait-stage2").run(ctx);
    assert.equal(g.power.offs, 1, "the manager powered it off");
    assert.equal(st.stage2?.status, "succeeded");
  });
});

test("wait-stage2: without a serial channel (a driver that has none) it waits for the power-off as before", async () => {
  const f = fakeVm(false);
  await withCtx(f, async (ctx, st) => {
    await step("wait-stage2").run(ctx);
    assert.equal(f.power.state, "off");
    assert.equal(st.stage2, undefined);
  });
});
