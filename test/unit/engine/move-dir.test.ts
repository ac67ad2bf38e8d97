// A directory a command rewrites as a whole (grub-install's platform directory) is backed up
// by one rename into the backup tree instead of a copy of each file. Whatever point a crash
// hits (before the rename, during the command, in the middle of a rollback), rollback must
// give back the tree byte for byte, the directory's own inode and its files' included.
import { test } from "node:test";
import assert from "node:assert/strict";
import { chmod, lstat, mkdir, readdir, rename, rm, symlink, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { GuestRoot } from "../../../src/guest/guest-root.ts";
import { runSteps } from "../../../src/engine/run.ts";
import { Journal, backupPathOf } from "../../../src/engine/journal.ts";
import type { Change } from "../../../src/engine/changes.ts";
import type { ExecRunner } from "../../../src/engine/exec.ts";
import type { FixupContext, FixupStep } from "../../../src/fixups/types.ts";
import { loadInputs } from "../../../src/protocol/inputs.ts";
import { inspectGuest } from "../../../src/guest/inspect.ts";
import { DiskView } from "../../../src/guest/view.ts";
import { Logger } from "../../../src/util/log.ts";
import { SAMPLE, copyTree, diffPrints, fingerprint } from "../../helpers/tree.ts";

const DIR = "/boot/grub/i386-pc";
const N = 200;
const mods = Array.from({ length: N }, (_, i) => `${DIR}/mod${i}.mod`);
const FONT = "/boot/grub/fonts/unicode.pf2";
const outputs = [...mods, `${DIR}/core.img`, `${DIR}/added.mod`, FONT];

async function guest(): Promise<string> {
  const root = await copyTree(join(SAMPLE, "root"));
  await mkdir(join(root, DIR), { recursive: true });
  await mkdir(join(root, "/boot/grub/fonts"), { recursive: true });
  for (const [i, f] of mods.entries()) await writeFile(join(root, f), `module ${i}\n`);
  await writeFile(join(root, DIR, "core.img"), "old core\n");
  // a file grub-install does not write: it must come back on rollback too
  await writeFile(join(root, DIR, "local-notes.txt"), "kept by the admin\n");
  await writeFile(join(root, FONT), "old font\n");
  await chmod(join(root, DIR), 0o750);
  return root;
}

/** Like grub-install: fills the platform directory (which must exist) and rewrites the font. */
const grubInstall = (root: string, o: { fail?: boolean } = {}): ExecRunner => async () => {
  const st = await lstat(join(root, DIR));
  assert.ok(st.isDirectory(), "the command finds its platform directory");
  for (const f of [...mods.slice(0, o.fail ? 10 : N), `${DIR}/core.img`, `${DIR}/added.mod`]) await writeFile(join(root, f), "new version\n");
  await writeFile(join(root, FONT), "new font\n");
  return o.fail ? { exitCode: 1, output: "grub-install: error: disk full", timedOut: false } : { exitCode: 0, output: "Installation finished.", timedOut: false };
};

const installChange = (): Change => ({ action: "exec", argv: ["grub-install", "--target=i386-pc", "/dev/sda"], produces: outputs, rewritesDirs: [DIR], reason: "boot code" });

const stepOf = (changes: Change[]): FixupStep => ({ name: "bootloader", title: "grub-install", fatal: true, failCode: "BOOTLOADER_FAILED", plan: async () => ({ warnings: [], changes }) });

async function ctx(root: string): Promise<Omit<FixupContext, "view">> {
  return { info: await inspectGuest(new DiskView(new GuestRoot(root))), inputs: await loadInputs(join(SAMPLE, "inputs")), devices: [], log: new Logger() };
}

const inodes = async (root: string) => new Map(await Promise.all([DIR, ...mods.slice(0, 3)].map(async (p) => [p, (await lstat(join(root, p))).ino] as const)));

test("the platform directory is moved into the backup tree whole: one entry, no copy of its files, and rollback gives back the same inodes", async () => {
  const root = await guest();
  const before = await fingerprint(root);
  const ino = await inodes(root);
  const g = new GuestRoot(root);
  const out = await runSteps(g, [stepOf([installChange()])], await ctx(root), { mode: "apply", version: "t", exec: grubInstall(root) });
  assert.equal(out.failure, undefined, out.failure?.message);
  const j = await Journal.read(g);
  const origs = j.entries.filter((e) => e.t === "orig");
  assert.deepEqual(origs.map((e) => e.t === "orig" && `${e.kind} ${e.path}`), [`dir ${DIR}`, `file ${FONT}`], "the directory in one entry, the font outside it on its own");
  assert.equal((await lstat(join(root, backupPathOf(DIR)))).ino, ino.get(DIR), "the backup is the directory itself, moved");
  assert.equal((await lstat(join(root, DIR))).mode & 0o7777, 0o750, "the command's new directory has the original's mode");
  assert.ok(!existsSync(join(root, DIR, "local-notes.txt")), "the command filled an empty directory");
  await j.rollback(new Logger());
  assert.deepEqual(diffPrints(before, await fingerprint(root)), [], "rollback restores the tree");
  assert.deepEqual(await inodes(root), ino, "the directory and its files are the original inodes");
});

test("a failed command: the step's rollback puts the directory back", async () => {
  const root = await guest();
  const before = await fingerprint(root);
  const out = await runSteps(new GuestRoot(root), [stepOf([installChange()])], await ctx(root), { mode: "apply", version: "t", exec: grubInstall(root, { fail: true }) });
  assert.equal(out.failure?.codeName, "BOOTLOADER_FAILED");
  assert.deepEqual(diffPrints(before, await fingerprint(root)), [], "the failed run left the original tree");
});

test("a crash between the journal entry and the rename: the directory never left, rollback leaves it", async () => {
  const root = await guest();
  const before = await fingerprint(root);
  const g = new GuestRoot(root);
  const j = await Journal.read(g);
  await j.begin("t");
  assert.equal(await j.moveDirAside(DIR), true);
  // undo the move by hand: the journal then says what it would say had the crash come before it
  await rm(join(root, DIR), { recursive: true });
  await rename(join(root, backupPathOf(DIR)), join(root, DIR));
  await (await Journal.read(g)).rollback(new Logger());
  assert.deepEqual(diffPrints(before, await fingerprint(root)), [], "rollback restores the tree");
});

test("a crash during the command, then a crash in the middle of the rollback: a second rollback finishes it", async () => {
  const root = await guest();
  const before = await fingerprint(root);
  const ino = await inodes(root);
  const g = new GuestRoot(root);
  const j = await Journal.read(g);
  await j.begin("t");
  assert.equal(await j.moveDirAside(DIR), true);
  // the command wrote part of the directory when the power went
  for (const f of mods.slice(0, 5)) await writeFile(join(root, f), "half-written\n");
  // the first rollback removed what the command wrote, then the power went again
  await rm(join(root, DIR), { recursive: true });
  await (await Journal.read(g)).rollback(new Logger());
  assert.deepEqual(diffPrints(before, await fingerprint(root)), [], "rollback restores the tree");
  assert.deepEqual(await inodes(root), ino);
});

test("md RAID: the second grub-install does not move the directory again, rollback gives the original, not the first install's", async () => {
  const root = await guest();
  const before = await fingerprint(root);
  const g = new GuestRoot(root);
  const second: Change = { ...installChange(), argv: ["grub-install", "--target=i386-pc", "/dev/sdb"] } as Change;
  // a later write under the moved directory needs no backup of its own
  const later: Change = { action: "write", path: `${DIR}/load.cfg`, content: "set root=x\n", reason: "test" };
  const out = await runSteps(g, [stepOf([installChange(), second, later])], await ctx(root), { mode: "apply", version: "t", exec: grubInstall(root) });
  assert.equal(out.failure, undefined, out.failure?.message);
  const j = await Journal.read(g);
  assert.deepEqual(j.entries.filter((e) => e.t === "orig").map((e) => e.t === "orig" && `${e.kind} ${e.path}`), [`dir ${DIR}`, `file ${FONT}`]);
  await j.rollback(new Logger());
  assert.deepEqual(diffPrints(before, await fingerprint(root)), [], "rollback restores the tree");
});

test("a file under the directory saved on its own before: its files are saved one by one instead, and rollback is exact", async () => {
  const root = await guest();
  const before = await fingerprint(root);
  const g = new GuestRoot(root);
  const first: Change = { action: "write", path: `${DIR}/core.img`, content: "edited first\n", reason: "test" };
  const out = await runSteps(g, [stepOf([first, installChange()])], await ctx(root), { mode: "apply", version: "t", exec: grubInstall(root) });
  assert.equal(out.failure, undefined, out.failure?.message);
  const j = await Journal.read(g);
  const kinds = j.entries.filter((e) => e.t === "orig").map((e) => e.t === "orig" && e.kind);
  assert.ok(!kinds.includes("dir"), "not moved whole");
  assert.equal(kinds.length, outputs.length, "one original per output");
  await j.rollback(new Logger());
  assert.deepEqual(diffPrints(before, await fingerprint(root)), [], "rollback restores the tree");
});

test("no platform directory yet: nothing is moved, the command creates it and rollback removes it", async () => {
  const root = await guest();
  await rm(join(root, DIR), { recursive: true });
  const before = await fingerprint(root);
  const g = new GuestRoot(root);
  const out = await runSteps(g, [stepOf([installChange()])], await ctx(root), {
    mode: "apply",
    version: "t",
    exec: async (...a) => {
      await mkdir(join(root, DIR));
      return grubInstall(root)(...a);
    },
  });
  assert.equal(out.failure, undefined, out.failure?.message);
  const j = await Journal.read(g);
  assert.ok(!j.entries.some((e) => e.t === "orig" && e.kind === "dir"));
  await j.rollback(new Logger());
  assert.deepEqual(diffPrints(before, await fingerprint(root)), [], "rollback restores the tree");
});

test("a link in the directory's place is not moved (it is not the directory)", async () => {
  const root = await guest();
  const g = new GuestRoot(root);
  await rename(join(root, DIR), join(root, "/boot/grub/real-pc"));
  await symlink("real-pc", join(root, DIR));
  const j = await Journal.read(g);
  await j.begin("t");
  assert.equal(await j.moveDirAside(DIR), false);
  assert.ok((await lstat(join(root, DIR))).isSymbolicLink());
  assert.ok((await readdir(join(root, "/boot/grub/real-pc"))).length > N);
});
