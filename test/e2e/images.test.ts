// The test images themselves: each tree is configured as on KVM (the facts the fixups must
// change are really there), and withOverlay gives a writable copy that leaves the tree alone.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ensureRootfs, imageMeta, sourceAddresses, withOverlay } from "../helpers/images.ts";
import { selectedVariants } from "./variants.ts";

for (const variant of selectedVariants()) {
  test(`test image ${variant}: the tree is configured as on KVM`, { timeout: 60 * 60_000 }, async () => {
    const root = await ensureRootfs(variant);
    const meta = await imageMeta(variant);
    const fstab = readFileSync(join(root, "etc/fstab"), "utf8");
    if (meta.layout === "lvm") {
      assert.match(fstab, /^\/dev\/mapper\/guestvg-root\s+\/\s/m);
      assert.match(fstab, /^\/dev\/vda1\s+\/boot\s/m);
    } else if (meta.layout === "md") {
      // the array by its KVM-era name, and an mdadm.conf that only finds it on virtio disks
      assert.match(fstab, /^\/dev\/md0\s+\/\s/m);
      const mdadm = readFileSync(join(root, "etc/mdadm/mdadm.conf"), "utf8");
      assert.match(mdadm, /^DEVICE \/dev\/vd\*$/m);
      assert.match(mdadm, /^ARRAY \/dev\/md0 .*devices=\/dev\/vda1,\/dev\/vdb1$/m);
    } else {
      assert.match(fstab, new RegExp(`^/dev/vda${meta.boot === "uefi" ? 2 : 1}\\s+/\\s+${meta.rootfsType}\\s`, "m"));
    }
    assert.match(readFileSync(join(root, "etc/default/grub"), "utf8"), /^GRUB_DISABLE_LINUX_UUID=true$/m);
    if (meta.initrd === "dracut") assert.match(readFileSync(join(root, "etc/dracut.conf.d/90-hostonly.conf"), "utf8"), /hostonly="yes"/);
    else assert.match(readFileSync(join(root, "etc/initramfs-tools/initramfs.conf"), "utf8"), /^MODULES=dep$/m);
    const netplan = join(root, "etc/netplan");
    const net = meta.net === "netplan" ? readdirSync(netplan).filter((f) => f.endsWith(".yaml")).map((f) => readFileSync(join(netplan, f), "utf8")).join("\n") : readFileSync(join(root, "etc/network/interfaces"), "utf8");
    for (const n of meta.nics) assert.ok(net.includes(n.name), `${n.name} in the network config`);
    for (const a of sourceAddresses(meta)) assert.ok(net.includes(a.on) && net.includes(a.ipv4), `${a.ipv4} on ${a.on} in the network config`);
    // the link is absolute (inside the guest), so look at the link itself
    assert.equal(readlinkSync(join(root, "etc/systemd/system/multi-user.target.wants/e2e-marker.service")), "/etc/systemd/system/e2e-marker.service");
    assert.ok(existsSync(join(root, `boot/vmlinuz-${meta.kernel}`)));
  });
}

test("withOverlay: writes land in a throw-away copy", { timeout: 60 * 60_000 }, async () => {
  const root = await ensureRootfs("deb12-itools");
  const before = readFileSync(join(root, "etc/fstab"), "utf8");
  let merged = "";
  await withOverlay(root, async (r) => {
    merged = r;
    writeFileSync(join(r, "etc/fstab"), "changed\n");
    writeFileSync(join(r, "etc/e2e-overlay-test"), "x");
    assert.equal(readFileSync(join(r, "etc/fstab"), "utf8"), "changed\n");
  });
  assert.equal(readFileSync(join(root, "etc/fstab"), "utf8"), before);
  assert.ok(!existsSync(join(root, "etc/e2e-overlay-test")));
  assert.ok(!existsSync(merged), "the overlay directory is removed");
});
