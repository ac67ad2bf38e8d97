// The files a command may rewrite (grub-install's hundreds of platform files) are backed up
// in one batch: written, made durable together, journaled in one append. The batch must keep
// what one-by-one gave: every kind of original (file, link, absent, a file with other names),
// its mode and times, and a rollback to the tree byte for byte.
import { test } from "node:test";
import assert from "node:assert/strict";
import { link, lstat, mkdir, readFile, rm, symlink, utimes, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { GuestRoot } from "../../../src/guest/guest-root.ts";
import { runSteps } from "../../../src/engine/run.ts";
import { Journal, type JournalEntry } from "../../../src/engine/journal.ts";
import type { ExecRunner } from "../../../src/engine/exec.ts";
import type { FixupContext, FixupStep } from "../../../src/fixups/types.ts";
import { loadInputs } from "../../../src/protocol/inputs.ts";
import { inspectGuest } from "../../../src/guest/inspect.ts";
import { DiskView } from "../../../src/guest/view.ts";
import { Logger } from "../../../src/util/log.ts";
import { SAMPLE, copyTree, diffPrints, fingerprint } from "../../helpers/tree.ts";
import { GUEST_BACKUP_DIR, GUEST_JOURNAL } from "../../../src/protocol/files.ts";

const DIR = "/boot/grub/i386-pc";
const N = 300;
const files = Array.from({ length: N }, (_, i) => `${DIR}/mod${i}.mod`);
const LINKED = `${DIR}/linked.mod`;
const SYMLINK = `${DIR}/alias.mod`;
const ABSENT = `${DIR}/new-in-this-version.mod`;
const outputs = [...files, LINKED, SYMLINK, ABSENT];

async function guest(): Promise<string> {
  const root = await copyTree(join(SAMPLE, "root"));
  await mkdir(join(root, DIR), { recursive: true });
  const old = new Date("2019-03-04T05:06:07Z");
  for (const [i, f] of files.entries()) {
    await writeFile(join(root, f), `module ${i}\n`, { mode: i % 2 ? 0o644 : 0o600 });
    await utimes(join(root, f), old, old);
  }
  await writeFile(join(root, LINKED), "linked module\n");
  await link(join(root, LINKED), join(root, "/boot/grub/linked-elsewhere.mod"));
  await symlink("mod0.mod", join(root, SYMLINK));
  return root;
}

/** Like grub-install: rewrites every platform file, replaces the link with a file, adds one. */
const grubInstall = (root: string): ExecRunner => async () => {
  for (const f of [...files, LINKED, ABSENT]) await writeFile(join(root, f), "new version\n");
  await rm(join(root, SYMLINK));
  await writeFile(join(root, SYMLINK), "now a file\n");
  return { exitCode: 0, output: "Installation finished. No error reported.", timedOut: false };
};

const step: FixupStep = {
  name: "bootloader",
  title: "grub-install",
  fatal: true,
  failCode: "BOOTLOADER_FAILED",
  plan: async () => ({ warnings: [], changes: [{ action: "exec", argv: ["grub-install", "--target=i386-pc", "/dev/sda"], produces: outputs, reason: "boot code" }] }),
};

async function ctx(root: string): Promise<Omit<FixupContext, "view">> {
  return { info: await inspectGuest(new DiskView(new GuestRoot(root))), inputs: await loadInputs(join(SAMPLE, "inputs")), devices: [], log: new Logger() };
}

test(`a command's ${N + 3} outputs: one journal append for their originals, and rollback restores each kind byte for byte`, async () => {
  const root = await guest();
  const before = await fingerprint(root);
  const g = new GuestRoot(root);
  let appends = 0;
  const proto = Journal.prototype as unknown as { append: (...es: JournalEntry[]) => void };
  const orig = proto.append;
  proto.append = function (this: Journal, ...es: JournalEntry[]) {
    if (es.some((e) => e.t === "orig")) appends++;
    orig.apply(this, es);
  };
  try {
    const out = await runSteps(g, [step], await ctx(root), { mode: "apply", version: "t", exec: grubInstall(root) });
    assert.equal(out.failure, undefined, out.failure?.message);
  } finally {
    proto.append = orig;
  }
  // the file with other names is anchored on its own, between two batches
  assert.ok(appends <= 3, `${appends} journal appends for the originals: they are not batched`);
  const j = await Journal.read(g);
  const origs = j.entries.filter((e) => e.t === "orig");
  assert.deepEqual(origs.map((e) => e.t === "orig" && e.path).sort(), [...outputs].sort(), "one original per output, none twice");
  const kinds = new Map(origs.flatMap((e) => (e.t === "orig" ? [[e.path, e.kind] as const] : [])));
  assert.deepEqual([kinds.get(SYMLINK), kinds.get(ABSENT), kinds.get(LINKED), kinds.get(files[7]!)], ["symlink", "absent", "file", "file"]);
  await j.rollback(new Logger());
  assert.deepEqual(diffPrints(before, await fingerprint(root)), [], "rollback restores the tree");
  assert.equal((await lstat(join(root, files[3]!))).mtime.toISOString(), "2019-03-04T05:06:07.000Z", "rollback restores the times");
});

/** A GuestRoot whose root counts as the guest's own file system, with a syncfs that records what it saw. */
function countingSyncs(root: string, answer: boolean) {
  const seen: { journaled: number; backups: number }[] = [];
  const g = new GuestRoot(root, {
    ownFs: true,
    syncFs: async () => {
      // what is on disk when the batch is flushed: its backups, and no entry pointing at them yet
      const journal = await readFile(join(root, GUEST_JOURNAL), "utf8");
      const journaled = journal.split("\n").filter((l) => l.includes('"t":"orig"')).length;
      const backups = files.filter((f) => existsSync(join(root, GUEST_BACKUP_DIR, f))).length;
      seen.push({ journaled, backups });
      return answer;
    },
  });
  return { g, seen };
}

test(`on the guest's own file system the ${N} backups are made durable by one syncfs, before any of them is journaled`, async () => {
  const root = await guest();
  const before = await fingerprint(root);
  const { g, seen } = countingSyncs(root, true);
  const out = await runSteps(g, [step], await ctx(root), { mode: "apply", version: "t", exec: grubInstall(root) });
  assert.equal(out.failure, undefined, out.failure?.message);
  assert.deepEqual(seen, [{ journaled: 0, backups: N }], "one syncfs for the batch, with every backup written and none journaled");
  const j = await Journal.read(g);
  await j.rollback(new Logger());
  assert.deepEqual(diffPrints(before, await fingerprint(root)), [], "rollback restores the tree");
});

test("where syncfs is not to be had the batch falls back to its files' own fsyncs, and rollback is still exact", async () => {
  const root = await guest();
  const before = await fingerprint(root);
  const { g, seen } = countingSyncs(root, false);
  const out = await runSteps(g, [step], await ctx(root), { mode: "apply", version: "t", exec: grubInstall(root) });
  assert.equal(out.failure, undefined, out.failure?.message);
  assert.equal(seen.length, 1, "syncfs was asked once");
  const j = await Journal.read(g);
  assert.equal(j.entries.filter((e) => e.t === "orig").length, outputs.length);
  await j.rollback(new Logger());
  assert.deepEqual(diffPrints(before, await fingerprint(root)), [], "rollback restores the tree");
});

test("a guest root that shares its file system with others is never flushed whole", async () => {
  const root = await guest();
  let calls = 0;
  const g = new GuestRoot(root, { ownFs: false, syncFs: async () => ++calls > 0 });
  const out = await runSteps(g, [step], await ctx(root), { mode: "apply", version: "t", exec: grubInstall(root) });
  assert.equal(out.failure, undefined, out.failure?.message);
  assert.equal(calls, 0);
});
