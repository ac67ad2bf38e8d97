// The verified first boot from stage 1 to the verification's result, in a chroot of a golden
// guest (RHEL 8-style systemd, busybox userland): stage 1's stage-2 steps (the verification
// included), then the real sentinel (stage 2, tools from a tarball), then the installed
// verification with its test hooks pointed at a fake booted guest (test/helpers/verify-guest.ts)
// standing for the boot after stage 2. It shows that stage 2 leaves the verification in place,
// that the verification removes what it owns and keeps its result and log, that the result
// validates against the schema and is printed between the markers, and that a source NIC left
// out of the map ends "not verified", naming it. Needs root (chroot).
import { test } from "node:test";
import assert from "node:assert/strict";
import { execa } from "execa";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { VERIFY_UNIT_PATH, VERIFY_WANTS } from "../../../src/fixups/verify.ts";
import { parseVerifyBlocks } from "../../../src/manager/verify.ts";
import type { Inputs } from "../../../src/protocol/inputs.ts";
import { VERIFY_LOG, VERIFY_SCRIPT, stage2Path, verifyPath } from "../../../src/protocol/files.ts";
import { Verification } from "../../../src/protocol/schemas.ts";
import { removeTree } from "../../helpers/tree.ts";
import { fakeGuestEnv, healthyGuest, writeFakeGuest } from "../../helpers/verify-guest.ts";
import { GUEST_BUSYBOX, GUEST_DASH, addDash, assertStage2Done, goldenGuest, present, runSentinel, tarballMedia, withChrootBinds } from "./harness.ts";

const ROOT_UUID = "7d2c1f3a-5e6b-4c8d-9a0e-1f2b3c4d5e6f";
const FAKE = "/osam-fake-boot";
const VERIFY_CONSOLE = "/osam-test-verify-console";

/** The source as collect saw it: ens3 (mapped to eth0) and ens4, which `withEns4Mapped` decides. */
function sourceOf(withEns4Mapped: boolean): (inputs: Inputs) => void {
  return (inputs) => {
    inputs.system.source = {
      ...inputs.system.source,
      blockDevices: [{ device: "/dev/mapper/rl-root", uuid: ROOT_UUID, fsType: "xfs", mountpoint: "/" }],
      interfaces: [
        { name: "ens3", mac: "52:54:00:00:00:03", kind: "physical", addresses: ["10.0.2.15/24"], gateway: "10.0.2.2" },
        { name: "ens4", mac: "52:54:00:00:00:04", kind: "physical", addresses: ["192.168.7.5/24"] },
      ],
      nameservers: ["10.0.2.3"],
    };
    inputs.network = {
      interfaces: [
        { sourceMac: "52:54:00:00:00:03", sourceName: "ens3", targetMac: "00:50:56:00:00:01", targetName: "eth0" },
        ...(withEns4Mapped ? [{ sourceMac: "52:54:00:00:00:04", sourceName: "ens4", targetMac: "00:50:56:00:00:02", targetName: "eth1" }] : []),
      ],
    };
  };
}

const g = (root: string, p: string) => join(root, p.replace(/^\//, ""));

for (const [shellName, shell, ens4Mapped] of [
  ["dash", GUEST_DASH, false],
  ["busybox sh", `${GUEST_BUSYBOX} sh`, true],
] as const) {
  test(`rhel8-systemd, ${shellName}: stage 1, stage 2, then the first-boot verification; ens4 ${ens4Mapped ? "mapped: verified" : "left out of the map: not verified, named"}`, async () => {
    const root = await goldenGuest("rhel8-systemd", {}, sourceOf(ens4Mapped));
    try {
      await addDash(root);
      const owned = readFileSync(g(root, verifyPath("manifest")), "utf8").split("\n").filter((l) => l.startsWith("/") && !l.endsWith("/"));
      assert.deepEqual(owned.slice(-2), [verifyPath("expect"), VERIFY_SCRIPT]);
      for (const p of [...VERIFY_WANTS, VERIFY_UNIT_PATH]) assert.ok(owned.includes(p), p);

      // stage 2: the sentinel installs the tools, restores, removes its own files, "powers off"
      const media = await tarballMedia(root);
      const s2 = await runSentinel(root, shell.split(" "), { OSAM_TOOLS_SOURCE: media });
      assert.equal(s2.exitCode, 0, s2.output);
      await assertStage2Done(root, shellName);
      for (const p of [...owned, verifyPath("manifest")]) assert.ok(present(root, p), `stage 2 removed ${p}, which belongs to the verification`);

      // the next boot: the guest as the verification would find it on VMware
      const fake = healthyGuest();
      fake.rootUuid = ROOT_UUID;
      fake.nics = { eth0: "00:50:56:00:00:01", ...(ens4Mapped ? { eth1: "00:50:56:00:00:02" } : {}) };
      fake.addresses = { eth0: ["10.0.2.15/24"], ...(ens4Mapped ? { eth1: ["192.168.7.5/24"] } : {}) };
      const dirs = await writeFakeGuest(g(root, FAKE), fake);
      const inGuest = (p: string) => join(FAKE, p.slice(g(root, FAKE).length));
      const r = await withChrootBinds(root, () =>
        execa("chroot", [root, ...shell.split(" "), VERIFY_SCRIPT], {
          reject: false,
          all: true,
          stdin: "ignore",
          extendEnv: false,
          timeout: 120_000,
          env: fakeGuestEnv({ root: inGuest(dirs.root), bin: inGuest(dirs.bin), state: inGuest(dirs.state) }, { HOME: "/root", OSAM_CONSOLE: VERIFY_CONSOLE }),
        }),
      );
      assert.equal(r.exitCode, 0, String(r.all));

      const v = Verification.parse(JSON.parse(readFileSync(g(root, verifyPath("result")), "utf8")));
      const failed = v.checks.filter((c) => c.status === "failed").map((c) => `${c.check}:${c.code}:${c.subject}`);
      if (ens4Mapped) {
        assert.deepEqual(failed, [], v.summary);
        assert.equal(v.verified, true);
        assert.equal(v.summary, "verified");
      } else {
        assert.deepEqual(failed, ["address:NIC_NOT_MIGRATED:ens4"], String(r.all));
        assert.equal(v.verified, false);
        assert.equal(v.summary, "not verified: ens4 (192.168.7.5/24 on the source) has no NIC on the target");
      }
      assert.deepEqual(v.checks.filter((c) => c.status === "ok").map((c) => c.check).filter((c, i, a) => a.indexOf(c) === i), ["root", "root-driver", "nic", "address", "default-route", "dns", "target", "failed-units", "tools"], "every check had something to compare");
      for (const p of [...owned, verifyPath("manifest")]) assert.equal(present(root, p), false, `${p} is still there`);
      assert.ok(existsSync(g(root, VERIFY_LOG)), "the log stays");
      assert.ok(existsSync(g(root, stage2Path("result"))), "stage 2's result stays");
      const blocks = parseVerifyBlocks(readFileSync(g(root, VERIFY_CONSOLE), "utf8"));
      assert.deepEqual(blocks.at(-1)?.verification, v, "the console carries the result in the guest");
    } finally {
      await removeTree(root);
    }
  });
}
