// The sentinel's scripts as the binary carries them: embedded.ts in sync with the .sh files,
// every placeholder filled from src/protocol/files.ts, and the rendered scripts clean under
// shellcheck -s sh and parsed by dash and busybox sh (the shells of old and small guests).
import { test } from "node:test";
import assert from "node:assert/strict";
import { execa } from "execa";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generate } from "../../../src/sentinel/generate.ts";
import { readFileSync } from "node:fs";
import { collectScript, render, sentinelScript, sentinelUnit, sysvInitScript, sysvVerifyScript, sysvWatchdogScript, verifyScript, verifyUnit, watchdogService, watchdogTimer, PLACEHOLDERS } from "../../../src/sentinel/render.ts";
import { GUEST_DATA_DIR, SENTINEL_LOG, SENTINEL_SCRIPT, STAGE2_FILES, STAGE2_NONE, VERIFY_SCRIPT } from "../../../src/protocol/files.ts";

const EMBEDDED = new URL("../../../src/sentinel/embedded.ts", import.meta.url);

test("embedded.ts is generated from the current scripts (node src/sentinel/generate.ts)", () => {
  assert.equal(readFileSync(EMBEDDED, "utf8"), generate(), "src/sentinel/embedded.ts is stale: run node src/sentinel/generate.ts");
});

test("rendering fills every placeholder with the names from src/protocol/files.ts", () => {
  for (const [name, text] of Object.entries({ script: sentinelScript(), unit: sentinelUnit(), sysv: sysvInitScript(), timer: watchdogTimer(), watchdog: watchdogService(), sysvWatchdog: sysvWatchdogScript(), verify: verifyScript(), verifyUnit: verifyUnit(), sysvVerify: sysvVerifyScript() })) {
    assert.doesNotMatch(text, /@@[A-Z0-9_]+@@/, `${name} still has a placeholder`);
  }
  const s = sentinelScript();
  assert.match(s, new RegExp(`^DATA='${GUEST_DATA_DIR}'$`, "m"));
  assert.match(s, new RegExp(`^MANIFEST="\\$DATA/${STAGE2_FILES.manifest}"$`, "m"));
  assert.match(s, new RegExp(`^ST_TARGET="\\$DATA/${STAGE2_FILES.defaultTarget}"$`, "m"));
  assert.match(s, new RegExp(`^NONE='\\(none\\)'$`, "m"));
  assert.equal(STAGE2_NONE, "(none)");
  assert.match(s, new RegExp(`OSAM_LOG:-'${SENTINEL_LOG}'`));
  assert.match(sentinelUnit(), new RegExp(`^ExecStart=/bin/sh ${SENTINEL_SCRIPT}$`, "m"));
  assert.match(sentinelUnit(), /^WantedBy=rescue\.target multi-user\.target$/m);
  assert.match(sysvInitScript(), new RegExp(`exec /bin/sh '${SENTINEL_SCRIPT}'`));
  assert.match(verifyUnit(), new RegExp(`^ExecStart=/bin/sh ${VERIFY_SCRIPT}$`, "m"));
  // never in stage 2's boot: not wanted by rescue.target, not while stage 2's manifest is there
  assert.match(verifyUnit(), /^WantedBy=multi-user\.target graphical\.target$/m);
  assert.match(verifyUnit(), new RegExp(`^ConditionPathExists=!${GUEST_DATA_DIR}/${STAGE2_FILES.manifest}$`, "m"));
  assert.match(verifyScript(), new RegExp(`^STAGE2_OWNED="\\$DATA/${STAGE2_FILES.manifest}"$`, "m"));
});

test("render refuses unknown placeholders and values that would break the shell quoting", () => {
  assert.throws(() => render("x=@@NOPE@@"), /no value for @@NOPE@@/);
  assert.throws(() => render("x='@@DATA_DIR@@'", { ...PLACEHOLDERS, DATA_DIR: "/it's" }), /unsafe value/);
});

const SCRIPTS = { "stage2.sh": sentinelScript, "sysv-init.sh": sysvInitScript, "sysv-watchdog.sh": sysvWatchdogScript, "collect.sh": collectScript, "verify.sh": verifyScript, "sysv-verify.sh": sysvVerifyScript };

test("the rendered scripts pass shellcheck -s sh, dash -n and busybox sh -n", async () => {
  const dir = await mkdtemp(join(tmpdir(), "osam-sentinel-lint-"));
  try {
    for (const [name, fn] of Object.entries(SCRIPTS)) {
      const f = join(dir, name);
      await writeFile(f, fn());
      const sc = await execa("shellcheck", ["-s", "sh", f], { reject: false });
      assert.equal(sc.exitCode, 0, `shellcheck -s sh ${name}:\n${sc.stdout}${sc.stderr}`);
      for (const sh of [["dash", "-n"], ["busybox", "sh", "-n"]]) {
        const r = await execa(sh[0]!, [...sh.slice(1), f], { reject: false });
        assert.equal(r.exitCode, 0, `${sh.join(" ")} ${name}: ${r.stderr}`);
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("the scripts use no bash-only syntax that dash and busybox might tolerate", () => {
  for (const [name, fn] of Object.entries(SCRIPTS)) {
    const code = fn().split("\n").filter((l) => !/^\s*#/.test(l)).join("\n");
    for (const [what, re] of [
      ["[[ ]]", /\[\[/],
      ["local", /^\s*local\s/m],
      ["function keyword", /^\s*function\s/m],
      ["arrays", /\w+=\(/],
      ["$'...' strings", /(^|[\s=;(|])\$'/],
      ["<<< here-strings", /<<</],
      ["echo -e", /echo -e/],
      ["source", /^\s*source\s/m],
      ["&> redirection", /&>/],
    ] as const) assert.doesNotMatch(code, re, `${name} uses ${what}`);
  }
});
