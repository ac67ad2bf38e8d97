// End-to-end: each selected test image, built as on KVM, is migrated by the real binary on the
// real fixup disk onto emulated VMware hardware (PVSCSI + vmxnet3), then must boot with its
// root on the PVSCSI disk, its NICs named eth0.. by MAC with the source's addresses, its
// default target restored, the sentinel gone, a clean boot and VMware Tools running. Each
// check is its own subtest, so a failure names exactly what broke; the run directory (printed)
// keeps every serial log and the files the agent returned.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { runE2eMigration, tail, type E2eRun } from "./lib/migration.ts";
import { initramfsVerdictProblem, selectedVariants } from "./variants.ts";
import { assertCleanBoot, assertStage2Gone, assertToolsRun } from "./lib/marker.ts";
import { assertVerified } from "./lib/verification.ts";
import { assertVirtualNet, parseNetState } from "./lib/netstate.ts";
import { sourceAddresses } from "../helpers/images.ts";
import { assertMdRoot, bootSecondDiskAlone, parseMdMarker } from "./lib/md.ts";
import { assertPreflightMatches } from "./lib/preflight-boot.ts";
import { CONTROLLER_DRIVER } from "../../src/initrd/drivers.ts";
import { DEBCONF_DB } from "../../src/bootloader/grub-pc-debconf.ts";

const MIN = 60_000;

/** The name a source interface has after the migration: a mapped NIC's target name; a bridge or bond keeps its own. */
function newName(run: E2eRun, src: string): string {
  return run.maps.networkInterfaceMap.interfaces.find((n) => n.sourceName === src)?.targetName ?? src;
}

function serialTail(run: E2eRun, which: string): string {
  const p = run.logs[`${which} serial`];
  if (!p) return `(no ${which} serial log)`;
  return `${p}:\n${tail(readFileSync(p, "utf8"), 30)}`;
}

for (const variant of selectedVariants()) {
  test(`e2e migration of ${variant}`, { timeout: 120 * MIN }, async (t) => {
    const run = await runE2eMigration(variant);
    const at = `(run directory ${run.runDir})`;
    const m = run.marker;
    const noMarker = () => `the migrated guest printed no E2E-MARKER ${at}; ${serialTail(run, "marker")}`;

    await t.test("the migration flow completed", () => {
      assert.equal(run.flowError, undefined, `${run.flowError ?? ""} ${at}`);
    });
    await t.test("result.json says succeeded", () => {
      assert.ok(run.result, `no valid result.json came back ${at}; raw: ${run.resultRaw?.slice(0, 400) ?? "(none)"}`);
      assert.equal(run.result.status, "succeeded", `code ${run.result.code} at step ${run.result.step ?? "?"}: ${run.result.message} ${at}; fixup.log: ${run.logs["fixup.log"] ?? "(none)"}`);
    });
    await t.test("the initramfs is rebuilt only where it must be (a generic one is kept)", () => {
      assert.ok(run.result, `no valid result.json came back ${at}`);
      const problem = initramfsVerdictProblem(variant, run.result.steps.find((s) => s.name === "initrd"));
      assert.equal(problem, undefined, `${problem ?? ""} ${at}`);
    });
    await t.test("stage 2 ran and powered the guest off", () => {
      assert.equal(run.stage2, "ran", `${run.stage2} ${at}; ${serialTail(run, "stage2")}`);
    });
    await t.test("the migrated guest boots to multi-user and prints its marker", () => {
      assert.ok(m, noMarker());
    });
    await t.test("root is mounted from the disk at scsi0:0 on the target controller", () => {
      assert.ok(m, noMarker());
      assert.equal(m.rootDriver, run.expectRootDriver, `root ${m.root} (${m.rootBlock}) hangs off ${m.rootDriver || "no PCI driver"} ${at}`);
      if (run.expectRootDriver === "vmw_pvscsi") assert.match(m.rootHctl, /^\d+:0:0:0$/, `root disk SCSI address ${m.rootHctl} is not target 0 lun 0 ${at}`);
      assert.doesNotMatch(m.root, /^\/dev\/vd/, `root still named ${m.root} ${at}`);
    });
    await t.test("the interfaces are exactly eth0.. with the mapped MACs, on vmxnet3", () => {
      assert.ok(m, noMarker());
      const want = run.maps.networkInterfaceMap.interfaces.map((n) => ({ name: n.targetName, mac: n.targetMac, driver: "vmxnet3" }));
      // a bridge or bond is no NIC, and a bond's ports carry its MAC: those images report each NIC's own
      const links = run.netState ? run.netState.links.filter((l) => l.kind === "physical").map((l) => ({ name: l.name, mac: l.perm, driver: l.driver })) : m.links;
      const got = [...links].sort((a, b) => a.name.localeCompare(b.name));
      assert.deepEqual(got, want, `${at}`);
    });
    await t.test("each interface has the source's static address", () => {
      assert.ok(m, noMarker());
      const want: Record<string, string[]> = {};
      for (const a of sourceAddresses(run.image.meta)) (want[newName(run, a.on)] ??= []).push(a.ipv4);
      assert.deepEqual(m.ipv4, want, `${at}`);
    });
    await t.test("the default target is restored", () => {
      assert.ok(m, noMarker());
      assert.equal(m.defaultTarget, run.expectDefaultTarget, `${at}`);
    });
    await t.test("stage 2 removed itself: script, units, manifest and state files gone, status done", () => {
      assert.ok(m, noMarker());
      assertStage2Gone(m, at);
    });
    await t.test("the boot finished running, with no failed unit", () => {
      assert.ok(m, noMarker());
      assertCleanBoot(m, at, "qemu");
    });
    await t.test("open-vm-tools is installed and vmtoolsd runs", () => {
      assert.ok(m, noMarker());
      assertToolsRun(m, at, "qemu");
    });
    await t.test("the guest's own first-boot verification says verified, covering root, every NIC and address (on NVMe under UEFI: only the root's driver differs)", () => {
      assertVerified(run.verification, {
        rootDriver: run.expectRootDriver,
        preparedFor: CONTROLLER_DRIVER[run.maps.systemConfiguration.target.scsiController],
        nics: run.maps.networkInterfaceMap.interfaces.map((n) => ({ name: n.targetName ?? "", mac: n.targetMac })),
        addresses: sourceAddresses(run.image.meta).map((a) => a.ipv4),
      }, `${at}; ${serialTail(run, "marker")}`);
    });
    if (run.sourcePreflight) {
      await t.test("preflight on the source, booted on virtio before the migration, wrote nothing and foresaw what the migration found", () => {
        assertPreflightMatches(run.sourcePreflight, run.result, at);
      });
    }
    if (run.image.meta.layout === "md") {
      const disks = run.maps.replicaDiskMap.disks.length;
      await t.test(`the root is the md RAID1 array, all ${disks} members active, each on vmw_pvscsi`, () => {
        assert.ok(m, noMarker());
        const p = run.logs["marker serial"];
        assertMdRoot(m, parseMdMarker(p ? readFileSync(p, "utf8") : ""), { members: disks, of: disks, driver: "vmw_pvscsi" }, at);
      });
      await t.test("stage 1 left mdadm.conf to find the array by its UUID, put GRUB on every member disk, and told grub-pc's upgrades so", () => {
        assert.ok(run.result, `no valid result.json came back ${at}`);
        const changes = run.result.steps.flatMap((s) => s.changes);
        const conf = changes.find((c) => c.action === "write" && c.path === "/etc/mdadm/mdadm.conf");
        assert.ok(conf?.diff, `no change to /etc/mdadm/mdadm.conf in result.json ${at}`);
        assert.match(conf.diff, /^\+DEVICE partitions containers$/m, at);
        assert.match(conf.diff, /^\+ARRAY \/dev\/md0 .*UUID=/m, at);
        assert.doesNotMatch(conf.diff, /^\+.*(devices=|\/dev\/vd)/m, at);
        const installs = changes.filter((c) => c.action === "exec" && c.argv?.some((a) => /grub-install$/.test(a)) && c.argv.includes("--target=i386-pc"));
        assert.equal(installs.length, disks, `grub-install runs: ${JSON.stringify(installs.map((c) => c.argv))} ${at}`);
        // the image answered debconf as debian-installer does (/dev/vda, /dev/vdb): grub-pc's upgrades must find the new disks
        const debconf = changes.find((c) => c.action === "write" && c.path === DEBCONF_DB);
        const targets = installs.map((c) => c.argv?.at(-1)).join(", ");
        assert.ok(debconf?.diff?.split("\n").includes(`+Value: ${targets}`), `grub-pc/install_devices: want +Value: ${targets} in ${debconf?.diff ?? "(no change to config.dat)"} ${at}`);
      });
      await t.test("GRUB is on every member disk: the guest boots from the second disk alone, degraded", { skip: m ? false : "no marker boot" }, async () => {
        const t0 = Date.now();
        const b = await bootSecondDiskAlone(run, 10 * MIN);
        run.timings.secondDiskBoot = Math.round((Date.now() - t0) / 100) / 10;
        assert.ok(b.marker, `no E2E-MARKER booting scsi0:1 alone (${b.outcome}${b.failure ? `: ${b.failure}` : ""}) ${at}; ${b.serialPath}:\n${tail(readFileSync(b.serialPath, "utf8"), 30)}`);
        assertMdRoot(b.marker, b.md, { members: 1, of: disks, driver: "vmw_pvscsi" }, `${at} (${b.serialPath})`);
      });
    }
    const virtual = run.image.meta.virtual ?? [];
    if (virtual.length) {
      const meta = run.image.meta;
      const what = virtual.map((v) => `${v.kind} ${v.name}`).join(", ");
      await t.test(`on virtio, the source's own tools brought up the ${what} (the image's first boot)`, () => {
        const serial = join(run.image.dir, "disk-firstboot.serial");
        assertVirtualNet(parseNetState(readFileSync(serial, "utf8")), meta, (src) => src, (src) => meta.nics.find((n) => n.name === src)?.mac ?? "?", "virtio_net", `(${serial})`);
      });
      await t.test(`after the migration, the ${what} runs over the vmxnet3 NICs under their new names, with the address and the default route`, () => {
        const targetMac = (src: string) => run.maps.networkInterfaceMap.interfaces.find((n) => n.sourceName === src)?.targetMac ?? "?";
        assertVirtualNet(run.netState, meta, (src) => newName(run, src), targetMac, "vmxnet3", `${at}; ${serialTail(run, "marker")}`);
      });
    }
    t.diagnostic(`timings (s): ${JSON.stringify(run.timings)}; run directory ${run.runDir}`);
  });
}
