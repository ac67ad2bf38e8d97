// GuestRoot's in-place write, link and times (issue 12, kind 7), confined like every access.
import { test } from "node:test";
import assert from "node:assert/strict";
import { link, lstat, mkdir, readFile, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { GuestRoot } from "../../../src/guest/guest-root.ts";
import { FixupError } from "../../../src/protocol/codes.ts";
import { tempDir } from "../../helpers/tree.ts";

test("writeInPlace keeps the inode and every name, shrinks and grows, keeps or sets the mode", async () => {
  const root = await tempDir();
  await mkdir(join(root, "etc"));
  await writeFile(join(root, "etc/a"), "a long original content\n", { mode: 0o640 });
  await link(join(root, "etc/a"), join(root, "etc/b"));
  const g = new GuestRoot(root);
  const ino = (await lstat(join(root, "etc/a"))).ino;
  await g.writeInPlace("/etc/b", "short\n");
  assert.equal(await readFile(join(root, "etc/a"), "utf8"), "short\n");
  assert.equal((await lstat(join(root, "etc/a"))).ino, ino);
  assert.equal((await lstat(join(root, "etc/a"))).mode & 0o7777, 0o640);
  await g.writeInPlace("/etc/a", "much longer than before, in place\n", 0o600);
  assert.equal(await readFile(join(root, "etc/b"), "utf8"), "much longer than before, in place\n");
  assert.equal((await lstat(join(root, "etc/b"))).mode & 0o7777, 0o600);
});

test("writeInPlace refuses what is not a regular file, and a link is followed inside the guest", async () => {
  const root = await tempDir();
  const outside = await tempDir();
  await writeFile(join(outside, "host-file"), "host\n");
  await mkdir(join(root, "etc"));
  await mkdir(join(root, "host"));
  await writeFile(join(root, "host/host-file"), "guest\n");
  await symlink("/host/host-file", join(root, "etc/abs"));
  const g = new GuestRoot(root);
  await assert.rejects(g.writeInPlace("/etc", "x"), FixupError);
  await assert.rejects(g.writeInPlace("/etc/missing", "x"), FixupError);
  await g.writeInPlace("/etc/abs", "changed\n");
  assert.equal(await readFile(join(root, "host/host-file"), "utf8"), "changed\n", "the guest's own /host");
  assert.equal(await readFile(join(outside, "host-file"), "utf8"), "host\n", "never the host's");
});

test("link gives a file another name inside the guest; setTimes sets the times of the name itself", async () => {
  const root = await tempDir();
  await mkdir(join(root, "etc"));
  await writeFile(join(root, "etc/a"), "x\n");
  await symlink("a", join(root, "etc/l"));
  const g = new GuestRoot(root);
  await g.link("/etc/a", "/etc/c");
  assert.equal((await lstat(join(root, "etc/c"))).ino, (await lstat(join(root, "etc/a"))).ino);
  await assert.rejects(g.link("/etc/l", "/etc/d"), FixupError, "a symlink is not linked");
  await g.setTimes("/etc/a", 1_000_000_000_000, 1_200_000_000_000);
  assert.equal((await lstat(join(root, "etc/a"))).mtimeMs, 1_200_000_000_000);
  assert.equal((await lstat(join(root, "etc/a"))).atimeMs, 1_000_000_000_000);
});
