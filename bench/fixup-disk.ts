// npm run bench:fixup-disk [ISO...]: boots the fixup disk (scsi0:15, as a CD-ROM, BIOS, QEMU
// TCG, 2 vCPUs, 1 GiB) and splits power-on -> /tmp/fixup into where the time goes, from the
// guest's own clock (init prints its uptime at each stage) and the manager's. With several
// ISOs (e.g. before and after a change) it boots them in turn, BENCH_RUNS times each (2), so
// a comparison is made in one run on one machine. Without arguments: the current build's ISO.
// BENCH_FIRMWARE=uefi boots it with OVMF instead of SeaBIOS, from SATA as the e2e runs do
// (Debian's OVMF has no PVSCSI driver), so init finds it by its label, not at target 15.
// The table is also written to bench/fixup-disk-results.md (npm run bench shows the last one).
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createDriver, sleep } from "../src/manager/drivers/index.ts";
import { DEFAULT_FIXUP_DIR } from "../src/protocol/files.ts";
import { ensureFixupDisk } from "../test/e2e/lib/artifacts.ts";

interface Boot {
  iso: string;
  /** seconds after power-on */
  kernel: number;
  init: number;
  settled: number;
  agentStart: number;
  qga: number;
  fixupDir: number;
}

/** The uptime init printed on the serial console after `marker`, or NaN. */
function uptimeAfter(serial: string, marker: RegExp): number {
  const line = serial.split("\n").find((l) => marker.test(l));
  const m = line?.match(/(?:uptime|at) ([0-9.]+)s/);
  return m ? Number(m[1]) : NaN;
}

const firmware = process.env.BENCH_FIRMWARE === "uefi" ? "uefi" : "bios";

async function bootOnce(iso: string): Promise<Boot> {
  const dir = mkdtempSync(join(tmpdir(), "osam-bench-fixup-disk-"));
  const driver = await createDriver("qemu", { qemu: { stateDir: dir, accel: "tcg" } });
  const vm = await driver.createVm({ name: "bench-fixup-disk", cpus: 2, memoryMiB: 1024, firmware, nics: [{ mac: "00:50:56:aa:20:09", model: "vmxnet3", connected: false }], disks: [], fixupDisk: { path: iso, kind: "cdrom", ...(firmware === "uefi" ? { qemuBus: "sata" as const } : {}) } });
  try {
    await vm.setBootOrder([{ kind: "disk", unit: 15 }]);
    const t0 = Date.now();
    await vm.powerOn();
    await vm.guest.ready({ timeoutMs: 10 * 60_000 });
    const qga = (Date.now() - t0) / 1000;
    while (!(await vm.guest.exists(DEFAULT_FIXUP_DIR))) {
      if (Date.now() - t0 > 10 * 60_000) throw new Error(`${DEFAULT_FIXUP_DIR} never appeared`);
      await sleep(200);
    }
    const fixupDir = (Date.now() - t0) / 1000;
    // the guest's clock when the manager saw /tmp/fixup: what came before the kernel is the rest
    const up = Number((await vm.guest.readFile("/proc/uptime")).toString("utf8").split(" ")[0]);
    const kernel = fixupDir - up;
    const serial = readFileSync(vm.serialLogPath ?? "", "utf8");
    // init's own lines, for a reader who wants the detail
    for (const l of serial.split("\n").filter((l) => l.startsWith("osam-fixup-disk:"))) process.stderr.write(`  ${l.trim()}\n`);
    const at = (re: RegExp) => kernel + uptimeAfter(serial, re);
    return { iso, kernel, init: at(/osam-fixup-disk: booting/), settled: at(/devices settled/), agentStart: at(/starting the agent/), qga, fixupDir };
  } finally {
    await vm.powerOff().catch(() => undefined);
    await vm.close();
    await driver.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const isos = process.argv.slice(2);
if (!isos.length) isos.push((await ensureFixupDisk()).iso);
const runs = Number(process.env.BENCH_RUNS ?? 2);
const boots: Boot[] = [];
for (let r = 0; r < runs; r++) for (const iso of isos) boots.push(await bootOnce(iso));

const f = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : "?");
const out = [
  `## fixup disk boot (QEMU TCG, ${firmware === "uefi" ? "UEFI, CD-ROM on SATA" : "BIOS, CD-ROM at scsi0:15"}; ${runs} run(s) of each ISO, in turn, ${new Date().toISOString().slice(0, 16)} UTC)`,
  "",
  "Seconds after power-on. The kernel starts when the firmware and the boot loader are done (the manager's clock minus the guest's uptime); init prints its uptime at each later stage; the manager polls the guest agent and then /tmp/fixup.",
  "",
  "| ISO | MiB | kernel starts | init starts | devices settled | agent starts | guest agent answers | /tmp/fixup |",
  "|---|---|---|---|---|---|---|---|",
  ...boots.map((b) => `| ${b.iso} | ${(statSync(b.iso).size / 1048576).toFixed(0)} | ${f(b.kernel)} | ${f(b.init)} | ${f(b.settled)} | ${f(b.agentStart)} | ${f(b.qga)} | ${f(b.fixupDir)} |`),
].join("\n");
console.log(out);
writeFileSync(new URL("fixup-disk-results.md", import.meta.url), out + "\n");
