// grub-install writes outside the file systems (the MBR's boot code, core.img in the gap or
// the BIOS boot partition): those bytes are backed up like files, restored by rollback and by
// a re-run, and never written to a disk that is not the one they came from.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, realpathSync } from "node:fs";
import { basename, join } from "node:path";
import { bootAreaLayout, guestDiskNames } from "../../../src/bootloader/boot-area.ts";
import { GuestRoot } from "../../../src/guest/guest-root.ts";
import { runSteps } from "../../../src/engine/run.ts";
import { Journal } from "../../../src/engine/journal.ts";
import type { ExecRunner } from "../../../src/engine/exec.ts";
import type { FixupContext, FixupStep } from "../../../src/fixups/types.ts";
import { loadInputs } from "../../../src/protocol/inputs.ts";
import { inspectGuest } from "../../../src/guest/inspect.ts";
import { DiskView } from "../../../src/guest/view.ts";
import { Logger } from "../../../src/util/log.ts";
import { SAMPLE, copyTree, diffPrints, fingerprint } from "../../helpers/tree.ts";
import { mbrDisk, memoryDisks } from "../../helpers/disks.ts";

const MiB = 1 << 20;

function gptDisk(biosBoot?: { first: number; last: number }): Buffer {
  const b = Buffer.alloc(4 * MiB);
  b[510] = 0x55;
  b[511] = 0xaa;
  b[446 + 4] = 0xee; // protective MBR
  b.write("EFI PART", 512, "latin1");
  b.write("disk-guid-bytes!", 512 + 56, "latin1");
  b.writeBigUInt64LE(2n, 512 + 72);
  b.writeUInt32LE(128, 512 + 80);
  b.writeUInt32LE(128, 512 + 84);
  // entry 0: a Linux file system; entry 1: the BIOS boot partition, if any
  b.write("\xaf\x3d\xc6\x0f\x83\x84\x72\x47\x8e\x79\x3d\x69\xd8\x47\x7d\xe4", 1024, "latin1");
  b.writeBigUInt64LE(4096n, 1024 + 32);
  b.writeBigUInt64LE(8000n, 1024 + 40);
  if (biosBoot) {
    b.write("Hah!IdontNeedEFI", 1024 + 128, "latin1");
    b.writeBigUInt64LE(BigInt(biosBoot.first), 1024 + 128 + 32);
    b.writeBigUInt64LE(BigInt(biosBoot.last), 1024 + 128 + 40);
  }
  return b;
}

test("layout: an MBR disk's boot code and the gap before its first partition", () => {
  const l = bootAreaLayout(mbrDisk(), 4 * MiB);
  assert.equal(l.label, "dos");
  assert.deepEqual(l.ranges, [[0, 440], [512, 2047 * 512]]);
  assert.deepEqual(l.identity, [[440, 72]]);
  const old = mbrDisk();
  old.writeUInt32LE(63, 446 + 8); // DOS-era alignment: a 31 KiB gap
  assert.deepEqual(bootAreaLayout(old, 4 * MiB).ranges, [[0, 440], [512, 62 * 512]]);
});

test("layout: a GPT disk's boot code and its BIOS boot partition, or the boot code alone", () => {
  const l = bootAreaLayout(gptDisk({ first: 34, last: 2047 }), 4 * MiB);
  assert.equal(l.label, "gpt");
  assert.deepEqual(l.ranges, [[0, 440], [34 * 512, 2014 * 512]]);
  assert.deepEqual(l.identity, [[440, 72], [512, 92]], "the GPT header (the disk GUID) identifies the disk");
  assert.deepEqual(bootAreaLayout(gptDisk(), 4 * MiB).ranges, [[0, 440]]);
  // a corrupt entry pointing past the end is clamped to the disk
  assert.deepEqual(bootAreaLayout(gptDisk({ first: 8000, last: 9000 }), 4 * MiB).ranges, [[0, 440], [8000 * 512, 4 * MiB - 8000 * 512]]);
});

test("layout: a disk without a partition table: only the boot code", () => {
  assert.deepEqual(bootAreaLayout(Buffer.alloc(34 * 512), 4 * MiB), { label: "none", ranges: [[0, 440]], identity: [] });
});

test("guestDiskNames: the disks of the mounts at or under the guest root, no others", () => {
  // two real block devices of this machine (loop devices at least), by major:minor
  const devs = readdirSync("/sys/dev/block").filter((d) => !existsSync(`/sys/dev/block/${d}/partition`)).sort();
  assert.ok(devs.length >= 2, `need two block devices in /sys/dev/block, found ${devs.join(", ")}`);
  const [a, b] = [devs[0]!, devs[1]!];
  const mi = [`36 1 ${a} / /mnt/guest rw - ext4 /dev/x rw`, `37 36 ${a} / /mnt/guest/boot rw - ext4 /dev/x rw`, `38 1 ${b} / /mnt/guestother rw - ext4 /dev/z rw`].join("\n");
  const name = (d: string) => basename(realpathSync(`/sys/dev/block/${d}`));
  assert.deepEqual([...guestDiskNames("/mnt/guest", mi)], [name(a)]);
  assert.deepEqual([...guestDiskNames("/mnt/guest/", mi)], [name(a)], "a trailing slash is the same root");
  assert.deepEqual([...guestDiskNames("/mnt/gue", mi)], [], "a prefix of a mount point is not a parent");
});

const grubInstall: FixupStep = {
  name: "bootloader",
  title: "boot loader",
  fatal: true,
  failCode: "BOOTLOADER_FAILED",
  async plan() {
    return { warnings: [], changes: [{ action: "exec", argv: ["grub-install", "--target=i386-pc", "/dev/sda"], bootArea: "/dev/sda", reason: "boot code" }] };
  },
};

/** Like grub-install: boot code into the MBR and core.img into the gap; then maybe fails. */
function fakeGrubInstall(disks: ReturnType<typeof memoryDisks>, fail = false): ExecRunner {
  return async () => {
    const d = disks.disks.get("/dev/sda")!;
    d.fill(0xeb, 0, 440);
    d.fill(0xc0, 512, 512 + 30_000);
    return fail ? { exitCode: 1, output: "grub-install: error: disk full", timedOut: false } : { exitCode: 0, output: "", timedOut: false };
  };
}

async function ctx(root: string): Promise<Omit<FixupContext, "view">> {
  const inputs = await loadInputs(join(SAMPLE, "inputs"));
  return { info: await inspectGuest(new DiskView(new GuestRoot(root))), inputs, devices: [], log: new Logger() };
}

test("rollback puts the boot code back byte for byte; the tree too", async () => {
  const root = await copyTree(join(SAMPLE, "root"));
  const before = await fingerprint(root);
  const disks = memoryDisks({ "/dev/sda": mbrDisk() });
  const original = Buffer.from(disks.disks.get("/dev/sda")!);
  const g = new GuestRoot(root);
  const out = await runSteps(g, [grubInstall], await ctx(root), { mode: "apply", version: "t", exec: fakeGrubInstall(disks), disks });
  assert.equal(out.failure, undefined);
  assert.notDeepEqual(disks.disks.get("/dev/sda"), original, "the fake grub-install wrote the disk");
  const j = await Journal.read(g, disks);
  const log = new Logger({ keep: true });
  assert.equal(await j.rollback(log), 1);
  assert.ok(disks.disks.get("/dev/sda")!.equals(original), "boot area restored");
  assert.deepEqual(diffPrints(before, await fingerprint(root)), [], "backup and journal gone");
  assert.match(log.lines.join("\n"), /restored the boot area of \/dev\/sda \(440 bytes at 0, 1048064 bytes at 512\)/);
  assert.doesNotMatch(log.lines.join("\n"), /WARN/, "a clean rollback warns of nothing");
});

test("a failing grub-install leaves the boot area as it was", async () => {
  const root = await copyTree(join(SAMPLE, "root"));
  const disks = memoryDisks({ "/dev/sda": mbrDisk(4 * MiB, 0x11) });
  const original = Buffer.from(disks.disks.get("/dev/sda")!);
  const out = await runSteps(new GuestRoot(root), [grubInstall], await ctx(root), { mode: "apply", version: "t", exec: fakeGrubInstall(disks, true), disks });
  assert.equal(out.failure?.code, 320);
  assert.ok(disks.disks.get("/dev/sda")!.equals(original));
});

test("a re-run after a crash restores the boot area before starting again", async () => {
  const root = await copyTree(join(SAMPLE, "root"));
  const disks = memoryDisks({ "/dev/sda": mbrDisk() });
  const original = Buffer.from(disks.disks.get("/dev/sda")!);
  const g = new GuestRoot(root);
  await runSteps(g, [grubInstall], await ctx(root), { mode: "apply", version: "t", exec: fakeGrubInstall(disks), disks });
  // the second run's grub-install sees the original again, and its backup is of the original
  let seen: Buffer | undefined;
  const peek: ExecRunner = async () => {
    seen = Buffer.from(disks.disks.get("/dev/sda")!);
    return { exitCode: 0, output: "", timedOut: false };
  };
  await runSteps(g, [grubInstall], await ctx(root), { mode: "apply", version: "t", exec: peek, disks });
  assert.ok(seen?.equals(original), "the first run's boot code was undone before the re-run");
  assert.ok((await g.readBytes("/opt/vmware/hcx/osam/data/backup/@disks/sda.boot-area"))!.equals(Buffer.concat([original.subarray(0, 440), original.subarray(512, 2048 * 512)])));
});

test("boot code is not written to another disk: refused device, other partition table, other size", async () => {
  for (const [what, change] of [
    ["refused", (d: ReturnType<typeof memoryDisks>) => d],
    ["table", (d: ReturnType<typeof memoryDisks>) => (d.disks.get("/dev/sda")!.writeUInt32LE(0xdeadbeef, 440), d)],
    ["size", (d: ReturnType<typeof memoryDisks>) => (d.disks.set("/dev/sda", Buffer.concat([d.disks.get("/dev/sda")!, Buffer.alloc(512)])), d)],
  ] as const) {
    const root = await copyTree(join(SAMPLE, "root"));
    const disks = memoryDisks({ "/dev/sda": mbrDisk() }, what === "refused" ? ["/dev/sda"] : []);
    const g = new GuestRoot(root);
    await runSteps(g, [grubInstall], await ctx(root), { mode: "apply", version: "t", exec: fakeGrubInstall(disks), disks });
    change(disks);
    const log = new Logger({ keep: true });
    await (await Journal.read(g, disks)).rollback(log);
    assert.deepEqual(disks.writes, [], `${what}: nothing written`);
    assert.match(log.lines.join("\n"), /the boot code on \/dev\/sda was not restored: .*kept in the guest at \/opt\/vmware\/hcx\/osam\/data\/unrestored\/sda.boot-area/, what);
    assert.equal((await g.readBytes("/opt/vmware/hcx/osam/data/unrestored/sda.boot-area"))?.length, 440 + 2047 * 512, `${what}: the original is kept`);
    assert.equal(await g.exists("/opt/vmware/hcx/osam/data/backup"), false, `${what}: the rest of the backups went as usual`);
  }
});
