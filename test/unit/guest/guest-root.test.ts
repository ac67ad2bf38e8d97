import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, readFile, stat, symlink, writeFile, chmod } from "node:fs/promises";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { GuestRoot } from "../../../src/guest/guest-root.ts";
import { OverlayView } from "../../../src/guest/view.ts";
import { FixupError } from "../../../src/protocol/codes.ts";
import { tempDir } from "../../helpers/tree.ts";

/** A host dir holding a guest root plus a "host secret" beside it that must stay unreachable. */
async function setup() {
  const host = await tempDir("osam-confine-");
  const root = join(host, "guest");
  await mkdir(join(root, "etc"), { recursive: true });
  await writeFile(join(host, "secret"), "host secret\n");
  await writeFile(join(root, "etc/real"), "guest file\n");
  return { host, root, g: new GuestRoot(root) };
}

test("absolute links resolve inside the guest, not on the host", async () => {
  const { root, g } = await setup();
  await symlink("/etc/real", join(root, "etc/abs"));
  await symlink("/", join(root, "etc/toroot"));
  assert.equal(await g.readText("/etc/abs"), "guest file\n");
  assert.equal((await g.resolve("/etc/toroot/etc/real")).host, join(root, "etc/real"));
  assert.equal((await g.resolve("/etc/toroot")).host, g.root);
});

test("'..' in paths and in links stops at the guest root", async () => {
  const { root, g } = await setup();
  await symlink("../../../../secret", join(root, "etc/up"));
  await symlink("../..", join(root, "etc/updir"));
  assert.equal((await g.resolve("/../../secret")).host, join(root, "secret"));
  assert.equal(await g.readText("/../secret"), undefined);
  assert.equal(await g.readText("/etc/up"), undefined, "a link climbing out must land inside the guest (where nothing is)");
  assert.equal((await g.resolve("/etc/updir/secret")).host, join(root, "secret"));
  await g.writeFile("/etc/up", "written through the link\n");
  assert.equal(await readFile(join(root, "secret"), "utf8"), "written through the link\n");
  const { host } = { host: join(root, "..") };
  assert.equal(await readFile(join(host, "secret"), "utf8"), "host secret\n", "the host file beside the root is untouched");
});

test("links to host-absolute paths of the fixup disk are re-rooted", async () => {
  const { host, root, g } = await setup();
  await symlink(join(host, "secret"), join(root, "etc/hostpath"));
  await assert.rejects(g.writeFile("/etc/hostpath", "x\n"), /no directory/, "its parent does not exist inside the guest");
  await g.mkdirp(host);
  await g.writeFile("/etc/hostpath", "x\n");
  assert.equal(await readFile(join(host, "secret"), "utf8"), "host secret\n");
  assert.equal(await readFile(join(root, host.slice(1), "secret"), "utf8"), "x\n");
});

test("a name longer than the file system allows is a file that does not exist, not an error", async () => {
  // found by the plan fuzzer: an ifupdown 'source' line naming such a path made the plan throw
  const { root, g } = await setup();
  await mkdir(join(root, "etc/network"));
  const long = `/etc/network/interfaces.${"x".repeat(300)}`;
  assert.equal(await g.readText(long), undefined);
  assert.equal(await g.exists(long), false);
  assert.equal((await g.resolve(`${long}/below`)).stat, undefined);
});

test("link loops fail with GUEST_UNSAFE instead of hanging", async () => {
  const { root, g } = await setup();
  await symlink("/etc/b", join(root, "etc/a"));
  await symlink("/etc/a", join(root, "etc/b"));
  await symlink("self", join(root, "etc/self"));
  await assert.rejects(g.readText("/etc/a"), (e: unknown) => e instanceof FixupError && /too many levels/.test(e.message));
  await assert.rejects(g.writeFile("/etc/self", "x"), FixupError);
});

test("a directory link in the middle of a path is followed inside the guest", async () => {
  const { root, g } = await setup();
  await mkdir(join(root, "usr/lib/os"), { recursive: true });
  await writeFile(join(root, "usr/lib/os/os-release"), "ID=x\n");
  await symlink("/usr/lib/os", join(root, "etc/osdir"));
  assert.equal(await g.readText("/etc/osdir/os-release"), "ID=x\n");
  assert.equal(await g.kind("/etc/osdir"), "dirlink");
});

test("writeFile is atomic and keeps the original's mode; refuses FIFOs and directories", async () => {
  const { root, g } = await setup();
  await chmod(join(root, "etc/real"), 0o600);
  await g.writeFile("/etc/real", "new\n");
  assert.equal(await readFile(join(root, "etc/real"), "utf8"), "new\n");
  assert.equal((await stat(join(root, "etc/real"))).mode & 0o777, 0o600);
  await g.writeFile("/etc/newfile", "n\n");
  assert.equal((await stat(join(root, "etc/newfile"))).mode & 0o777, 0o644);
  await g.writeFile("/etc/exe", "#!/bin/sh\n", 0o755);
  assert.equal((await stat(join(root, "etc/exe"))).mode & 0o777, 0o755);
  execFileSync("mkfifo", [join(root, "etc/fifo")]);
  await assert.rejects(g.writeFile("/etc/fifo", "x"), FixupError);
  await assert.rejects(g.readFile("/etc/fifo"), FixupError);
  await assert.rejects(g.writeFile("/etc", "x"), FixupError);
  const leftovers = (await g.readdir("/etc")).filter((n) => n.includes(".osam-"));
  assert.deepEqual(leftovers, [], "no temp files left behind");
});

test("relative guest paths and NUL bytes are refused", async () => {
  const { g } = await setup();
  await assert.rejects(g.readText("etc/real"), FixupError);
  await assert.rejects(g.readText("/etc/real\0x"), FixupError);
});

test("a file in the middle of a path is not a directory", async () => {
  const { g } = await setup();
  await assert.rejects(g.writeFile("/etc/real/x", "y"), /not a directory/);
});

test("mkdirp reports exactly the directories it created", async () => {
  const { g } = await setup();
  assert.deepEqual(await g.mkdirp("/etc/a/b/c"), ["/etc/a", "/etc/a/b", "/etc/a/b/c"]);
  assert.deepEqual(await g.mkdirp("/etc/a/b/c"), []);
});

test("mkdirp of the same directories at once (two steps side by side): both succeed, each directory reported once", async () => {
  const { root, g } = await setup();
  for (let i = 0; i < 20; i++) {
    const [a, b] = await Promise.all([g.mkdirp(`/var/r${i}/x/y`), g.mkdirp(`/var/r${i}/x/z`)]);
    const both = [...a, ...b];
    assert.deepEqual([...new Set(both)].sort(), both.sort(), "no directory reported twice");
    assert.ok(both.includes(`/var/r${i}/x`) && both.includes(`/var/r${i}/x/y`) && both.includes(`/var/r${i}/x/z`));
  }
  await writeFile(join(root, "var/file"), "");
  await assert.rejects(g.mkdirp("/var/file/x"), /not a directory/);
});

test("the plan overlay shows earlier planned changes to later steps without writing", async () => {
  const { root, g } = await setup();
  const v = new OverlayView(g);
  v.setFile("/etc/new", Buffer.from("planned\n"));
  await v.rename("/etc/real", "/etc/moved");
  assert.equal(await v.readText("/etc/new"), "planned\n");
  assert.equal(await v.readText("/etc/moved"), "guest file\n");
  assert.equal(await v.exists("/etc/real"), false);
  assert.deepEqual(await v.readdir("/etc"), ["moved", "new"]);
  assert.equal(await readFile(join(root, "etc/real"), "utf8"), "guest file\n", "disk untouched");
});
