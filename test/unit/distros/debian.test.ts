// The Debian profile, and the rule that the guest's files decide about what exists: a Debian
// guest that builds its initramfs with dracut keeps doing so.
import { test } from "node:test";
import assert from "node:assert/strict";
import { debian } from "../../../src/distros/debian.ts";
import { PACKAGE_TOOLS_ENV } from "../../../src/distros/index.ts";
import { imagePathFor } from "../../../src/initrd/plan.ts";
import { context } from "../storage/ctx.ts";
import { releaseFileTests } from "./check.ts";
import { samplesOf } from "./samples.ts";

releaseFileTests("debian", debian);

test("debian: initrd.img-<v> whichever tool builds it; mkinitrd is the classic one", () => {
  assert.equal(debian.initramfs.imagePath("initramfs-tools", "6.1.0-25-amd64"), "/boot/initrd.img-6.1.0-25-amd64");
  assert.equal(debian.initramfs.imagePath("dracut", "6.1.0-25-amd64"), "/boot/initrd.img-6.1.0-25-amd64");
  assert.equal(debian.initramfs.imagePath("mkinitrd", "2.6.32-5-amd64"), "/boot/initrd-2.6.32-5-amd64.img");
  assert.deepEqual(debian.efiVendors("debian"), ["debian"]);
  assert.equal(debian.sysv.rcDir(2), "/etc/rc2.d");
  assert.equal(debian.packageFormat, "deb");
  assert.equal(PACKAGE_TOOLS_ENV.DEBIAN_FRONTEND, "noninteractive");
});

test("debian: a guest with dracut installed (and initramfs-tools leftovers) builds with dracut, under Debian's image name", async () => {
  const s = samplesOf("debian").find((x) => x.name.startsWith("Debian 12"))!;
  const ctx = await context({
    "etc/os-release": s.files["/usr/lib/os-release"]!,
    "usr/bin/dracut": "#!/bin/sh\n",
    "usr/sbin/update-initramfs": "#!/bin/sh\n",
    "etc/initramfs-tools/initramfs.conf": "MODULES=most\n",
    "boot/vmlinuz-6.1.0-25-amd64": "",
    "lib/modules/6.1.0-25-amd64/modules.dep": "",
  });
  try {
    assert.equal(ctx.info.profile, debian);
    assert.equal(ctx.info.initrdTool, "dracut");
    assert.equal(imagePathFor(ctx, ctx.info.kernels[0]!), "/boot/initrd.img-6.1.0-25-amd64");
  } finally {
    ctx.cleanup();
  }
});
