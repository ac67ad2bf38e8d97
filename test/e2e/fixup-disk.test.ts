// The fixup disk on its own: it boots unattended on emulated VMware hardware (from PVSCSI
// scsi0:15, as a CD-ROM and as a hard disk), its agent creates /tmp/fixup and answers a bad
// BEGIN with result.json and END, so the manager never waits forever.
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { writeFileSync } from "node:fs";
import { createDriver, sleep } from "../../src/manager/drivers/index.ts";
import { DEFAULT_FIXUP_DIR, FIXUP_FILES } from "../../src/protocol/files.ts";
import { Result } from "../../src/protocol/schemas.ts";
import { ensureFixupDisk } from "./lib/artifacts.ts";
import { newRunDir } from "./lib/paths.ts";
import { readFrom, tail } from "./lib/migration.ts";

const MIN = 60_000;

for (const kind of ["cdrom", "disk"] as const) {
  test(`the fixup disk boots from scsi0:15 as a ${kind} and its agent answers`, { timeout: 20 * MIN }, async (t) => {
    const { iso, meta } = await ensureFixupDisk();
    const runDir = newRunDir(`fixup-disk-${kind}`);
    const driver = await createDriver("qemu", { qemu: { stateDir: join(runDir, "vm"), accel: "tcg" } });
    const vm = await driver.createVm({ name: `fixup-disk-${kind}`, cpus: 2, memoryMiB: 1024, firmware: "bios", nics: [{ mac: "00:50:56:aa:20:01", model: "vmxnet3", connected: false }], disks: [], fixupDisk: { path: iso, kind } });
    const serial = () => `${vm.serialLogPath}:\n${tail(readFrom(vm.serialLogPath ?? "", 0))}`;
    try {
      await vm.setBootOrder([{ kind: "disk", unit: 15 }]);
      const t0 = Date.now();
      await vm.powerOn();
      await vm.guest.ready({ timeoutMs: 8 * MIN }).catch((e: Error) => assert.fail(`no guest agent: ${e.message}\n${serial()}`));
      const tAgent = Date.now();
      while (!(await vm.guest.exists(DEFAULT_FIXUP_DIR))) {
        if (Date.now() - t0 > 10 * MIN) assert.fail(`${DEFAULT_FIXUP_DIR} never appeared\n${serial()}`);
        await sleep(500);
      }
      const ready = (Date.now() - t0) / 1000;
      t.diagnostic(`iso ${(meta.isoBytes / 1048576).toFixed(0)} MiB; guest agent after ${((tAgent - t0) / 1000).toFixed(1)} s, ${DEFAULT_FIXUP_DIR} after ${ready.toFixed(1)} s`);
      writeFileSync(join(runDir, "boot-seconds"), `${ready.toFixed(1)}\n`);
      const version = (await vm.guest.readFile("/etc/osam-fixup-disk.version")).toString("utf8");
      assert.match(version, /osam-fixup disk/);

      // BEGIN without the maps: the agent must still finish with a failed result and END
      await vm.guest.writeFile(`${DEFAULT_FIXUP_DIR}/${FIXUP_FILES.begin}`, "");
      const t1 = Date.now();
      while (!(await vm.guest.exists(`${DEFAULT_FIXUP_DIR}/${FIXUP_FILES.end}`))) {
        if (Date.now() - t1 > 3 * MIN) assert.fail(`no END within 3 minutes of BEGIN\n${serial()}`);
        await sleep(1000);
      }
      const result = Result.parse(JSON.parse((await vm.guest.readFile(`${DEFAULT_FIXUP_DIR}/${FIXUP_FILES.result}`)).toString("utf8")));
      assert.equal(result.status, "failed");
      assert.match(result.message, /system-configuration|missing|input/i, result.message);
    } finally {
      writeFileSync(join(runDir, "fixup-disk.serial"), readFrom(vm.serialLogPath ?? "", 0));
      await vm.powerOff().catch(() => undefined);
      await vm.close();
      await driver.close();
    }
  });
}
