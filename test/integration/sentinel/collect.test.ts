// The collect script run inside the Debian images (bullseye, bookworm, trixie userlands:
// their lsblk, blkid, ip, dash, and busybox sh), its output validated against the source
// schema by the same code as `osam-fixup collect`. Needs root and the images (built on first
// use by the images helper).
import { test } from "node:test";
import assert from "node:assert/strict";
import { runCollect } from "../../../src/cli/commands/collect.ts";
import { ensureRootfs, imageMeta, withOverlay, type Variant } from "../../helpers/images.ts";
import { GUEST_BUSYBOX, addBusybox, needRoot, withChrootBinds } from "./harness.ts";

const MAJOR = { bullseye: "11", bookworm: "12", trixie: "13" } as const;
const VARIANTS: Variant[] = ["deb11-itools", "deb12-itools", "deb13-itools"];

for (const variant of VARIANTS) {
  test(`collect in ${variant} (dash and busybox sh) validates against the source schema`, async () => {
    needRoot("collect in a chroot image");
    const rootfs = await ensureRootfs(variant);
    const meta = await imageMeta(variant);
    await withOverlay(rootfs, async (root) => {
      await addBusybox(root);
      await withChrootBinds(root, async () => {
        for (const shell of [["/bin/sh"], [GUEST_BUSYBOX, "sh"]]) {
          const { source, stderr } = await runCollect({ chroot: root, shell });
          const what = `${variant} ${shell.join(" ")}`;
          assert.equal(source.os?.id, "debian", what);
          assert.equal(source.os?.version.split(".")[0], MAJOR[meta.suite], what);
          assert.ok(["bios", "uefi"].includes(source.firmware), what);
          assert.ok((source.blockDevices ?? []).every((d) => d.device.startsWith("/dev/")), what);
          assert.equal(stderr.trim(), "", `${what}: the script complained`);
        }
      });
    });
  });
}
