// Issue 12, kind 7: a file with several names (an ifcfg hard-linked into
// /etc/sysconfig/networking/, as RHEL 6 leaves it). A write changes the inode itself, so every
// name sees it; rollback puts the content, the links and the times back; a crash between the
// backup and the end of the in-place write still rolls back to the original everywhere.
import { test } from "node:test";
import assert from "node:assert/strict";
import { link, lstat, mkdir, readFile, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { GuestRoot } from "../../../src/guest/guest-root.ts";
import { runSteps, undoPreviousRun } from "../../../src/engine/run.ts";
import { Journal, type JournalEntry } from "../../../src/engine/journal.ts";
import type { FixupContext, FixupStep } from "../../../src/fixups/types.ts";
import type { Change } from "../../../src/engine/changes.ts";
import { loadInputs } from "../../../src/protocol/inputs.ts";
import { inspectGuest } from "../../../src/guest/inspect.ts";
import { DiskView } from "../../../src/guest/view.ts";
import { Logger } from "../../../src/util/log.ts";
import { SAMPLE, copyTree, diffPrints, fingerprint } from "../../helpers/tree.ts";

const SCRIPTS = "/etc/sysconfig/network-scripts/ifcfg-eth0";
const DEVICES = "/etc/sysconfig/networking/devices/ifcfg-eth0";
const PROFILE = "/etc/sysconfig/networking/profiles/default/ifcfg-eth0";
const OLD = 'DEVICE=eth0\nHWADDR="52:54:00:12:34:56"\nONBOOT=yes\n';
const NEW = 'DEVICE=eth0\nHWADDR="00:50:56:aa:00:01"\nONBOOT=yes\n';
const MTIME = new Date("2013-05-01T12:00:00Z");

/** A copy of the sample guest with one ifcfg file under three names, dated 2013. */
async function linkedGuest(): Promise<string> {
  const root = await copyTree(join(SAMPLE, "root"));
  for (const p of [SCRIPTS, DEVICES, PROFILE]) await mkdir(join(root, p, ".."), { recursive: true });
  await writeFile(join(root, SCRIPTS), OLD, { mode: 0o644 });
  await link(join(root, SCRIPTS), join(root, DEVICES));
  await link(join(root, SCRIPTS), join(root, PROFILE));
  await utimes(join(root, SCRIPTS), MTIME, MTIME);
  return root;
}

const step = (changes: Change[]): FixupStep => ({ name: "edits", title: "test edits", fatal: false, failCode: "APPLY_FAILED", plan: async () => ({ warnings: [], changes }) });

async function ctx(root: string): Promise<Omit<FixupContext, "view">> {
  return { info: await inspectGuest(new DiskView(new GuestRoot(root))), inputs: await loadInputs(join(SAMPLE, "inputs")), devices: [], log: new Logger() };
}

async function inode(root: string, p: string): Promise<{ ino: number; nlink: number; mtimeMs: number }> {
  const st = await lstat(join(root, p));
  return { ino: st.ino, nlink: st.nlink, mtimeMs: st.mtimeMs };
}

async function apply(root: string, changes: Change[]): Promise<void> {
  const out = await runSteps(new GuestRoot(root), [step(changes)], await ctx(root), { mode: "apply", version: "test" });
  assert.equal(out.failure, undefined, out.failure?.message);
  assert.equal(out.steps[0]!.status, "changed");
}

async function rollback(root: string): Promise<void> {
  const j = await Journal.read(new GuestRoot(root));
  await j.rollback(new Logger());
}

test("a write to a hard-linked file changes its inode: every name sees the new content", async () => {
  const root = await linkedGuest();
  const before = await inode(root, SCRIPTS);
  await apply(root, [{ action: "write", path: DEVICES, content: NEW, reason: "new MAC" }]);
  for (const p of [SCRIPTS, DEVICES, PROFILE]) {
    assert.equal(await readFile(join(root, p), "utf8"), NEW, p);
    assert.equal((await inode(root, p)).ino, before.ino, `${p} is still the same inode`);
  }
  const j = await Journal.read(new GuestRoot(root));
  const orig = j.entries.find((e): e is Extract<JournalEntry, { t: "orig"; kind: "file" }> => e.t === "orig" && e.kind === "file" && e.path === DEVICES);
  assert.ok(orig?.links, "the journal records the links");
  assert.equal(orig.links.ino, before.ino);
  assert.equal(orig.links.nlink, 3);
  assert.equal(await readFile(join(root, orig.backup), "utf8"), OLD, "the backup is a copy, not another name");
  assert.notEqual((await inode(root, orig.backup)).ino, before.ino);
});

test("rollback of an in-place write restores the content, the links and the mtime", async () => {
  const root = await linkedGuest();
  const print = await fingerprint(root);
  const before = await inode(root, SCRIPTS);
  await apply(root, [{ action: "write", path: SCRIPTS, content: NEW, reason: "new MAC" }]);
  await rollback(root);
  assert.deepEqual(diffPrints(print, await fingerprint(root)), []);
  for (const p of [SCRIPTS, DEVICES, PROFILE]) {
    const now = await inode(root, p);
    assert.equal(now.ino, before.ino, `${p}: the same inode`);
    assert.equal(now.nlink, 3, `${p}: three names again (the backup anchor is gone)`);
    assert.equal(now.mtimeMs, MTIME.getTime(), `${p}: the mtime of 2013`);
  }
});

test("a rename and a remove of hard-linked names are undone with the links", async () => {
  const root = await linkedGuest();
  const print = await fingerprint(root);
  const before = await inode(root, SCRIPTS);
  const moved = "/etc/sysconfig/network-scripts/ifcfg-eth1";
  await apply(root, [
    { action: "rename", path: SCRIPTS, to: moved, reason: "names swap" },
    { action: "write", path: moved, content: NEW, reason: "new MAC" },
    { action: "remove", path: PROFILE, reason: "stale profile" },
  ]);
  assert.equal(await readFile(join(root, DEVICES), "utf8"), NEW, "the other name sees the renamed file's new content");
  await rollback(root);
  assert.deepEqual(diffPrints(print, await fingerprint(root)), []);
  for (const p of [SCRIPTS, DEVICES, PROFILE]) {
    const now = await inode(root, p);
    assert.equal(now.ino, before.ino, `${p} is linked to the same inode again`);
    assert.equal(now.nlink, 3);
    assert.equal(now.mtimeMs, MTIME.getTime(), `${p}: mtime`);
  }
});

test("a plain file's mtime comes back on rollback too", async () => {
  const root = await linkedGuest();
  await utimes(join(root, "etc/fstab"), MTIME, MTIME);
  await apply(root, [{ action: "write", path: "/etc/fstab", content: "# new\n", reason: "edit" }]);
  assert.notEqual((await inode(root, "etc/fstab")).mtimeMs, MTIME.getTime());
  await rollback(root);
  assert.equal((await inode(root, "etc/fstab")).mtimeMs, MTIME.getTime());
});

test("a crash in the middle of an in-place write: the re-run restores the original under every name", async () => {
  const root = await linkedGuest();
  const print = await fingerprint(root);
  const guest = new GuestRoot(root);
  const j = await Journal.read(guest);
  await j.begin("test");
  await j.saveOriginal(SCRIPTS);
  // the backup and its journal entry are on disk before the write starts; the write tears
  await writeFile(join(root, DEVICES), "DEVICE=eth0\nHWAD", { flag: "r+" });
  assert.equal(await readFile(join(root, PROFILE), "utf8"), "DEVICE=eth0\nHWAD" + OLD.slice(16), "torn in place, seen by every name");
  await undoPreviousRun(guest, new Logger());
  assert.deepEqual(diffPrints(print, await fingerprint(root)), []);
  assert.equal((await inode(root, PROFILE)).nlink, 3);
});
