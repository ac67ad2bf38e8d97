// mdadm.conf left to assemble by UUID (issue 12, kind 3): DEVICE lines that name the source's
// disks, devices= on ARRAY lines (also on a continuation line), an ARRAY with no identity
// taken from its members' UUID, or refused with MD_ARRAY_UNIDENTIFIED.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mdadmUuid, planMdadmConf } from "../../../src/fixups/mdadm.ts";
import { CODES, FixupError } from "../../../src/protocol/codes.ts";
import type { KnownDevice } from "../../../src/fixups/types.ts";
import { context, inputs } from "./ctx.ts";

const member = (source: string, uuid: string, from: KnownDevice["from"] = "inventory"): KnownDevice => ({ source, uuid, fsType: "linux_raid_member", from });
const A = "3aaa0122-2982-7cfa-5331-ad66ca767371";

async function plan(files: Record<string, string>, devices: KnownDevice[] = []): Promise<Map<string, string>> {
  const ctx = await context(files, inputs({ disks: [{ source: "/dev/vda", unit: 0, boot: true }, { source: "/dev/vdb", unit: 1 }] }), devices);
  try {
    const out = new Map<string, string>();
    for (const c of await planMdadmConf(ctx)) if (c.action === "write") out.set(c.path, String(c.content));
    return out;
  } finally {
    ctx.cleanup();
  }
}

test("mdadm's UUID form from blkid's or lsblk's", () => {
  assert.equal(mdadmUuid(A), "3aaa0122:29827cfa:5331ad66:ca767371");
  assert.equal(mdadmUuid("3AAA0122:29827CFA:5331AD66:CA767371"), "3aaa0122:29827cfa:5331ad66:ca767371");
  assert.equal(mdadmUuid("1234"), undefined);
});

test("both places, abbreviated keywords, continuation lines, other identities and comments", async () => {
  const conf = [
    "# arrays",
    "DEV /dev/vd[ab]1",
    "  /dev/vd[ab]2",
    "DEVICE /dev/xvd*",
    "ARRAY /dev/md0 metadata=1.2 name=host:0",
    "   devices=/dev/vda1,/dev/vdb1",
    "ARR /dev/md1 uuid=9f1c2e3d:4b5a6978:8796a5b4:c3d2e1f0 devices=/dev/vda2,/dev/vdb2 spares=0",
    "ARRAY /dev/md2 super-minor=2 devices=/dev/vda3,/dev/vdb3",
    "ARRAY /dev/md3 UUID=01234567:89abcdef:01234567:89abcdef",
    "MAILADDR root",
    "",
  ].join("\n");
  const out = await plan({ "etc/mdadm.conf": conf, "etc/mdadm/mdadm.conf": "DEVICE partitions\nARRAY /dev/md0 UUID=01234567:89abcdef:01234567:89abcdef\n" });
  assert.deepEqual([...out.keys()], ["/etc/mdadm.conf"], "a conf that assembles by UUID already is left alone");
  assert.equal(
    out.get("/etc/mdadm.conf"),
    [
      "# arrays",
      "DEVICE partitions containers",
      "ARRAY /dev/md0 metadata=1.2 name=host:0",
      "ARR /dev/md1 uuid=9f1c2e3d:4b5a6978:8796a5b4:c3d2e1f0 spares=0",
      "ARRAY /dev/md2 super-minor=2",
      "ARRAY /dev/md3 UUID=01234567:89abcdef:01234567:89abcdef",
      "MAILADDR root",
      "",
    ].join("\n"),
  );
});

test("an ARRAY without identity gets its members' UUID, from the inventory or blkid", async () => {
  const conf = "ARRAY /dev/md0 level=raid1 num-devices=2 devices=/dev/vda1,/dev/vdb1\n";
  const out = await plan({ "etc/mdadm/mdadm.conf": conf }, [member("/dev/vda1", A), member("/dev/vdb1", A, "blkid")]);
  assert.equal(out.get("/etc/mdadm/mdadm.conf"), "ARRAY /dev/md0 UUID=3aaa0122:29827cfa:5331ad66:ca767371 level=raid1 num-devices=2\n");
});

test("an ARRAY without identity whose members are unknown, or disagree, stops the run with code 330", async () => {
  const conf = "ARRAY /dev/md0 level=raid1 devices=/dev/vda1,/dev/vdb1\n";
  for (const devices of [[], [member("/dev/vda1", A)], [member("/dev/vda1", A), member("/dev/vdb1", "9f1c2e3d-4b5a-6978-8796-a5b4c3d2e1f0")], [member("/dev/vda1", A), { source: "/dev/vdb1", uuid: A, fsType: "ext4", from: "blkid" as const }]]) {
    await assert.rejects(plan({ "etc/mdadm.conf": conf }, devices), (e: unknown) => e instanceof FixupError && e.code === CODES.MD_ARRAY_UNIDENTIFIED.code && /\/etc\/mdadm\.conf: the array \/dev\/md0 .*\/dev\/vda1,\/dev\/vdb1.*mdadm --detail --scan/.test(e.message));
  }
});

test("a RAID member's UUID is its array's: /dev/vda1 on a kernel line never becomes root=UUID=<array>", async () => {
  const { DeviceResolver } = await import("../../../src/fixups/device-refs.ts");
  const r = new DeviceResolver(inputs(), [member("/dev/vda1", A, "blkid"), { source: "/dev/vda2", uuid: "2222-aaaa", fsType: "LVM2_member", from: "blkid" }]);
  assert.deepEqual(r.resolve("/dev/vda1"), { kind: "name", value: "/dev/sda1", why: "no UUID is known for /dev/vda1" });
  assert.equal(r.resolve("/dev/vda2").kind, "name");
});

test("an initramfs whose copy of mdadm.conf is not the guest's is rebuilt, though it holds every driver", async () => {
  const { writeNewc } = await import("../../../src/initrd/cpio.ts");
  const { imageVerdict } = await import("../../../src/initrd/image.ts");
  const V = "6.1.0-27-amd64";
  const MD = `usr/lib/modules/${V}`;
  const mods = ["vmw_pvscsi", "sd_mod"];
  const image = (conf: string) =>
    writeNewc([
      { name: "usr", mode: 0o040755 },
      { name: "usr/lib", mode: 0o040755 },
      { name: MD, mode: 0o040755 },
      ...mods.map((m) => ({ name: `${MD}/kernel/drivers/${m}.ko`, data: `\x7fELF ${m}` })),
      { name: `${MD}/modules.dep`, data: mods.map((m) => `kernel/drivers/${m}.ko:`).join("\n") + "\n" },
      { name: `${MD}/modules.builtin`, data: "" },
      { name: "etc", mode: 0o040755 },
      { name: "etc/mdadm", mode: 0o040755 },
      { name: "etc/mdadm/mdadm.conf", data: conf },
    ]);
  const now = "DEVICE partitions containers\nARRAY /dev/md0 UUID=3aaa0122:29827cfa:5331ad66:ca767371\n";
  const ctx = await context({ "etc/mdadm/mdadm.conf": now, "boot/old.img": image("DEVICE /dev/vd*\nARRAY /dev/md0 UUID=3aaa0122:29827cfa:5331ad66:ca767371\n"), "boot/same.img": image(now) });
  try {
    assert.deepEqual(await imageVerdict(ctx.view, "/boot/old.img", V, mods, new Set()), { keep: false, why: "its /etc/mdadm/mdadm.conf is not the guest's (md arrays by UUID)" });
    assert.equal((await imageVerdict(ctx.view, "/boot/same.img", V, mods, new Set())).keep, true);
  } finally {
    ctx.cleanup();
  }
});
