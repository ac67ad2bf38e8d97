// udev is triggered and waited for only where it has work left: a device it has no record of
// (hot-added after coldplug), or events in its queue.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { udevPending } from "../../../src/guest/udev.ts";
import { tempDir } from "../../helpers/tree.ts";

async function fake(records: string[]) {
  const base = await tempDir();
  const sys = join(base, "sys");
  const udev = join(base, "udev");
  for (const [name, dev] of [["sda", "8:0"], ["sda1", "8:1"], ["sdb", "8:16"]]) {
    await mkdir(join(sys, "class/block", name!), { recursive: true });
    await writeFile(join(sys, "class/block", name!, "dev"), `${dev}\n`);
  }
  await mkdir(join(udev, "data"), { recursive: true });
  for (const r of records) await writeFile(join(udev, "data", `b${r}`), "E:ID_FS_TYPE=ext4\n");
  return { sys, udev };
}

test("every device recorded and nothing queued: nothing to wait for", async () => {
  const { sys, udev } = await fake(["8:0", "8:1"]);
  assert.equal(udevPending(["/dev/sda", "/dev/sda1"], sys, udev), undefined);
});

test("a device udev has no record of, one sysfs does not know, or a queue: trigger and settle, saying why", async () => {
  const { sys, udev } = await fake(["8:0", "8:1"]);
  assert.equal(udevPending(["/dev/sda", "/dev/sdb"], sys, udev), "udev has no record of /dev/sdb (8:16)");
  assert.equal(udevPending(["/dev/sdz"], sys, udev), "/dev/sdz has no device number in sysfs");
  await writeFile(join(udev, "queue"), "");
  assert.equal(udevPending(["/dev/sda"], sys, udev), "udev has events queued");
});
