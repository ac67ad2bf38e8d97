// The proof that counts: the deb12-itools disk as built for KVM (root=/dev/vda1, host-only
// initramfs without vmw_pvscsi) is fixed in agent mode (openGuest on a loop device, the storage
// steps, close) and then boots on VMware-like hardware (QEMU q35, PVSCSI, vmxnet3) with its root
// on the PVSCSI disk. The image's marker unit prints the boot facts on the serial line.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { execa } from "execa";
import { ensureDisk } from "../../helpers/images.ts";
import { openGuest } from "../../../src/guest/mount.ts";
import { runStage1 } from "../../../src/agent/stage1.ts";
import { Logger } from "../../../src/util/log.ts";
import { STORAGE_STEPS, assertRoot, inputsFor } from "./helpers.ts";
import { scratch } from "./loop.ts";
import { slowOnly } from "../../helpers/slow.ts";

const BOOT_TIMEOUT_MS = 15 * 60_000;

test("deb12-itools fixed by the storage steps boots from PVSCSI with root=UUID (QEMU, TCG)", { timeout: 45 * 60_000, ...slowOnly("the e2e migration of deb12-itools boots it too") }, async () => {
  assertRoot();
  const img = await ensureDisk("deb12-itools");
  const dir = scratch("boot-pvscsi-");
  const raw = join(dir, "disk.raw");
  const serial = join(dir, "serial.log");
  try {
    await execa("qemu-img", ["convert", "-O", "raw", img.disk.disk, raw]);
    const dev = (await execa("losetup", ["-f", "--show", "-P", raw])).stdout.trim();
    try {
      if (!existsSync(`${dev}p1`)) await execa("partx", ["-a", dev], { reject: false });
      const inputs = inputsFor({ disks: [{ source: "/dev/vda", unit: 0, device: dev, boot: true }] });
      const log = new Logger({ keep: true });
      const g = await openGuest(inputs, log, { mountBase: join(dir, "mnt") });
      try {
        const { result } = await runStage1({ root: g.root, inputs, mode: "apply", log, devices: g.devices, only: STORAGE_STEPS });
        assert.equal(result.status, "succeeded", result.message);
      } finally {
        await g.close();
      }
    } finally {
      await execa("losetup", ["-d", dev], { reject: false });
    }
    const t0 = Date.now();
    // the marker unit powers the guest off after printing; -no-reboot ends QEMU there
    const q = await execa(
      "qemu-system-x86_64",
      [
        "-accel", "tcg", "-cpu", "max,-hypervisor", "-m", "1024", "-smp", "2", "-display", "none", "-nodefaults", "-no-reboot",
        "-serial", `file:${serial}`, "-netdev", "user,id=n0",
        "-machine", "q35,vmport=on", "-global", "ICH9-LPC.acpi-pci-hotplug-with-bridge-support=off",
        "-smbios", "type=1,manufacturer=VMware,, Inc.,product=VMware Virtual Platform",
        "-device", "pcie-root-port,id=rp160,chassis=1,slot=160", "-device", "pcie-root-port,id=rp192,chassis=2,slot=192",
        "-device", "pvscsi,id=pvscsi0,bus=rp160", "-drive", `file=${raw},format=raw,if=none,id=d0`,
        "-device", "scsi-hd,drive=d0,bus=pvscsi0.0,scsi-id=0,lun=0,bootindex=0", "-device", "vmxnet3,netdev=n0,bus=rp192",
      ],
      { reject: false, timeout: BOOT_TIMEOUT_MS, killSignal: "SIGKILL", stdin: "ignore" },
    );
    const out = existsSync(serial) ? readFileSync(serial, "latin1") : "";
    process.stderr.write(`boot-pvscsi: QEMU ran ${Date.now() - t0} ms (exit ${q.exitCode ?? "killed"})\n`);
    const line = /E2E-MARKER (\{.*\})/.exec(out)?.[1];
    assert.ok(line, `no marker on the serial line; last lines:\n${out.split("\n").slice(-25).join("\n")}`);
    const m = JSON.parse(line) as { root: string; rootDriver: string; cmdline: string; failed: string[] };
    assert.equal(m.rootDriver, "vmw_pvscsi");
    assert.match(m.root, /^\/dev\/sd[a-z]1$/);
    assert.match(m.cmdline, /root=UUID=/);
    assert.doesNotMatch(out, /Gave up waiting for root/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
