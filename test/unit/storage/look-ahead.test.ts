// What the agent looks at before BEGIN: every disk on scsi0 but the fixup disk (target 15),
// with its partitions, and what it saw is taken after BEGIN only while the device keeps its
// number and size (a disk swapped or resized in between is asked again).
import { test } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { LookAhead, lookAhead, replicaCandidates } from "../../../src/guest/look-ahead.ts";
import { Logger } from "../../../src/util/log.ts";
import { fakeSys } from "./ctx.ts";

test("the candidates: every disk on the fixup disk's controller but the fixup disk, in target order, each with its partitions", () => {
  const f = fakeSys([
    { hctl: "0:0:0:0", name: "sdz", proc: "ata_piix", parts: [1] },
    { hctl: "2:0:15:0", name: "sda", parts: [1] },
    { hctl: "2:0:1:0", name: "sdb", parts: [1] },
    { hctl: "2:0:0:0", name: "sdc", parts: [2, 1] },
  ]);
  try {
    assert.deepEqual(replicaCandidates(f.sys), ["/dev/sdc", "/dev/sdc1", "/dev/sdc2", "/dev/sdb", "/dev/sdb1"]);
  } finally {
    f.cleanup();
  }
});

test("no VMware controller to tell the fixup disk from the replicas: nothing is looked at", async () => {
  const f = fakeSys([{ hctl: "0:0:0:0", name: "sda", proc: "ata_piix" }, { hctl: "1:0:0:0", name: "sdb", proc: "ahci" }]);
  try {
    assert.deepEqual(replicaCandidates(f.sys), []);
    const seen = await lookAhead(new Logger({ keep: true }), { sys: f.sys });
    assert.equal(seen.devices, 0);
  } finally {
    f.cleanup();
  }
});

test("what was seen holds while the device keeps its number and size; changed, unknown or never seen: asked again", () => {
  const f = fakeSys([{ hctl: "2:0:15:0", name: "sda" }, { hctl: "2:0:0:0", name: "sdb", parts: [1, 2] }]);
  try {
    const a = new LookAhead(f.sys);
    a.keep("/dev/sdb", { device: "/dev/sdb", ptuuid: "p" });
    a.keep("/dev/sdb1", { device: "/dev/sdb1", type: "ext4", uuid: "u1" });
    a.keep("/dev/sdb2", null);
    a.keepRoot("/dev/sdb1", { os: "Debian GNU/Linux 12 (bookworm)" });
    a.keep("/dev/sdq", { device: "/dev/sdq", type: "ext4" }); // no sysfs entry: not kept
    assert.equal(a.devices, 3);
    assert.equal(a.entry("/dev/sdb1")?.uuid, "u1");
    assert.equal(a.entry("/dev/sdb2"), null, "seen with nothing on it");
    assert.equal(a.entry("/dev/sdq"), undefined);
    assert.equal(a.entry("/dev/sdc"), undefined);
    assert.deepEqual(a.root("/dev/sdb1"), { os: "Debian GNU/Linux 12 (bookworm)" });
    writeFileSync(join(f.sys, "class/block/sdb1/size"), "8192\n");
    assert.equal(a.entry("/dev/sdb1"), undefined, "resized since");
    assert.equal(a.root("/dev/sdb1"), undefined);
    writeFileSync(join(f.sys, "class/block/sdb2/dev"), "8:99\n");
    assert.equal(a.entry("/dev/sdb2"), undefined, "another device under the name since");
    assert.equal(a.entry("/dev/sdb")?.ptuuid, "p");
  } finally {
    f.cleanup();
  }
});
