// The files a run writes are made durable once, at its end, before the journal says it
// succeeded; each change's original is durable before the change, as before. A power cut in
// between is rolled back from those originals, so a write needs no flush of its own.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { GuestRoot } from "../../../src/guest/guest-root.ts";
import { runSteps } from "../../../src/engine/run.ts";
import { Journal, type JournalEntry } from "../../../src/engine/journal.ts";
import type { Change } from "../../../src/engine/changes.ts";
import type { FixupContext, FixupStep } from "../../../src/fixups/types.ts";
import { loadInputs } from "../../../src/protocol/inputs.ts";
import { inspectGuest } from "../../../src/guest/inspect.ts";
import { DiskView } from "../../../src/guest/view.ts";
import { Logger } from "../../../src/util/log.ts";
import { SAMPLE, copyTree, diffPrints, fingerprint } from "../../helpers/tree.ts";
import { GUEST_JOURNAL } from "../../../src/protocol/files.ts";

const N = 40;
const writes: Change[] = Array.from({ length: N }, (_, i) => ({ action: "write", path: `/etc/osam-test/f${i}.conf`, content: `value ${i}\n`, reason: "test" }));
const stepOf = (name: string, changes: Change[], fatal = true): FixupStep => ({ name, title: name, fatal, failCode: "APPLY_FAILED", plan: async () => ({ warnings: [], changes }) });

async function ctx(root: string): Promise<Omit<FixupContext, "view">> {
  return { info: await inspectGuest(new DiskView(new GuestRoot(root))), inputs: await loadInputs(join(SAMPLE, "inputs")), devices: [], log: new Logger() };
}

/** A guest root on "its own file system" whose syncfs records the journal and the files at that moment. */
function recording(root: string) {
  const seen: { complete: boolean; files: number; done: number }[] = [];
  const g = new GuestRoot(root, {
    ownFs: true,
    syncFs: async () => {
      const journal = await readFile(join(root, GUEST_JOURNAL), "utf8");
      const files = writes.filter((w) => w.action === "write" && journal.includes(`"path":"${w.path}"`)).length;
      seen.push({ complete: journal.includes('"t":"complete"'), files, done: journal.split("\n").filter((l) => l.includes('"t":"done"')).length });
      return true;
    },
  });
  return { g, seen };
}

test(`${N} writes in two steps: one flush at the end of the run, with every write done and the run not yet complete`, async () => {
  const root = await copyTree(join(SAMPLE, "root"));
  const { g, seen } = recording(root);
  const out = await runSteps(g, [stepOf("a", writes.slice(0, N / 2)), stepOf("b", writes.slice(N / 2))], await ctx(root), { mode: "apply", version: "t" });
  assert.equal(out.failure, undefined, out.failure?.message);
  assert.deepEqual(seen, [{ complete: false, files: N, done: N }], "one syncfs, after the last write, before the journal's complete entry");
  const j = await Journal.read(g);
  assert.equal(j.lastStatus, "succeeded");
  assert.equal(j.entries.filter((e) => e.t === "done").length, N, "the done entries are in the journal, flushed by the entries after them");
});

test("a fatal failure after unflushed writes: no flush claimed, and rollback gives back the tree", async () => {
  const root = await copyTree(join(SAMPLE, "root"));
  const before = await fingerprint(root);
  const { g, seen } = recording(root);
  const boom: FixupStep = { name: "c", title: "c", fatal: true, failCode: "APPLY_FAILED", plan: async () => { throw new Error("boom"); } };
  const out = await runSteps(g, [stepOf("a", writes.slice(0, N / 2)), boom], await ctx(root), { mode: "apply", version: "t" });
  assert.equal(out.failure?.codeName, "APPLY_FAILED");
  assert.deepEqual(seen, [], "a failed run is not flushed as a success");
  assert.deepEqual(diffPrints(before, await fingerprint(root)), []);
});

test("a step's originals are saved as one batch before its first change: one journal entry, and rollback gives back the tree", async () => {
  const root = await copyTree(join(SAMPLE, "root"));
  const g0 = new GuestRoot(root);
  const existing: Change[] = [];
  for (let i = 0; i < 6; i++) {
    await g0.mkdirp("/etc/osam-test");
    await g0.writeFile(`/etc/osam-test/old${i}.conf`, `old ${i}\n`);
    existing.push({ action: "write", path: `/etc/osam-test/old${i}.conf`, content: `new ${i}\n`, reason: "test" });
  }
  existing.push({ action: "remove", path: "/etc/osam-test/old0.conf", reason: "test" }, { action: "symlink", path: "/etc/osam-test/link", target: "old1.conf", reason: "test" });
  const before = await fingerprint(root);
  const appends: number[] = [];
  const proto = Journal.prototype as unknown as { appendEntries: (es: JournalEntry[], durable: boolean) => void };
  const orig = proto.appendEntries;
  proto.appendEntries = function (this: Journal, es: JournalEntry[], durable: boolean) {
    if (es.some((e) => e.t === "orig")) appends.push(es.filter((e) => e.t === "orig").length);
    orig.call(this, es, durable);
  };
  try {
    const out = await runSteps(new GuestRoot(root), [stepOf("a", existing)], await ctx(root), { mode: "apply", version: "t" });
    assert.equal(out.failure, undefined, out.failure?.message);
  } finally {
    proto.appendEntries = orig;
  }
  assert.deepEqual(appends, [7], "the six files and the link's absent original in one entry batch, none after");
  await (await Journal.read(new GuestRoot(root))).rollback(new Logger());
  assert.deepEqual(diffPrints(before, await fingerprint(root)), []);
});
