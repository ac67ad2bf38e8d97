// The generic profile knows nothing: no IDs, no release files, no EFI directory; the tools'
// own image names and the LSB SysV layout.
import { test } from "node:test";
import assert from "node:assert/strict";
import { generic } from "../../../src/distros/generic.ts";
import { pickProfile, PROFILES, RELEASE_FILES } from "../../../src/distros/index.ts";
import { releaseFileTests } from "./check.ts";

releaseFileTests("generic", generic);

test("generic: claims nothing and names no distribution's directories", () => {
  assert.equal(pickProfile("arch"), generic);
  assert.equal(pickProfile("", ""), generic);
  assert.equal(generic.family, "unknown");
  assert.deepEqual([generic.ids, generic.releaseFiles, generic.allEfiVendors, generic.networkSystems], [[], [], [], []]);
  assert.deepEqual(generic.efiVendors("arch"), []);
  assert.equal(generic.packageFormat, "unknown");
  assert.equal(generic.initramfs.imagePath("dracut", "6.9"), "/boot/initramfs-6.9.img");
  assert.equal(generic.initramfs.imagePath("initramfs-tools", "6.9"), "/boot/initrd.img-6.9");
  assert.equal(generic.sysv.rcDir(5), "/etc/rc5.d");
});

test("profiles: no ID is claimed twice; the release files are read in one fixed order", () => {
  const ids = PROFILES.flatMap((p) => p.ids);
  assert.equal(new Set(ids).size, ids.length);
  for (const p of PROFILES) for (const id of p.ids) assert.equal(pickProfile(id), p, id);
  assert.deepEqual(
    RELEASE_FILES.map((f) => f.path),
    ["/etc/os-release", "/usr/lib/os-release", "/etc/redhat-release", "/etc/SuSE-release", "/etc/lsb-release", "/etc/debian_version"],
  );
});
