// readdirKinds gives, in one pass over a directory, what readdir and kind() of each entry's path
// give: links judged inside the guest (one to "/" is the guest's root, not the host's), and in
// plan mode the overlay's planned files, links and removals on top.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, symlink, writeFile } from "node:fs/promises";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { GuestRoot } from "../../../src/guest/guest-root.ts";
import { DiskView, OverlayView, type GuestView } from "../../../src/guest/view.ts";
import { tempDir } from "../../helpers/tree.ts";

async function guest(): Promise<string> {
  const root = await tempDir();
  await mkdir(join(root, "etc/sub"), { recursive: true });
  await mkdir(join(root, "real"), { recursive: true });
  await writeFile(join(root, "etc/a.conf"), "a\n");
  await writeFile(join(root, "real/inside"), "x\n");
  await symlink("/real", join(root, "etc/to-dir"));
  await symlink("a.conf", join(root, "etc/to-file"));
  await symlink("/nowhere", join(root, "etc/dangling"));
  // "/" is the guest's root: a directory link, not the host's /
  await symlink("/", join(root, "etc/to-root"));
  execFileSync("mkfifo", [join(root, "etc/fifo")]);
  // the directory itself through a link: its entries as kind() sees them there
  await symlink("etc", join(root, "etc-link"));
  return root;
}

async function slow(view: GuestView, dir: string) {
  return Promise.all((await view.readdir(dir)).map(async (n) => [n, await view.kind(`${dir}/${n}`)] as const));
}

test("readdirKinds is readdir plus kind() of each entry, links judged inside the guest", async () => {
  const root = await guest();
  const view = new DiskView(new GuestRoot(root));
  for (const dir of ["/etc", "/etc-link", "/real", "/missing"]) assert.deepEqual(await view.readdirKinds(dir), await slow(view, dir), dir);
  assert.deepEqual(new Map(await view.readdirKinds("/etc")).get("to-root"), "dirlink");
  assert.deepEqual(new Map(await view.readdirKinds("/etc")).get("fifo"), "other");
});

test("in plan mode the overlay's planned entries are on top", async () => {
  const root = await guest();
  const view = new OverlayView(new GuestRoot(root));
  view.setFile("/etc/new.conf", Buffer.from("n\n"));
  view.setRemoved("/etc/a.conf");
  view.setLink("/etc/sub", "/real");
  assert.deepEqual(await view.readdirKinds("/etc"), await slow(view, "/etc"));
  const kinds = new Map(await view.readdirKinds("/etc"));
  assert.equal(kinds.get("new.conf"), "file");
  assert.equal(kinds.has("a.conf"), false);
});
