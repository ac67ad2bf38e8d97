// Completing an initramfs-tools image by one more archive instead of a rebuild (initrd/append.ts)
// and the copies of guest files such an image holds (initrd/itools-copies.ts): the decisions,
// on images built here. The appended archive's modules and depmod's indexes are proven on a
// Debian kernel's real modules in test/integration/storage/initrd-append.test.ts, and by the
// e2e boots.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { gzipSync } from "node:zlib";
import { writeNewc, type NewcFile } from "../../../src/initrd/cpio.ts";
import { appendArchive, appendVerdict, mergeModuleList, moduleClosure, parseSoftdeps } from "../../../src/initrd/append.ts";
import { parseModulesDep, readInitramfs, resolveInImage, staleItoolsCopies } from "../../../src/initrd/image.ts";
import { itoolsCopies } from "../../../src/initrd/itools-copies.ts";
import { pinRules } from "../../../src/network/pin.ts";
import { context } from "./ctx.ts";

const V = "6.1.0-27-amd64";
const DIR = 0o040755;
const LINK = 0o120777;

test("moduleClosure: dependencies from modules.dep, softdeps, each module once, built-ins and unknown ones need nothing", () => {
  const dep = parseModulesDep(
    [
      "kernel/drivers/scsi/vmw_pvscsi.ko: kernel/drivers/scsi/scsi_mod.ko kernel/drivers/scsi/scsi_common.ko",
      "kernel/drivers/scsi/scsi_mod.ko: kernel/drivers/scsi/scsi_common.ko",
      "kernel/drivers/scsi/scsi_common.ko:",
      "kernel/drivers/scsi/sd_mod.ko: kernel/drivers/scsi/scsi_mod.ko kernel/drivers/scsi/scsi_common.ko",
      "kernel/fs/ext4/ext4.ko: kernel/fs/jbd2/jbd2.ko",
      "kernel/fs/jbd2/jbd2.ko:",
      "kernel/crypto/crc32c_generic.ko:",
      "kernel/crypto/crc32c-intel.ko.xz:",
    ].join("\n"),
  );
  const soft = parseSoftdeps("# comment\nsoftdep ext4 pre: crc32c_generic post: crc32c-intel\nsoftdep sd_mod pre: ext4\n");
  assert.deepEqual(soft.get("ext4"), ["crc32c_generic", "crc32c_intel"]);
  assert.deepEqual(moduleClosure(["vmw-pvscsi"], dep, soft), ["kernel/drivers/scsi/scsi_common.ko", "kernel/drivers/scsi/scsi_mod.ko", "kernel/drivers/scsi/vmw_pvscsi.ko"]);
  // a softdep's own softdeps and dependencies come along; the cycle back to sd_mod ends
  assert.deepEqual(moduleClosure(["sd_mod", "nonexistent"], dep, new Map([...soft, ["crc32c_intel", ["sd_mod"]]])), [
    "kernel/crypto/crc32c-intel.ko.xz",
    "kernel/crypto/crc32c_generic.ko",
    "kernel/drivers/scsi/scsi_common.ko",
    "kernel/drivers/scsi/scsi_mod.ko",
    "kernel/drivers/scsi/sd_mod.ko",
    "kernel/fs/ext4/ext4.ko",
    "kernel/fs/jbd2/jbd2.ko",
  ]);
});

test("mergeModuleList: the listed modules conf/modules lacks, with their arguments, once each", () => {
  assert.equal(mergeModuleList(undefined, ["vmw_pvscsi", "raid1 opt=1", "vmw-pvscsi"]), "vmw_pvscsi\nraid1 opt=1\n");
  assert.equal(mergeModuleList("raid1\nsd-mod", ["sd_mod", "vmxnet3"]), "raid1\nsd-mod\nvmxnet3\n");
  assert.equal(mergeModuleList("vmxnet3\n", ["vmxnet3"]), undefined);
});

test("resolveInImage: follows the image's links (merged /usr), relative and absolute, and gives up on a loop", () => {
  const links = new Map([
    ["lib", "usr/lib"],
    ["usr/lib/udev/hwdb", "/etc/udev/hwdb"],
    ["a", "b"],
    ["b", "a"],
  ]);
  assert.equal(resolveInImage({ links }, "lib/udev/rules.d/70-persistent-net.rules"), "usr/lib/udev/rules.d/70-persistent-net.rules");
  assert.equal(resolveInImage({ links }, "/lib/udev/hwdb/x"), "etc/udev/hwdb/x");
  assert.equal(resolveInImage({ links }, "./conf/../conf/modules"), "conf/modules");
  assert.equal(resolveInImage({ links }, "a/x"), undefined);
});

const MERGED: NewcFile[] = [
  { name: ".", mode: DIR },
  { name: "usr", mode: DIR },
  { name: "usr/lib", mode: DIR },
  { name: "lib", mode: LINK, data: "usr/lib" },
  { name: "usr/lib/udev", mode: DIR },
  { name: "usr/lib/udev/rules.d", mode: DIR },
  { name: "usr/lib/systemd", mode: DIR },
  { name: "usr/lib/systemd/network", mode: DIR },
  { name: "etc", mode: DIR },
  { name: "etc/modprobe.d", mode: DIR },
];

async function image(files: NewcFile[]) {
  return readInitramfs(gzipSync(writeNewc([...MERGED, ...files])), () => true);
}

test("itoolsCopies: where initramfs-tools' hooks put the guest's files, and what a rebuild would change", async () => {
  const pins = pinRules([{ index: 0, sourceMac: "52:54:00:00:00:01", targetMac: "00:50:56:00:00:01", targetName: "eth0", sourceName: "ens3", foundBy: "mac", configured: true, newName: "eth0" }]).join("\n") + "\n";
  const ctx = await context({
    "etc/udev/rules.d/70-persistent-net.rules": pins,
    // shadowed by the package rule of the same name: the hook does not copy it
    "etc/udev/rules.d/60-block.rules": "# admin's own\n",
    "lib/udev/rules.d/60-block.rules": "# package, new\n",
    "lib/udev/rules.d/80-drivers.rules": "# package\n",
    "lib/systemd/network/99-default.link": "[Link]\nNamePolicy=kernel\n",
    "etc/systemd/network/99-default.link": "[Link]\nNamePolicy=keep\n",
    "etc/modprobe.d/local.conf": "options x y=1\n",
  });
  try {
    const img = await image([
      { name: "usr/lib/udev/rules.d/60-block.rules", data: "# package, old\n" },
      { name: "usr/lib/udev/rules.d/80-drivers.rules", data: "# package\n" },
      { name: "usr/lib/systemd/network/99-default.link", data: "[Link]\nNamePolicy=kernel\n" },
      { name: "etc/modprobe.d/local.conf", data: "options x y=1\n" },
    ]);
    const c = await itoolsCopies(ctx.view, img);
    assert.equal(c.blocker, undefined);
    assert.deepEqual([...c.put.keys()].sort(), ["usr/lib/systemd/network/99-default.link", "usr/lib/udev/rules.d/60-block.rules", "usr/lib/udev/rules.d/70-persistent-net.rules"]);
    assert.equal(c.put.get("usr/lib/systemd/network/99-default.link")!.toString(), "[Link]\nNamePolicy=keep\n", "/etc's .link replaces /lib's");
    assert.equal(c.put.get("usr/lib/udev/rules.d/60-block.rules")!.toString(), "# package, new\n", "a package rule the image holds is refreshed, the shadowed /etc rule is not copied");
    assert.match((await staleItoolsCopies(ctx.view, img))!, /^its usr\/lib\/systemd\/network\/99-default\.link, usr\/lib\/udev\/rules\.d\/60-block\.rules are not the guest's current files$/, "the pins of one NIC may come later");

    const gone = await image([{ name: "usr/lib/udev/rules.d/70-old-names.rules", data: "# source's\n" }, { name: "etc/modprobe.d/gone.conf", data: "blacklist vmw_pvscsi\n" }]);
    assert.equal((await itoolsCopies(ctx.view, gone)).blocker, "its etc/modprobe.d/gone.conf, usr/lib/udev/rules.d/70-old-names.rules have no source in the guest any more");
  } finally {
    ctx.cleanup();
  }
});

test("staleItoolsCopies: several NICs need their pins in the image, under lib/udev/rules.d", async () => {
  const nic = (i: number) => ({ index: i, sourceMac: `52:54:00:00:00:0${i}`, targetMac: `00:50:56:00:00:0${i}`, targetName: `eth${i}`, sourceName: `ens${i + 3}`, foundBy: "mac" as const, configured: true, newName: `eth${i}` });
  const pins = pinRules([nic(0), nic(1)]).join("\n") + "\n";
  const ctx = await context({ "etc/udev/rules.d/70-persistent-net.rules": pins });
  try {
    assert.equal(await staleItoolsCopies(ctx.view, await image([])), "its usr/lib/udev/rules.d/70-persistent-net.rules is not the guest's current file");
    assert.equal(await staleItoolsCopies(ctx.view, await image([{ name: "usr/lib/udev/rules.d/70-persistent-net.rules", data: pins }])), undefined);
  } finally {
    ctx.cleanup();
  }
});

test("appendArchive: the image stays byte for byte, the archive follows at a 4-byte boundary and wins", async () => {
  const first = gzipSync(writeNewc([{ name: "conf", mode: DIR }, { name: "conf/modules", data: "a\n" }]));
  // an image whose length is not a multiple of 4 (zero bytes after an archive are allowed)
  const odd = Buffer.concat([first, Buffer.alloc((5 - (first.length % 4)) % 4)]);
  assert.equal(odd.length % 4, 1);
  const out = appendArchive(odd, [{ name: "conf/modules", data: "a\nb\n" }], 1_700_000_000);
  assert.ok(out.subarray(0, odd.length).equals(odd));
  const at = odd.length + ((4 - (odd.length % 4)) % 4);
  assert.ok(at > odd.length && out.subarray(odd.length, at).every((b) => b === 0), "zero padding");
  assert.deepEqual([out[at], out[at + 1]], [0x1f, 0x8b], "the gzip member starts on the boundary");
  const img = await readInitramfs(out, () => true);
  assert.equal(img.segments.length, 2);
  assert.equal(img.files.get("conf/modules")!.toString(), "a\nb\n");
});

/** A guest whose image lacks vmw_pvscsi, for the cases where nothing may be appended. */
async function guestWith(imageFiles: NewcFile[], extra: Record<string, string | Buffer> = {}, guestModule = "kernel/drivers/scsi/vmw_pvscsi.ko") {
  const md = `usr/lib/modules/${V}`;
  return context({
    "etc/os-release": 'ID=debian\nVERSION_ID="12"\n',
    "etc/fstab": "UUID=0c3a2f6e-1111-2222-3333-444455556666 / ext4 errors=remount-ro 0 1\n",
    [`lib/modules/${V}/modules.dep`]: `${guestModule}:\nkernel/fs/ext4/ext4.ko:\n`,
    [`lib/modules/${V}/${guestModule}`]: "\x7fELF not a real module\n",
    [`boot/initrd.img-${V}`]: gzipSync(
      writeNewc([...MERGED, { name: "usr/lib/modules", mode: DIR }, { name: md, mode: DIR }, { name: `${md}/kernel/fs/ext4/ext4.ko`, data: "\x7fELF" }, { name: `${md}/modules.dep`, data: "kernel/fs/ext4/ext4.ko:\n" }, ...imageFiles]),
    ),
    ...extra,
  });
}

test("appendVerdict: a stale reference, an unreadable image, a compressed module the kernel cannot load, a removed copy: rebuilt, saying why", async () => {
  const req = { version: V, image: `/boot/initrd.img-${V}`, modules: ["vmw_pvscsi", "ext4"], listed: ["vmw_pvscsi"] };
  const cases: [Awaited<ReturnType<typeof guestWith>>, RegExp][] = [
    [await guestWith([{ name: "conf/conf.d", mode: DIR }, { name: "conf/conf.d/resume", data: "RESUME=/dev/vda2\n" }]), /^conf\/conf\.d\/resume RESUME=: \/dev\/vda2 is a kernel device name/],
    [await guestWith([], { [`boot/initrd.img-${V}`]: "fake\n" }), /^it cannot be read/],
    [await guestWith([], {}, "kernel/drivers/scsi/vmw_pvscsi.ko.xz"), /^its kernel cannot load the compressed vmw_pvscsi by itself \(no CONFIG_MODULE_DECOMPRESS=y in \/boot\/config-6\.1\.0-27-amd64\)$/],
    [await guestWith([{ name: "usr/lib/udev/rules.d/70-old.rules", data: "# gone\n" }]), /^its usr\/lib\/udev\/rules\.d\/70-old\.rules has no source in the guest any more$/],
  ];
  for (const [ctx, why] of cases) {
    try {
      const v = await appendVerdict(ctx, req);
      assert.equal(v.append, false);
      assert.match(v.append ? "" : v.why, why);
    } finally {
      ctx.cleanup();
    }
  }
});

test("appendVerdict: an image that lacks nothing is not appended to", async () => {
  const ctx = await guestWith([{ name: "conf/modules", data: "ext4\n" }]);
  try {
    assert.deepEqual(await appendVerdict(ctx, { version: V, image: `/boot/initrd.img-${V}`, modules: ["ext4"], listed: ["ext4"] }), { append: false, why: "it lacks nothing that adding files can give it" });
  } finally {
    ctx.cleanup();
  }
});

// depmod takes any file for a module (these are not ELF objects): the layout of the archive is
// checked here, module resolution on a real kernel's modules in the integration test
test("appendVerdict: the missing module and its dependency, depmod's indexes, conf/modules and the pins follow the image", { skip: !hasDepmod() && "no depmod on this machine (kmod)" }, async () => {
  const pins = pinRules([{ index: 0, sourceMac: "52:54:00:00:00:01", targetMac: "00:50:56:00:00:01", targetName: "eth0", sourceName: "ens3", foundBy: "mac", configured: true, newName: "eth0" }]).join("\n") + "\n";
  const ctx = await guestWith([], {
    [`lib/modules/${V}/modules.dep`]: "kernel/drivers/scsi/vmw_pvscsi.ko: kernel/drivers/scsi/scsi_mod.ko\nkernel/drivers/scsi/scsi_mod.ko:\nkernel/fs/ext4/ext4.ko:\n",
    [`lib/modules/${V}/kernel/drivers/scsi/scsi_mod.ko`]: "\x7fELF scsi_mod\n",
    "etc/udev/rules.d/70-persistent-net.rules": pins,
  });
  try {
    const before = (await ctx.view.readBytes(`/boot/initrd.img-${V}`))!;
    const v = await appendVerdict(ctx, { version: V, image: `/boot/initrd.img-${V}`, modules: ["vmw_pvscsi", "ext4"], listed: ["vmw_pvscsi", "ext4"] });
    assert.equal(v.append, true, v.append ? "" : v.why);
    if (!v.append) return;
    assert.ok(v.content.subarray(0, before.length).equals(before), "the image itself is untouched");
    const after = await readInitramfs(v.content, () => true);
    const md = `usr/lib/modules/${V}`;
    assert.equal(after.entries.get(`${md}/kernel/drivers/scsi`)?.kind, "dir", "the new module's directory is made");
    assert.equal(after.entries.get("lib")?.kind, "symlink", "merged /usr stays merged: nothing is written through lib/");
    assert.equal(after.files.get(`${md}/kernel/drivers/scsi/scsi_mod.ko`)?.toString(), "\x7fELF scsi_mod\n");
    assert.deepEqual(after.files.get(`${md}/modules.dep`)!.toString().split("\n").filter(Boolean).sort(), ["kernel/drivers/scsi/scsi_mod.ko:", "kernel/drivers/scsi/vmw_pvscsi.ko:", "kernel/fs/ext4/ext4.ko:"]);
    assert.ok(after.files.has(`${md}/modules.dep.bin`) && after.files.has(`${md}/modules.alias.bin`), "depmod's binary indexes");
    assert.equal(after.files.get("conf/modules")?.toString(), "vmw_pvscsi\next4\n");
    assert.equal(after.files.get("usr/lib/udev/rules.d/70-persistent-net.rules")?.toString(), pins);
    assert.match(v.note, /^\/boot\/initrd\.img-6\.1\.0-27-amd64 completed by one more archive instead of a rebuild: 2 module\(s\) \(scsi_mod, vmw_pvscsi\) with module indexes regenerated for the union; the guest's current usr\/lib\/udev\/rules\.d\/70-persistent-net\.rules; conf\/modules with the listed drivers \(\d+ bytes added\)$/);
  } finally {
    ctx.cleanup();
  }
});

// device-refs rewrites /etc/initramfs-tools/conf.d/resume from the source's kernel name: the
// image's copy goes with the archive instead of forcing a rebuild; a hook's own file with a
// stale name (no source in the guest) still does
test("appendVerdict: a stale resume device in a conf.d copy the guest has corrected is replaced; a hook's own stale file is not", { skip: !hasDepmod() && "no depmod on this machine (kmod)" }, async () => {
  const uuid = "0c3a2f6e-1111-2222-3333-444455556666";
  const confd: NewcFile[] = [{ name: "conf/conf.d", mode: DIR }, { name: "conf/conf.d/resume", data: "RESUME=/dev/vda2\n" }];
  const req = { version: V, image: `/boot/initrd.img-${V}`, modules: ["vmw_pvscsi", "ext4"], listed: [] };
  const fixed = await guestWith(confd, { "etc/initramfs-tools/conf.d/resume": `RESUME=UUID=${uuid}\n` });
  try {
    const v = await appendVerdict(fixed, req);
    assert.equal(v.append, true, v.append ? "" : v.why);
    if (v.append) assert.equal((await readInitramfs(v.content, () => true)).files.get("conf/conf.d/resume")?.toString(), `RESUME=UUID=${uuid}\n`);
  } finally {
    fixed.cleanup();
  }
  const hook = await guestWith([{ name: "conf/conf.d", mode: DIR }, { name: "conf/conf.d/zz-resume-auto", data: "RESUME=/dev/vda2\n" }]);
  try {
    assert.deepEqual(await appendVerdict(hook, req), { append: false, why: "conf/conf.d/zz-resume-auto RESUME=: /dev/vda2 is a kernel device name, which changes on the target's controller" });
  } finally {
    hook.cleanup();
  }
});

function hasDepmod(): boolean {
  return spawnSync("depmod", ["--version"]).status === 0;
}
