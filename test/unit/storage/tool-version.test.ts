// Options chosen by the guest tool's version (issue 12, kind 6): the version is read from the
// guest's files, never by running the tool; RHEL 6's dracut 004 has no --no-hostonly.
import { test } from "node:test";
import assert from "node:assert/strict";
import { planInitrd, DRACUT_TEMP_CONF } from "../../../src/initrd/plan.ts";
import { dpkgVersion, dracutFlags, toolVersion } from "../../../src/initrd/tool-version.ts";
import { context } from "./ctx.ts";

const K = "2.6.32-754.el6.x86_64";
const DEP = ["vmw_pvscsi", "ahci", "sd_mod", "sr_mod", "vmxnet3", "e1000e", "ext4"].map((m) => `kernel/${m}.ko:`).join("\n") + "\n";
const RHEL6 = {
  "etc/redhat-release": "Red Hat Enterprise Linux Server release 6.10 (Santiago)\n",
  "etc/fstab": "UUID=5d1f0c3e-8a2b-4c6d-9e7f-1a2b3c4d5e6f / ext4 defaults 1 1\n",
  "sbin/dracut": "",
  [`boot/vmlinuz-${K}`]: "",
  [`lib/modules/${K}/modules.dep`]: DEP,
};

test("the version from dracut-version.sh, dpkg's status file, or an rpm guest's /usr/share/doc/<name>-<version>", async () => {
  const cases: [Record<string, string>, string | undefined, string | undefined][] = [
    [{ "usr/lib/dracut/dracut-version.sh": "DRACUT_VERSION=049-95.git20200804.el8\n" }, "049", "/usr/lib/dracut/dracut-version.sh"],
    [{ "usr/share/dracut/dracut-version.sh": 'DRACUT_VERSION="013"\n' }, "013", "/usr/share/dracut/dracut-version.sh"],
    [{ "usr/share/doc/dracut-004/README": "x", "usr/share/doc/dracut-network-004/README": "x" }, "004", "/usr/share/doc/dracut-004"],
    [{ "var/lib/dpkg/status": "Package: dracut\nStatus: install ok installed\nVersion: 1:051-1\n\nPackage: dracut-core\nStatus: install ok installed\nVersion: 051-1\n" }, "051", "/var/lib/dpkg/status"],
    [{ "etc/hostname": "x\n" }, undefined, undefined],
  ];
  for (const [files, version, from] of cases) {
    const ctx = await context(files);
    try {
      assert.deepEqual(await toolVersion(ctx.view, "dracut"), version === undefined ? {} : { version, from });
    } finally {
      ctx.cleanup();
    }
  }
  assert.equal(dpkgVersion("Package: initramfs-tools\nStatus: deinstall ok config-files\nVersion: 0.130\n", "initramfs-tools"), undefined);
  assert.equal(dpkgVersion("Package: initramfs-tools\nStatus: install ok installed\nVersion: 0.140ubuntu13.4\n", "initramfs-tools"), "0.140ubuntu13.4");
});

test("version -> options in one place: --no-hostonly from 018 on, and for an unknown version with a note", () => {
  assert.deepEqual(dracutFlags({ version: "004", from: "/usr/share/doc/dracut-004" }).generic, undefined);
  assert.match(dracutFlags({ version: "017", from: "x" }).note!, /predates --no-hostonly \(dracut 018\)/);
  assert.deepEqual(dracutFlags({ version: "018", from: "x" }), { generic: "--no-hostonly", hostonly: "--hostonly" });
  assert.equal(dracutFlags({}).generic, "--no-hostonly");
  assert.match(dracutFlags({}).note!, /not written in the guest/);
});

test("RHEL 6 dracut 004: no --no-hostonly; hostonly=yes in its config is overridden for the build only", async () => {
  for (const hostonly of [false, true]) {
    const ctx = await context({ ...RHEL6, "usr/share/doc/dracut-004/README": "dracut\n", ...(hostonly ? { "etc/dracut.conf": 'hostonly="yes"\n' } : {}) });
    try {
      const p = await planInitrd(ctx);
      const exec = p.changes.find((c) => c.action === "exec");
      assert.ok(exec?.action === "exec");
      assert.deepEqual(exec.argv, ["dracut", "--force", "--add-drivers", "vmw_pvscsi ahci sd_mod sr_mod vmxnet3 e1000e ext4", `/boot/initramfs-${K}.img`, K]);
      const temp = p.changes.filter((c) => c.action !== "exec" && c.path === DRACUT_TEMP_CONF).map((c) => c.action);
      assert.deepEqual(temp, hostonly ? ["write", "remove"] : []);
      if (hostonly) assert.ok(p.changes.indexOf(exec) > p.changes.findIndex((c) => c.action === "write" && c.path === DRACUT_TEMP_CONF));
      assert.ok(p.notes?.some((n) => /dracut 004 .*predates --no-hostonly/.test(n)), String(p.notes));
    } finally {
      ctx.cleanup();
    }
  }
});
