// The per-profile assertion shared by the profile tests: each sample of the profile is read as
// expected by the TypeScript detector and picks this profile.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { DistroProfile } from "../../../src/distros/types.ts";
import { detectSample, samplesOf, type Sample } from "./samples.ts";

export function releaseFileTests(name: Sample["profile"], profile: DistroProfile): void {
  const samples = samplesOf(name);
  test(`${name}: there are release samples`, () => assert.ok(samples.length > 0));
  for (const s of samples) {
    test(`${name}: ${s.name} -> ${s.expect.family}/${s.expect.id} ${s.expect.version}`, async () => {
      const { os, profile: picked } = await detectSample(s);
      assert.deepEqual({ family: os.family, id: os.id, version: os.version, from: os.from }, s.expect);
      assert.equal(picked, profile, `picked ${picked.title}`);
    });
  }
}
