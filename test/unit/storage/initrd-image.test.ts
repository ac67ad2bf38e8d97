// Reading initramfs images (newc cpio, gzip, zstd, an uncompressed early-microcode prefix)
// and the decision to keep one instead of rebuilding it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { gzipSync, zstdCompressSync, constants as Z } from "node:zlib";
import { CpioError, CpioReader, writeNewc, type CpioEntry, type NewcFile } from "../../../src/initrd/cpio.ts";
import { UnreadableImage, currentReferences, imageVerdict, judgeImage, readInitramfs, staleReference, zstdFramesEnd, namedNics } from "../../../src/initrd/image.ts";
import { pinRules } from "../../../src/network/pin.ts";
import { GuestRoot } from "../../../src/guest/guest-root.ts";
import { DiskView } from "../../../src/guest/view.ts";
import { prng } from "../../helpers/fuzz.ts";
import { tempDir } from "../../helpers/tree.ts";
import { ITOOLS_MODULES, ITOOLS_TEMP_CONF, planInitrd, readImagesAhead } from "../../../src/initrd/plan.ts";
import { ImageReads } from "../../../src/initrd/image-reads.ts";
import { context } from "./ctx.ts";
import { initramfsVerdictProblem } from "../../e2e/variants.ts";

const V = "6.1.0-27-amd64";
const MD = `usr/lib/modules/${V}`;
const DIR = 0o040755;

/** A module tree as mkinitramfs lays it out: the .ko files, modules.dep and modules.builtin. */
function moduleFiles(mods: Record<string, string[]>, extra: NewcFile[] = [], builtin: string[] = []): NewcFile[] {
  const path = (m: string) => `kernel/drivers/${m}.ko`;
  const dep = Object.entries(mods)
    .map(([m, deps]) => `${path(m)}: ${deps.map(path).join(" ")}`.trimEnd())
    .join("\n");
  const all = new Set([...Object.keys(mods), ...Object.values(mods).flat()]);
  return [
    { name: ".", mode: DIR },
    { name: "usr", mode: DIR },
    { name: "usr/lib", mode: DIR },
    { name: "lib", mode: 0o120777, data: "usr/lib" },
    { name: MD, mode: DIR },
    ...[...all].filter((m) => m in mods).map((m) => ({ name: `${MD}/${path(m)}`, data: `\x7fELF ${m}` })),
    { name: `${MD}/modules.dep`, data: dep + "\n" },
    { name: `${MD}/modules.builtin`, data: builtin.map((b) => `kernel/${b}.ko\n`).join("") },
    ...extra,
  ];
}

const TARGET = ["vmw_pvscsi", "sd_mod", "vmxnet3", "ext4"];
const GENERIC = { vmw_pvscsi: ["scsi_mod"], scsi_mod: [], sd_mod: ["scsi_mod"], vmxnet3: [], ext4: ["jbd2", "mbcache"], jbd2: [], mbcache: [] } as Record<string, string[]>;
const MICROCODE = writeNewc([
  { name: "kernel", mode: DIR },
  { name: "kernel/x86/microcode", mode: DIR },
  { name: "kernel/x86/microcode/GenuineIntel.bin", data: Buffer.alloc(3000, 7) },
]);

function feed(archive: Buffer, sizes: () => number, keep = (n: string) => n.endsWith(".dep")): CpioEntry[] {
  const got: CpioEntry[] = [];
  const r = new CpioReader({ keep, onEntry: (e) => got.push(e) });
  for (let i = 0; i < archive.length; ) {
    const n = Math.max(1, sizes());
    r.push(archive.subarray(i, i + n));
    i += n;
  }
  r.end();
  return got;
}

test("cpio: entries and kept contents are the same whatever the chunk sizes", () => {
  const files = moduleFiles(GENERIC);
  const archive = Buffer.concat([writeNewc(files), Buffer.alloc(512), writeNewc([{ name: "./init", data: "#!/bin/sh\n", mode: 0o100755 }])]);
  const whole = feed(archive, () => archive.length);
  const rnd = prng(7);
  const bytes = feed(archive, () => 1);
  const random = feed(archive, () => Math.floor(rnd() * 300));
  assert.deepEqual(bytes, whole);
  assert.deepEqual(random, whole);
  assert.equal(whole.length, files.length + 1);
  assert.deepEqual(whole.at(-1), { name: "init", kind: "file", mode: 0o100755, size: 10 });
  assert.equal(whole.find((e) => e.name === "lib")?.kind, "symlink");
  assert.match(whole.find((e) => e.name === `${MD}/modules.dep`)!.data!.toString(), /vmw_pvscsi\.ko: kernel\/drivers\/scsi_mod\.ko/);
  assert.equal(whole.find((e) => e.name.endsWith("vmxnet3.ko"))!.data, undefined, "entries not asked for keep no data");
});

test("cpio: a stream cut inside an archive, or that is no cpio, is an error", () => {
  const a = writeNewc(moduleFiles(GENERIC));
  assert.throws(() => feed(a.subarray(0, a.length - 20), () => 64), CpioError);
  assert.throws(() => feed(Buffer.from("this is not a cpio archive"), () => 8), /not a newc cpio archive/);
  assert.throws(() => feed(Buffer.alloc(64), () => 8), /no cpio archive/);
});

test("cpio: the host's cpio -H newc output reads the same as ours", { skip: !hasTool("cpio") && "no cpio on this host" }, async () => {
  const d = await tempDir();
  await mkdir(join(d, "usr/lib/modules", V), { recursive: true });
  await writeFile(join(d, "usr/lib/modules", V, "modules.dep"), "kernel/a.ko:\n");
  await writeFile(join(d, "init"), "#!/bin/sh\n");
  const out = execFileSync("cpio", ["--quiet", "-o", "-H", "newc"], { cwd: d, input: ".\nusr\nusr/lib\nusr/lib/modules\nusr/lib/modules/" + V + "\nusr/lib/modules/" + V + "/modules.dep\ninit\n" });
  const got = feed(out, () => 37);
  assert.deepEqual(got.map((e) => e.name), ["", "usr", "usr/lib", "usr/lib/modules", `usr/lib/modules/${V}`, `${MD}/modules.dep`, "init"]);
  assert.equal(got[5]!.data!.toString(), "kernel/a.ko:\n");
});

function hasTool(t: string): boolean {
  try {
    execFileSync(t, ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

const keepDep = (n: string) => n.endsWith("modules.dep");

test("image: gzip, zstd, and an uncompressed microcode prefix before either", async () => {
  const main = writeNewc(moduleFiles(GENERIC));
  for (const [name, image] of [
    ["gzip", gzipSync(main)],
    ["zstd", zstdCompressSync(main)],
    ["microcode + gzip", Buffer.concat([MICROCODE, Buffer.alloc(508), gzipSync(main)])],
    ["microcode + zstd", Buffer.concat([MICROCODE, zstdCompressSync(main, { params: { [Z.ZSTD_c_checksumFlag]: 1 } })])],
    ["two microcode archives + zstd", Buffer.concat([MICROCODE, MICROCODE, Buffer.alloc(4), zstdCompressSync(main)])],
  ] as const) {
    const img = await readInitramfs(image, keepDep);
    assert.ok(img.entries.has(`${MD}/kernel/drivers/vmw_pvscsi.ko`), `${name}: module listed`);
    assert.ok(img.files.get(`${MD}/modules.dep`)!.includes("sd_mod.ko"), `${name}: modules.dep kept`);
    assert.equal(img.segments.at(-1)!.compression, name.endsWith("gzip") ? "gzip" : "zstd");
    if (name.startsWith("microcode")) assert.deepEqual(img.segments[0], { offset: 0, compression: "none" });
    if (name.startsWith("microcode")) assert.ok(img.entries.has("kernel/x86/microcode/GenuineIntel.bin"));
  }
});

test("image: a later archive replaces an earlier file, as the kernel unpacks it", async () => {
  const first = writeNewc(moduleFiles({ ahci: [] }));
  const later = writeNewc([{ name: `${MD}/modules.dep`, data: "kernel/drivers/vmw_pvscsi.ko:\n" }]);
  const img = await readInitramfs(Buffer.concat([gzipSync(first), gzipSync(later)]), keepDep);
  assert.equal(img.files.get(`${MD}/modules.dep`)!.toString(), "kernel/drivers/vmw_pvscsi.ko:\n");
  const z = await readInitramfs(Buffer.concat([zstdCompressSync(first), Buffer.alloc(16), gzipSync(later)]), keepDep);
  assert.deepEqual(z.segments.map((s) => s.compression), ["zstd", "gzip"]);
  assert.equal(z.files.get(`${MD}/modules.dep`)!.toString(), "kernel/drivers/vmw_pvscsi.ko:\n");
});

test("image: the host's zstd and gzip tools make images we read", { skip: !(hasTool("zstd") && hasTool("gzip")) && "no zstd/gzip on this host" }, async () => {
  const main = writeNewc(moduleFiles(GENERIC));
  for (const argv of [["zstd", "-q", "-19", "-c"], ["zstd", "-q", "-c", "--no-check"], ["gzip", "-9", "-c", "-n"], ["gzip", "-c"]]) {
    const image = Buffer.concat([MICROCODE, execFileSync(argv[0]!, argv.slice(1), { input: main })]);
    const img = await readInitramfs(image, keepDep);
    assert.equal(img.entries.size, moduleFiles(GENERIC).length + 3, argv.join(" "));
  }
});

test("image: unreadable images say why (fake bytes, truncation, junk, xz/lz4)", async () => {
  const main = writeNewc(moduleFiles(GENERIC));
  const z = zstdCompressSync(main);
  const g = gzipSync(main);
  const cases: [string, Buffer, RegExp][] = [
    ["fixture bytes", Buffer.from("fake initrd for the golden tests\n"), /unknown data at byte 0/],
    ["empty", Buffer.alloc(0), /empty/],
    ["truncated zstd", z.subarray(0, z.length - 5), /zstd/],
    ["truncated gzip", g.subarray(0, g.length - 30), /./],
    ["junk after zstd", Buffer.concat([z, Buffer.from("junk")]), /unknown data/],
    ["compressed archive cut inside a file", zstdCompressSync(main.subarray(0, 400)), /ends inside an archive/],
    ["xz", Buffer.concat([MICROCODE, Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 1, 2])]), /xz compressed segment .* gzip and zstd only/],
    ["lz4", Buffer.from([0x02, 0x21, 0x4c, 0x18, 0, 0]), /lz4/],
  ];
  for (const [name, image, re] of cases) await assert.rejects(readInitramfs(image, keepDep), (e: Error) => e instanceof UnreadableImage && re.test(e.message), name);
});

test("zstdFramesEnd: the end of the frames from their block headers, skippable frames included", () => {
  const a = zstdCompressSync(Buffer.alloc(200_000, 1));
  const b = zstdCompressSync(Buffer.from("x".repeat(100)), { params: { [Z.ZSTD_c_checksumFlag]: 1 } });
  const skippable = Buffer.concat([Buffer.from([0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0]), Buffer.from("abc")]);
  assert.equal(zstdFramesEnd(Buffer.concat([a, b, skippable, Buffer.from("tail")]), 0), a.length + b.length + skippable.length);
  assert.throws(() => zstdFramesEnd(a.subarray(0, a.length - 1), 0), UnreadableImage);
});

const CURRENT = new Set(["UUID=0c3a2f6e-1111-2222-3333-444455556666", "/dev/mapper/vg-root"]);

test("judge: keeps an image with every target driver and its dependencies", async () => {
  const img = await readInitramfs(zstdCompressSync(writeNewc(moduleFiles(GENERIC))), (n) => n.startsWith(MD + "/modules."));
  const v = judgeImage(img, V, TARGET, CURRENT);
  assert.equal(v.keep, true, v.why);
  assert.match(v.why, /already holds 4 target driver\(s\)/);
});

test("judge: rebuilds for a missing driver, a missing dependency, another kernel or no modules.dep", async () => {
  const read = (files: NewcFile[]) => readInitramfs(gzipSync(writeNewc(files)), (n) => n.includes("/modules."));
  const { vmw_pvscsi: _, ...noPvscsi } = GENERIC;
  assert.deepEqual(judgeImage(await read(moduleFiles(noPvscsi)), V, TARGET, CURRENT), { keep: false, why: "it lacks vmw_pvscsi" });
  const noDep = moduleFiles(GENERIC).filter((f) => !f.name.endsWith("jbd2.ko"));
  assert.deepEqual(judgeImage(await read(noDep), V, TARGET, CURRENT), { keep: false, why: "it lacks ext4 (needs jbd2.ko)" });
  assert.match(judgeImage(await read(moduleFiles(GENERIC)), "6.1.0-28-amd64", TARGET, CURRENT).why, /no modules\.dep for 6\.1\.0-28-amd64/);
  assert.match(judgeImage(await read(moduleFiles(GENERIC).filter((f) => !f.name.endsWith("modules.dep"))), V, TARGET, CURRENT).why, /no modules\.dep/);
  // a driver built into the kernel needs no file
  const builtinExt4 = moduleFiles({ ...noPvscsi, vmw_pvscsi: [] }, [], []);
  assert.equal(judgeImage(await read(builtinExt4), V, TARGET, CURRENT).keep, true);
  const { ext4: _e, ...noExt4 } = GENERIC;
  assert.equal(judgeImage(await read(moduleFiles(noExt4, [], ["fs/ext4/ext4"])), V, TARGET, CURRENT).keep, true, "ext4 built in");
});

test("judge: dracut host-only and initramfs-tools references that are stale mean a rebuild", async () => {
  const cases: [string, NewcFile, RegExp | undefined][] = [
    ["dracut root by kernel name", { name: "etc/cmdline.d/90lvm.conf", data: " root=/dev/vda1 rootfstype=ext4 " }, /etc\/cmdline\.d\/90lvm\.conf root=: \/dev\/vda1 is a kernel device name/],
    ["dracut resume by unknown UUID", { name: "etc/cmdline.d/95resume.conf", data: "resume=UUID=dead-beef\n" }, /resume=: UUID=dead-beef is not a device the guest/],
    ["dracut luks by unknown UUID", { name: "etc/cmdline.d/90crypt.conf", data: "rd.luks.uuid=luks-aaaa-bbbb\n" }, /rd\.luks\.uuid=: UUID=aaaa-bbbb/],
    ["dracut crypttab by kernel name", { name: "etc/crypttab", data: "luks-x /dev/sda3 none luks\n" }, /etc\/crypttab \(luks-x\): \/dev\/sda3/],
    ["initramfs-tools resume", { name: "conf/conf.d/resume", data: "RESUME=UUID=0c3a2f6e-9999\n" }, /conf\/conf\.d\/resume RESUME=: UUID=0c3a2f6e-9999/],
    ["cryptsetup-initramfs crypttab", { name: "cryptroot/crypttab", data: "root_crypt UUID=feed-face none luks\n" }, /cryptroot\/crypttab/],
    ["current references are fine", { name: "etc/cmdline.d/00root.conf", data: "root=/dev/disk/by-uuid/0C3A2F6E-1111-2222-3333-444455556666 resume=/dev/mapper/vg-swap rd.lvm.lv=vg/root" }, undefined],
    ["resume none is fine", { name: "conf/conf.d/resume", data: "RESUME=none\n" }, undefined],
  ];
  for (const [name, file, re] of cases) {
    const img = await readInitramfs(zstdCompressSync(writeNewc(moduleFiles(GENERIC, [{ name: file.name.split("/").slice(0, -1).join("/"), mode: DIR }, file]))), (n) => n.includes("modules.") || !n.startsWith("usr/"));
    const v = judgeImage(img, V, TARGET, CURRENT);
    if (re) {
      assert.equal(v.keep, false, name);
      assert.match(v.why, re, name);
    } else assert.equal(v.keep, true, `${name}: ${v.why}`);
  }
  assert.equal(staleReference("/dev/md0", CURRENT), undefined, "md names do not follow the controller");
  assert.equal(staleReference("LABEL=root", new Set(["LABEL=root"])), undefined);
});

test("imageVerdict: reads the guest's image and fstab; fake bytes mean a rebuild", async () => {
  const root = await tempDir();
  const g = new GuestRoot(root);
  await g.mkdirp("/boot");
  await g.mkdirp("/etc");
  await g.writeFile("/etc/fstab", "UUID=0c3a2f6e-1111-2222-3333-444455556666 / ext4 errors=remount-ro 0 1\n/dev/vg/swap none swap sw 0 0\n");
  await g.writeFile(`/boot/initrd.img-${V}`, Buffer.concat([MICROCODE, zstdCompressSync(writeNewc(moduleFiles(GENERIC, [{ name: "conf/conf.d/resume", data: "RESUME=UUID=0c3a2f6e-1111-2222-3333-444455556666\n" }])))]));
  await g.writeFile("/boot/initrd.img-fake", "fake\n");
  const view = new DiskView(g);
  const current = await currentReferences(view, [{ source: "/dev/vda2", uuid: "ABCD-1234", from: "inventory" }]);
  assert.ok(current.has("UUID=abcd-1234") && current.has("UUID=0c3a2f6e-1111-2222-3333-444455556666") && current.has("/dev/vg/swap"));
  assert.equal((await imageVerdict(view, `/boot/initrd.img-${V}`, V, TARGET, current)).keep, true);
  assert.deepEqual(await imageVerdict(view, "/boot/initrd.img-fake", V, TARGET, current), { keep: false, why: "it cannot be read (unknown data at byte 0 of the image)" });
  assert.deepEqual(await imageVerdict(view, "/boot/none", V, TARGET, current), { keep: false, why: "there is no image" });
});

const V2 = "6.1.0-28-amd64";
const generic = Buffer.concat([MICROCODE, zstdCompressSync(writeNewc(moduleFiles(GENERIC)))]);
const { vmw_pvscsi: _, ...hostOnly } = GENERIC;
/** An initramfs-tools guest with two kernels: V's image is generic, V2's is img2. */
const files = (img2: Buffer, modules = "most"): Record<string, string | Buffer> => {
  const guestDep = Object.keys(GENERIC).map((m) => `kernel/drivers/${m}.ko:`).join("\n") + "\n";
  return {
    "etc/os-release": 'ID=debian\nVERSION_ID="12"\n',
    "etc/fstab": "/dev/vda1 / ext4 errors=remount-ro 0 1\n",
    "etc/initramfs-tools/initramfs.conf": `MODULES=${modules}\n`,
    "usr/sbin/update-initramfs": "",
    [`boot/vmlinuz-${V}`]: "",
    [`boot/vmlinuz-${V2}`]: "",
    [`boot/initrd.img-${V}`]: generic,
    [`boot/initrd.img-${V2}`]: img2,
    [`lib/modules/${V}/modules.dep`]: guestDep,
    [`lib/modules/${V2}/modules.dep`]: guestDep,
  };
};
const hostOnlyImage = () => zstdCompressSync(writeNewc(moduleFiles(hostOnly).map((f) => ({ ...f, name: f.name.replace(V, V2) }))));

test("plan: an image that already holds the drivers is kept (a note says why), the others are rebuilt", async () => {
  const mixed = await context(files(hostOnlyImage()));
  try {
    const p = await planInitrd(mixed);
    const execs = p.changes.filter((c) => c.action === "exec");
    assert.deepEqual(execs.map((c) => c.action === "exec" && c.argv.join(" ")), [`update-initramfs -u -t -k ${V2}`]);
    assert.deepEqual(p.notes, [`/boot/initrd.img-${V} kept as it is: it already holds 4 target driver(s) with their dependencies and no stale root, resume or crypt reference`]);
    assert.ok(p.changes.some((c) => c.action === "write" && c.path === ITOOLS_MODULES), "the guest's config still gets the driver list");
    assert.ok(mixed.log.lines.some((l) => l.includes(`initrd.img-${V2}: not kept, it lacks vmw_pvscsi`)), "why it is not kept is logged");
    // the guest's kernel has no vmw_pvscsi.ko file to add (append.ts): rebuilt, and the log says why
    assert.ok(mixed.log.lines.some((l) => l.includes(`initrd.img-${V2}: rebuilt, nothing to append to: the guest's /lib/modules/${V2}/kernel/drivers/vmw_pvscsi.ko cannot be read`)), mixed.log.lines.join("\n"));
  } finally {
    mixed.cleanup();
  }
  const both = await context(files(Buffer.concat([MICROCODE, gzipSync(writeNewc(moduleFiles(GENERIC).map((f) => ({ ...f, name: f.name.replace(V, V2) }))))])));
  try {
    const p = await planInitrd(both);
    assert.deepEqual(p.changes.map((c) => (c.action === "write" ? c.path : c.action)), [ITOOLS_MODULES], "no command, no temporary MODULES=most");
    assert.equal(p.notes?.length, 2);
  } finally {
    both.cleanup();
  }
  // a guest configured host-only (MODULES=dep) had its images sized for the source: not kept;
  // the one holding every driver gets the listed drivers' conf/modules appended (append.ts),
  // the other (no modules.dep for its kernel) is rebuilt
  const dep = await context(files(generic, "dep"));
  try {
    const p = await planInitrd(dep);
    assert.deepEqual(p.changes.filter((c) => c.action === "exec").map((c) => c.action === "exec" && c.argv.join(" ")), [`update-initramfs -u -t -k ${V2}`]);
    assert.ok(p.changes.some((c) => c.action === "write" && c.path === `/boot/initrd.img-${V}`), "completed by one more archive");
    assert.ok(p.changes.some((c) => c.action === "write" && c.path === ITOOLS_TEMP_CONF), "built generic in a chroot");
    assert.match(p.notes?.join("\n") ?? "", /^\/boot\/initrd\.img-6\.1\.0-27-amd64 completed by one more archive instead of a rebuild: conf\/modules with the listed drivers/);
  } finally {
    dep.cleanup();
  }
});

test("image reads: the verdict and the append share one read of each image, started ahead; other bytes are read again", async () => {
  const ctx = await context(files(hostOnlyImage()));
  try {
    const images = new ImageReads();
    const withReads = { ...ctx, images };
    assert.deepEqual(await readImagesAhead(withReads), [`/boot/initrd.img-${V}`, `/boot/initrd.img-${V2}`]);
    assert.deepEqual(images.started, [`/boot/initrd.img-${V}`, `/boot/initrd.img-${V2}`]);
    const p = await planInitrd(withReads);
    // V's image kept, V2's judged and then offered to an append: no third read
    assert.equal(p.notes?.length, 1, p.notes?.join("\n"));
    assert.deepEqual(images.started, [`/boot/initrd.img-${V}`, `/boot/initrd.img-${V2}`], "one read per image");
    const other = Buffer.concat([MICROCODE, gzipSync(writeNewc(moduleFiles(GENERIC)))]);
    const c = await images.read(`/boot/initrd.img-${V}`, other, V, true);
    assert.equal(images.started.length, 3, "other bytes at the same path are read again");
    assert.deepEqual(c.segments.map((x) => x.compression), ["none", "gzip"]);
    // every option that rebuilds them all reads none ahead
    const rebuildAll = { ...withReads, images: new ImageReads(), inputs: { ...ctx.inputs, system: { ...ctx.inputs.system, options: { ...ctx.inputs.system.options, rebuildInitramfs: true } } } };
    assert.deepEqual(await readImagesAhead(rebuildAll), []);
  } finally {
    ctx.cleanup();
  }
});

test("image reads: an unreadable image read ahead and never asked for is no unhandled rejection; asked for, it says why", async () => {
  const images = new ImageReads();
  void images.read("/boot/x", Buffer.from("fake\n"), V, true);
  await new Promise((r) => setTimeout(r, 20));
  await assert.rejects(images.read("/boot/x", Buffer.from("fake\n"), V, true), UnreadableImage);
  assert.equal(images.started.length, 1);
});

test("plan: a dracut guest configured host-only (the distribution's or its own hostonly=yes) is rebuilt", async () => {
  const K = "5.14.0-362.8.1.el9_3.x86_64";
  const generic = zstdCompressSync(writeNewc(moduleFiles(GENERIC).map((f) => ({ ...f, name: f.name.replace(V, K) }))));
  const base = {
    "etc/os-release": 'ID="rhel"\nVERSION_ID="9.3"\n',
    "etc/fstab": "/dev/vda1 / ext4 defaults 0 0\n",
    "usr/sbin/dracut": "",
    [`boot/vmlinuz-${K}`]: "",
    [`boot/initramfs-${K}.img`]: generic,
    [`lib/modules/${K}/modules.dep`]: Object.keys(GENERIC).map((m) => `kernel/drivers/${m}.ko:`).join("\n") + "\n",
  };
  for (const [conf, execs] of [[{}, 0], [{ "usr/lib/dracut/dracut.conf.d/01-dist.conf": 'hostonly="yes"\n' }, 1], [{ "usr/lib/dracut/dracut.conf.d/01-dist.conf": 'hostonly="yes"\n', "etc/dracut.conf.d/10-generic.conf": 'hostonly="no"\n' }, 0]] as const) {
    const ctx = await context({ ...base, ...conf });
    try {
      const p = await planInitrd(ctx);
      assert.equal(p.changes.filter((c) => c.action === "exec").length, execs, JSON.stringify(conf));
    } finally {
      ctx.cleanup();
    }
  }
});

test("imageVerdict: the image's copies of guest configuration must be current; several NICs need their pins in it", async () => {
  const root = await tempDir();
  const g = new GuestRoot(root);
  const lvm = "devices {\n  filter = [ \"a|.*|\" ]\n}\n";
  const pin = (mac: string, name: string) => `SUBSYSTEM=="net", ACTION=="add", ATTR{address}=="${mac}", NAME="${name}"\n`;
  await g.mkdirp("/etc/lvm");
  await g.mkdirp("/etc/udev/rules.d");
  await g.mkdirp("/boot");
  await g.writeFile("/etc/lvm/lvm.conf", lvm);
  const view = new DiskView(g);
  const verdict = async (extra: NewcFile[]) => {
    await g.writeFile(`/boot/initrd.img-${V}`, zstdCompressSync(writeNewc(moduleFiles(GENERIC, extra))));
    return imageVerdict(view, `/boot/initrd.img-${V}`, V, TARGET, CURRENT);
  };
  assert.equal((await verdict([{ name: "etc/lvm/lvm.conf", data: lvm }])).keep, true, "a current copy");
  assert.deepEqual(await verdict([{ name: "etc/lvm/lvm.conf", data: "devices { }\n" }]), { keep: false, why: "its etc/lvm/lvm.conf is not the guest's current /etc/lvm/lvm.conf" });
  assert.match((await verdict([{ name: "etc/modprobe.d/blacklist.conf", data: "blacklist vmw_pvscsi\n" }])).why, /etc\/modprobe\.d\/blacklist\.conf is not the guest's/, "a copy the guest no longer has");
  await g.writeFile("/etc/udev/rules.d/70-persistent-net.rules", pin("00:50:56:00:00:01", "eth0"));
  assert.equal((await verdict([])).keep, true, "one NIC: the root's udev applies its pin");
  assert.match((await verdict([{ name: "etc/udev/rules.d/70-persistent-net.rules", data: "# old\n" }])).why, /70-persistent-net\.rules is not the guest's/);
  await g.writeFile("/etc/udev/rules.d/70-persistent-net.rules", pin("00:50:56:00:00:01", "eth1") + pin("00:50:56:00:00:02", "eth0"));
  assert.deepEqual(await verdict([]), { keep: false, why: "it lacks the NIC pins of /etc/udev/rules.d/70-persistent-net.rules (2 NICs)" });
  const rules = await g.readFile("/etc/udev/rules.d/70-persistent-net.rules");
  assert.equal((await verdict([{ name: "etc/udev/rules.d/70-persistent-net.rules", data: rules }])).keep, true);
});

// The first run of the deb12-generic e2e (2026-11-30): stage 1 pinned its one NIC, and the
// generic image was rebuilt "for the NIC pins (3 NICs)": network/pin.ts writes three rules per
// NIC, and each NAME= rule was counted as a NIC.
test("namedNics counts NICs, not rules: the pins stage 1 writes are three rules per NIC", () => {
  const nic = (i: number) => ({ index: i, sourceMac: `52:54:00:00:00:0${i}`, targetMac: `00:50:56:00:00:0${i}`, targetName: `eth${i}`, sourceName: `ens${i + 3}`, foundBy: "mac" as const, configured: true, newName: `eth${i}` });
  assert.equal(namedNics(pinRules([nic(0)]).join("\n") + "\n"), 1);
  assert.equal(namedNics(pinRules([nic(0), nic(1)]).join("\n") + "\n"), 2);
  assert.equal(namedNics('# NAME="x"\nSUBSYSTEM=="net", KERNEL=="eth*", NAME="lan0"\nSUBSYSTEM=="net", ATTR{address}=="AA:bb:cc:dd:ee:ff", NAME="eth0"\n'), 2);
});

test("e2e check: a generic initramfs must be kept with a note, a host-only initramfs-tools one completed by an archive, dracut's rebuilt", () => {
  const kept = { changes: [{ action: "write", path: "/etc/initramfs-tools/modules" }], notes: [`/boot/initrd.img-${V} kept as it is: it already holds 11 target driver(s)`] };
  const rebuilt = { changes: [{ action: "write", path: "/etc/initramfs-tools/modules" }, { action: "exec" }] };
  const appended = { changes: [{ action: "write", path: "/etc/initramfs-tools/modules" }, { action: "write", path: `/boot/initrd.img-${V}` }], notes: [`/boot/initrd.img-${V} completed by one more archive instead of a rebuild: 15 module(s)`] };
  assert.equal(initramfsVerdictProblem("deb12-generic", kept), undefined);
  assert.match(initramfsVerdictProblem("deb12-generic", rebuilt)!, /was rebuilt \(1 command\(s\)\)/);
  assert.match(initramfsVerdictProblem("deb12-generic", appended)!, /was rewritten instead of kept/);
  assert.match(initramfsVerdictProblem("deb12-generic", { changes: [] })!, /no note says/);
  assert.equal(initramfsVerdictProblem("deb12-itools", appended), undefined);
  assert.match(initramfsVerdictProblem("deb12-itools", rebuilt)!, /was rebuilt \(1 command\(s\)\) instead of completed/);
  assert.match(initramfsVerdictProblem("deb12-itools", kept)!, /was not completed by an archive/);
  assert.match(initramfsVerdictProblem("deb12-itools", { changes: appended.changes })!, /was not completed by an archive/, "no note");
  assert.equal(initramfsVerdictProblem("deb12-dracut-lvm", rebuilt), undefined);
  assert.match(initramfsVerdictProblem("deb12-dracut-lvm", kept)!, /was not rebuilt/);
  assert.match(initramfsVerdictProblem("deb12-itools", undefined)!, /no initrd step/);
});
