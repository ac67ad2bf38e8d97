// Waves on PostgreSQL against vcsim (test/vsphere/wave.ts), 300 migrations, 3 workers:
// - one worker SIGKILLed when it starts a random step, a third of the way in: the others
//   finish its migrations, each exactly once (one VM per name, stage 1 and stage 2 once,
//   every step done once, every log collected once);
// - PostgreSQL restarted (2 s down) a third of the way in: the workers reconnect, nothing
//   lost or repeated.
// Several minutes each: npm run test:waves (OSAM_WAVE_MIGRATIONS to change the size).
import { test } from "node:test";
import assert from "node:assert/strict";
import { runWave } from "../vsphere/wave.ts";

const N = Number(process.env.OSAM_WAVE_MIGRATIONS ?? 300);

test(`waves: ${N} migrations, 3 workers, one SIGKILLed at a random step`, { timeout: 1_800_000 }, async () => {
  const s = await runWave({ migrations: N, workers: 3, concurrency: 15, chaos: "kill" });
  console.log(JSON.stringify({ wallS: s.wallS, perMinute: s.perMinute, perWorker: s.perWorker, chaos: s.chaos, states: s.status.states }));
  assert.deepEqual(s.problems, []);
  assert.equal(s.status.states.succeeded, N);
  assert.ok(s.chaos && s.chaos.inFlight.length > 0, "the killed worker held migrations");
  assert.equal(s.chaos.finishedByOthers, s.chaos.inFlight.length);
});

test(`waves: ${N} migrations, 3 workers, PostgreSQL restarted mid-wave`, { timeout: 1_800_000 }, async () => {
  const s = await runWave({ migrations: N, workers: 3, concurrency: 15, chaos: "restart-db" });
  console.log(JSON.stringify({ wallS: s.wallS, perMinute: s.perMinute, perWorker: s.perWorker, chaos: s.chaos, states: s.status.states }));
  assert.deepEqual(s.problems, []);
  assert.equal(s.status.states.succeeded, N);
  for (const w of s.perWorker) assert.equal(w.exit, "exit 0", `${w.name} ${w.exit}`);
});
