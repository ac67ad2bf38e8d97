// No root shell without a password outlives stage 2 (issue 18), proven with the real sentinel
// and watchdog in small guests made from the golden trees (RHEL 8-style systemd, RHEL 6-style
// SysV with SINGLE=), under dash and under busybox sh:
// - a failure injected at every checkpoint leaves no drop-in and no SINGLE=/sbin/sushell behind,
//   records a schema'd failed result, prints it between the markers, does not power off, and
//   a rerun finishes (once per guest and shell: the power-cut sweeps cover resuming);
// - a power cut (kill -9) at every checkpoint leaves none either;
// - the watchdog removes them when the sentinel never runs: the systemd watchdog service's
//   commands as systemd would run them, and the SysV init script with its wait shortened.
// Needs root (chroot).
import { test } from "node:test";
import assert from "node:assert/strict";
import { execa } from "execa";
import { existsSync } from "node:fs";
import { mkdir, readFile, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { WATCHDOG_NAME, WATCHDOG_SERVICE_PATH, WATCHDOG_TIMER_PATH, WATCHDOG_WANTS } from "../../../src/fixups/sentinel.ts";
import { CONSOLE_WATCHDOG_SECONDS, GUEST_DATA_DIR, NO_PASSWORD_DROPINS, SENTINEL_SCRIPT } from "../../../src/protocol/files.ts";
import { removeTree } from "../../helpers/tree.ts";
import {
  CHECKPOINTS,
  GOLDEN,
  GUEST_BUSYBOX,
  GUEST_DASH,
  POWEROFF_MARK,
  addDash,
  assertStage2Done,
  consoleResults,
  goldenGuest,
  passwordlessLeft,
  present,
  runSentinel,
  stage2Result,
  statusWord,
  tarballMedia,
  type GoldenGuest,
} from "./harness.ts";

const SHELLS: [string, string[]][] = [
  ["dash", [GUEST_DASH]],
  ["busybox sh", [GUEST_BUSYBOX, "sh"]],
];
const LAYOUTS: GoldenGuest[] = ["rhel8-systemd", "rhel6-sysv"];
const g = (root: string, p: string) => join(root, p.replace(/^\//, ""));

async function guest(layout: GoldenGuest): Promise<string> {
  const root = await goldenGuest(layout);
  await addDash(root);
  return root;
}

/** What stage 1 opened, so that the tests below can see it closed. */
function assertOpened(root: string, layout: GoldenGuest): void {
  const open = passwordlessLeft(root);
  if (layout === "rhel8-systemd") assert.deepEqual(open, [...NO_PASSWORD_DROPINS], "stage 1 installs both drop-ins");
  else assert.deepEqual(open, ["/etc/sysconfig/init: SINGLE=/sbin/sushell"], "stage 1 sets SINGLE=/sbin/sushell");
}

for (const layout of LAYOUTS) {
  for (const [shellName, shell] of SHELLS) {
    test(`${layout}, ${shellName}: a failure at every checkpoint leaves no root shell without a password, reports it; a rerun finishes`, async () => {
      assert.ok(CHECKPOINTS.length >= 7, `checkpoints found: ${CHECKPOINTS.join(" ")}`);
      for (const cp of CHECKPOINTS) {
        const root = await guest(layout);
        try {
          assertOpened(root, layout);
          const media = await tarballMedia(root);
          const r = await runSentinel(root, shell, { OSAM_TOOLS_SOURCE: media, OSAM_FAIL_AT: cp });
          assert.equal(r.exitCode, 1, `${cp}: exit status\n${r.output}`);
          assert.deepEqual(passwordlessLeft(root), [], `${cp}: left behind\n${r.output}`);
          const res = stage2Result(root);
          assert.ok(res, `${cp}: no result written`);
          assert.deepEqual(consoleResults(root).at(-1), res, `${cp}: the console shows the result in the guest`);
          assert.equal(res.consoleSecured, true, cp);
          if (cp === "cleaned-up") {
            // restored and cleaned up already: only the power-off did not happen, and says so
            assert.deepEqual([res.status, res.guestState, res.powerOff], ["succeeded", "restored", "failed"], cp);
            assert.equal(existsSync(g(root, SENTINEL_SCRIPT)), false);
            continue;
          }
          assert.deepEqual([res.status, res.code, res.guestState, res.powerOff], ["failed", "TEST_HOOK", "single-user", "not-attempted"], `${cp}: ${JSON.stringify(res)}`);
          assert.match(res.reason, new RegExp(`failing at checkpoint ${cp}.*asks for the root password`));
          assert.match((await statusWord(root)) ?? "", /^failed:/, cp);
          assert.equal(present(root, POWEROFF_MARK), false, `${cp}: a failed stage 2 must not power off`);
          // resuming is the same run as after a power cut (the sweeps in busybox-guest and debian): once here
          if (cp !== "tools-installed") continue;
          const again = await runSentinel(root, shell, { OSAM_TOOLS_SOURCE: media });
          assert.equal(again.exitCode, 0, `${cp}: rerun\n${again.output}`);
          await assertStage2Done(root, `${layout}/${shellName} after a failure at ${cp}`);
        } finally {
          await removeTree(root);
        }
      }
    });
  }
}

for (const [shellName, shell] of SHELLS) {
  test(`rhel8-systemd, ${shellName}: the shutdown it asked for stops it with SIGTERM: the result stays succeeded, power-off requested, no temporary file`, async () => {
    // as in the e2e boots: systemctl --no-block poweroff returns, and the shutdown then
    // terminates the service while the script is still running
    const root = await guest("rhel8-systemd");
    try {
      const stop = "/osam-test-shutdown";
      await writeFile(g(root, stop), `#!/bin/sh\nkill -TERM "$PPID"\ntouch ${POWEROFF_MARK}\n`, { mode: 0o755 });
      const r = await runSentinel(root, shell, { OSAM_TOOLS_SOURCE: await tarballMedia(root), OSAM_POWEROFF: stop });
      assert.equal(r.exitCode, 0, r.output);
      assert.equal(present(root, POWEROFF_MARK), true, "the power-off command ran");
      const res = stage2Result(root);
      assert.deepEqual([res?.status, res?.guestState, res?.powerOff], ["succeeded", "restored", "requested"], JSON.stringify(res));
      assert.deepEqual((await readdir(g(root, GUEST_DATA_DIR))).filter((f) => f.endsWith(".tmp")), [], "a temporary file left in the data directory");
      await assertStage2Done(root, `rhel8-systemd/${shellName}, stopped by its shutdown`);
    } finally {
      await removeTree(root);
    }
  });
}

test("rhel8-systemd, busybox sh: a power cut at every checkpoint leaves no drop-in behind", async () => {
  for (const cp of CHECKPOINTS) {
    const root = await goldenGuest("rhel8-systemd");
    try {
      assertOpened(root, "rhel8-systemd");
      const cut = await runSentinel(root, SHELLS[1]![1], { OSAM_TOOLS_SOURCE: await tarballMedia(root), OSAM_CRASH_AT: cp });
      assert.equal(cut.signal, "SIGKILL", `${cp}: not killed\n${cut.output}`);
      assert.deepEqual(passwordlessLeft(root), [], cp);
    } finally {
      await removeTree(root);
    }
  }
});

test("systemd watchdog: its timer is bounded and started in rescue, emergency and multi-user mode; its service, run as systemd would, removes the drop-ins when the sentinel never ran", async () => {
  const root = await goldenGuest("rhel8-systemd");
  try {
    assertOpened(root, "rhel8-systemd");
    const timer = await readFile(g(root, WATCHDOG_TIMER_PATH), "utf8");
    assert.match(timer, new RegExp(`^OnBootSec=${CONSOLE_WATCHDOG_SECONDS}$`, "m"));
    assert.match(timer, /^DefaultDependencies=no$/m, "emergency mode never reaches sysinit.target");
    for (const w of WATCHDOG_WANTS) assert.ok(present(root, w), `${w} is missing`);
    const service = await readFile(g(root, WATCHDOG_SERVICE_PATH), "utf8");
    // triggering conditions: it runs while at least one drop-in is there
    assert.deepEqual([...service.matchAll(/^ConditionPathExists=\|(.+)$/gm)].map((m) => m[1]), [...NO_PASSWORD_DROPINS]);
    const lines = [...service.matchAll(/^ExecStart=(.+)$/gm)].map((m) => m[1]!);
    assert.ok(lines.length >= 2, service);
    // no systemd in a chroot: each command runs as systemd would run it ('-': failure ignored)
    for (const line of lines) {
      const ignore = line.startsWith("-");
      const argv = (ignore ? line.slice(1) : line).split(" ");
      const r = await execa("chroot", [root, ...argv], { reject: false, all: true });
      if (!ignore) assert.equal(r.exitCode, 0, `${line}: ${String(r.all)}`);
    }
    assert.deepEqual(passwordlessLeft(root), [], "the watchdog removed the drop-ins");
    assert.ok(existsSync(g(root, SENTINEL_SCRIPT)), "the sentinel never ran");
  } finally {
    await removeTree(root);
  }
});

for (const [shellName, shell] of SHELLS) {
  test(`SysV watchdog, ${shellName}: started at boot, it puts the recorded SINGLE= back after its wait when the sentinel never ran`, async () => {
    const root = await guest("rhel6-sysv");
    try {
      assertOpened(root, "rhel6-sysv");
      const links = (await readdir(g(root, "/etc/rc1.d"))).filter((f) => f === `S00${WATCHDOG_NAME}`);
      assert.equal(links.length, 1, "linked in rc1.d, where stage 2 runs");
      const script = ["/etc/init.d", "/etc/rc.d/init.d"].map((d) => `${d}/${WATCHDOG_NAME}`).find((p) => present(root, p));
      assert.ok(script, "the SysV watchdog script is installed");
      assert.match(await readFile(g(root, script), "utf8"), new RegExp(`OSAM_WATCHDOG_SECONDS:-${CONSOLE_WATCHDOG_SECONDS}`));
      // what init gives a start script: /dev/null and a console (here a file)
      await mkdir(g(root, "/dev"), { recursive: true });
      await execa("mknod", ["-m", "666", g(root, "/dev/null"), "c", "1", "3"]);
      await writeFile(g(root, "/dev/console"), "");
      const t0 = Date.now();
      const r = await execa("chroot", [root, ...shell, script, "start"], { reject: false, all: true, env: { OSAM_WATCHDOG_SECONDS: "2" }, timeout: 10_000 });
      assert.equal(r.exitCode, 0, String(r.all));
      assert.ok(Date.now() - t0 < 1500, "start returns at once: the wait runs in the background");
      assert.deepEqual(passwordlessLeft(root), ["/etc/sysconfig/init: SINGLE=/sbin/sushell"], "not before the wait");
      while (passwordlessLeft(root).length && Date.now() - t0 < 15_000) await new Promise((res) => setTimeout(res, 200));
      assert.deepEqual(passwordlessLeft(root), [], "the watchdog put SINGLE= back");
      assert.equal(await readFile(g(root, "/etc/sysconfig/init"), "utf8"), await readFile(join(GOLDEN, "rhel6-sysv/root/etc/sysconfig/init"), "utf8"), "byte for byte the original");
      assert.match(await readFile(g(root, "/dev/console"), "utf8"), /asks for the root password again/);
      assert.ok(existsSync(g(root, SENTINEL_SCRIPT)), "the sentinel never ran");
    } finally {
      await removeTree(root);
    }
  });
}
