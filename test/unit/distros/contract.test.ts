// One OS detector in two languages: the guest-side shell scripts cannot import src/distros, so
// src/sentinel/os-detect.sh (embedded into collect.sh by generate.ts) must give the same family,
// ID and version as the TypeScript detector on the same release files, under dash and busybox sh.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { execa } from "execa";
import { PROFILES } from "../../../src/distros/index.ts";
import { COLLECT_SH } from "../../../src/sentinel/embedded.ts";
import { withIncludes } from "../../../src/sentinel/generate.ts";
import { REPO } from "../../helpers/tree.ts";
import { detectSample, SAMPLES, writeSample } from "./samples.ts";

const SNIPPET = join(REPO, "src/sentinel/os-detect.sh");
const SHELLS = [["dash"], ["busybox", "sh"]];

async function shell(sh: string[], script: string, ...args: string[]): Promise<string> {
  const r = await execa(sh[0]!, [...sh.slice(1), "-c", `. '${SNIPPET}'\n${script}`, "os-detect", ...args], { env: { LC_ALL: "C", PATH: process.env.PATH ?? "/usr/bin:/bin" }, extendEnv: false });
  return r.stdout;
}

for (const sh of SHELLS) {
  test(`shell and TypeScript agree on every release sample (${sh.join(" ")})`, async () => {
    for (const s of SAMPLES) {
      const root = writeSample(s);
      try {
        const out = await shell(sh, `os_detect "$1"; printf '%s|%s|%s|%s' "$OS_FAMILY" "$OS_ID" "$OS_VERSION" "$OS_FROM"`, root);
        const [family, id, version, from] = out.split("|");
        assert.deepEqual({ family, id, version, from }, s.expect, `shell on ${s.name}`);
        const { os } = await detectSample(s);
        assert.deepEqual({ family: os.family, id: os.id, version: os.version, from: os.from }, { family, id, version, from }, `TypeScript on ${s.name}`);
      } finally {
        rmSync(root, { recursive: true, force: true });
      }
    }
  });

  test(`the shell's ID table is the profiles' (${sh.join(" ")})`, async () => {
    const ids = PROFILES.flatMap((p) => p.ids.map((id) => [id, p.family] as const));
    const out = await shell(sh, 'for i in "$@"; do os_family "$i"; done', ...ids.map(([id]) => id), "arch", "opensuse-microos");
    assert.deepEqual(out.split("\n"), [...ids.map(([, f]) => f), "unknown", "suse"]);
    // ID_LIKE words after an unknown ID, first claimed word wins
    assert.equal(await shell(sh, "os_family navylinux rhel centos fedora"), "rhel");
  });
}

test("collect.sh carries the detector (embedded by generate.ts) and uses it", () => {
  const snippet = readFileSync(SNIPPET, "utf8").replace(/^# shellcheck shell=sh\n/, "");
  assert.ok(COLLECT_SH.includes(snippet), "embedded.ts is stale or collect.sh lost its include line");
  assert.match(COLLECT_SH, /^\tos_detect ''$/m);
  assert.equal(withIncludes("a\n# osam-include: os-detect.sh\nb\n"), `a\n${snippet}b\n`);
});
