// Real initramfs images, as the test images' kernel packages built them (under
// /var/cache/osam-fixup/images/<variant>-<hash>/rootfs/boot): each reads all the way through
// (zstd after an uncompressed microcode prefix on Debian 12), lists its modules.dep, and a
// generic (MODULES=most) one is judged to hold every VMware target driver. Skipped, saying
// so, on a machine where no test image has been built yet (npm run images builds them).
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { judgeImage, readInitramfs } from "../../../src/initrd/image.ts";
import { requiredModules } from "../../../src/initrd/drivers.ts";

const CACHE = "/var/cache/osam-fixup/images";
const images: { variant: string; path: string; version: string }[] = [];
for (const d of existsSync(CACHE) ? readdirSync(CACHE) : []) {
  const boot = join(CACHE, d, "rootfs/boot");
  // meta.json is written last: a tree without it is still being built
  if (!existsSync(boot) || !existsSync(join(CACHE, d, "meta.json"))) continue;
  for (const f of readdirSync(boot)) {
    const m = /^initrd\.img-(.+?)(\.new|\.dpkg-bak)?$/.exec(f);
    if (m?.[2]) continue;
    if (m) images.push({ variant: d.replace(/-[0-9a-f]{8,}$/, ""), path: join(boot, f), version: m[1]! });
  }
}

test("real Debian initramfs images read all the way through", { skip: !images.length && `no test image under ${CACHE} (npm run images)` }, async () => {
  for (const i of images) {
    const t0 = Date.now();
    const img = await readInitramfs(readFileSync(i.path), (n) => n.endsWith("/modules.dep") || n.endsWith("/modules.builtin"));
    const ms = Date.now() - t0;
    const dep = [`usr/lib/modules/${i.version}/modules.dep`, `lib/modules/${i.version}/modules.dep`].find((p) => img.files.has(p));
    assert.ok(dep, `${i.path}: no modules.dep for ${i.version} (segments ${JSON.stringify(img.segments)})`);
    process.stderr.write(`${i.variant}: ${i.path}: ${img.entries.size} entries in ${img.segments.map((s) => s.compression).join("+")}, read in ${ms} ms\n`);
    if (i.variant === "deb12-generic") {
      const v = judgeImage(img, i.version, requiredModules({ fsType: "ext4", lvm: false, md: false, crypt: false }), new Set());
      assert.equal(v.keep, true, `${i.path}: ${v.why}`);
    }
  }
});
