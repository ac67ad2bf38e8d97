// The Ubuntu profile: Debian plus what Ubuntu changes (lsb-release, its EFI directory, netplan).
import { test } from "node:test";
import assert from "node:assert/strict";
import { debian } from "../../../src/distros/debian.ts";
import { pickProfile } from "../../../src/distros/index.ts";
import { parseLsbRelease, ubuntu } from "../../../src/distros/ubuntu.ts";
import { releaseFileTests } from "./check.ts";

releaseFileTests("ubuntu", ubuntu);

test("ubuntu: the family value stays debian; image names and SysV layout are Debian's", () => {
  assert.equal(ubuntu.family, "debian");
  assert.equal(ubuntu.initramfs, debian.initramfs);
  assert.equal(ubuntu.sysv, debian.sysv);
  assert.equal(ubuntu.packageFormat, "deb");
});

test("ubuntu: what Ubuntu changes", () => {
  assert.deepEqual(ubuntu.efiVendors("ubuntu"), ["ubuntu"]);
  assert.deepEqual(ubuntu.efiVendors("linuxmint"), []);
  assert.ok(ubuntu.networkSystems.includes("netplan"));
  assert.ok(!debian.networkSystems.includes("netplan"));
  assert.equal(pickProfile("pop", "ubuntu debian"), ubuntu);
  assert.equal(pickProfile("elementary", "ubuntu debian"), ubuntu, "ID_LIKE in order: ubuntu before debian");
});

test("ubuntu: an lsb-release without DISTRIB_ID says nothing", () => {
  assert.equal(parseLsbRelease('LSB_VERSION="core-4.1-amd64:core-4.1-noarch"\n'), undefined);
});
