// The test images' boot marker (test/images/guest/e2e-marker) run on this host against a tree
// standing for the guest, with stand-ins for the commands it asks (systemctl, ip, findmnt...):
// its line parses, and the checks every e2e migration makes on it fail when stage 2 left
// something behind, when the boot is degraded and when vmtoolsd does not run. An e2e boot
// takes half an hour; this shows in a second that those checks can fail.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execa } from "execa";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { assertCleanBoot, assertStage2Gone, assertToolsRun, parseMarker, stage2Leftovers, type Marker } from "../../e2e/lib/marker.ts";
import { GUEST_BACKUP_DIR, GUEST_JOURNAL, SENTINEL_SCRIPT, stage2Path } from "../../../src/protocol/files.ts";

const MARKER = join(dirname(fileURLToPath(import.meta.url)), "../../images/guest/e2e-marker");

interface Guest {
  /** systemctl is-system-running */
  state?: string;
  failed?: string[];
  toolsPackage?: string;
  vmtoolsd?: boolean;
  /** extra files (guest paths) to create, e.g. what stage 2 should have removed */
  files?: string[];
  links?: Record<string, string>;
  status?: string;
  /** systemctl show of the tools unit (space-separated KEY=value) and its journal ("|"-separated lines) */
  toolsUnit?: string;
  toolsLog?: string;
}

const STUBS: Record<string, string> = {
  systemctl: `case "$*" in
*is-system-running*) echo "$E2E_STATE" ;;
*--failed*) for u in $E2E_FAILED; do echo "$u loaded failed failed x"; done ;;
get-default) echo multi-user.target ;;
show*) if [ -n "\${E2E_TOOLS_UNIT:-}" ]; then printf '%s\\n' "$E2E_TOOLS_UNIT" | tr ' ' '\\n'; else printf 'ActiveState=active\\nSubState=running\\nResult=success\\nConditionResult=yes\\n'; fi ;;
poweroff) : ;;
esac`,
  ip: `echo "2: eth0    inet 192.0.2.10/24 brd 192.0.2.255 scope global eth0\\       valid_lft forever preferred_lft forever"`,
  findmnt: `case "$*" in *SOURCE*) echo /dev/sda1 ;; *FSTYPE*) echo ext4 ;; *) echo rw,relatime ;; esac`,
  "systemd-detect-virt": "echo vmware",
  "dpkg-query": `printf '%s' "$E2E_TOOLS_PKG"`,
  journalctl: `if [ -n "\${E2E_TOOLS_LOG+x}" ]; then printf '%s' "$E2E_TOOLS_LOG" | tr '|' '\\n'; else echo 'vmtoolsd started'; echo 'a "quoted" line'; fi`,
  sleep: ":",
};

async function runMarker(g: Guest): Promise<{ m: Marker | undefined; out: string }> {
  const dir = mkdtempSync(join(tmpdir(), "e2e-marker-"));
  try {
    const bin = join(dir, "bin");
    const root = join(dir, "root");
    mkdirSync(bin);
    for (const [name, body] of Object.entries(STUBS)) {
      writeFileSync(join(bin, name), `#!/bin/sh\n${body}\n`);
      chmodSync(join(bin, name), 0o755);
    }
    const put = (p: string, content = "") => {
      mkdirSync(dirname(join(root, p)), { recursive: true });
      writeFileSync(join(root, p), content);
    };
    // what a guest keeps after a finished stage 2
    put(GUEST_JOURNAL, "{}\n");
    put(`${GUEST_BACKUP_DIR}/etc/fstab`, "orig\n");
    put(stage2Path("readme"), "x\n");
    put(stage2Path("status"), `${g.status ?? "done"} 2026-11-30T09:00:00Z\n`);
    put("/etc/e2e/ipv4-count", "1\n");
    put("/proc/cmdline", "BOOT_IMAGE=/vmlinuz root=UUID=x console=ttyS0,115200n8\n");
    put("/proc/uptime", "42.00 80.00\n");
    put("/proc/1/comm", "systemd\n");
    if (g.vmtoolsd ?? true) put("/proc/812/comm", "vmtoolsd\n");
    for (const f of g.files ?? []) put(f, "left\n");
    for (const [link, target] of Object.entries(g.links ?? {})) {
      mkdirSync(dirname(join(root, link)), { recursive: true });
      symlinkSync(target, join(root, link));
    }
    const out = join(dir, "console");
    await execa("sh", [MARKER], {
      env: {
        PATH: `${bin}:/usr/sbin:/usr/bin:/sbin:/bin`,
        E2E_MARKER_OUT: out,
        E2E_MARKER_ROOT: root,
        E2E_STATE: g.state ?? "running",
        E2E_FAILED: (g.failed ?? []).join(" "),
        E2E_TOOLS_PKG: g.toolsPackage ?? "install ok installed",
        ...(g.toolsUnit !== undefined ? { E2E_TOOLS_UNIT: g.toolsUnit } : {}),
        ...(g.toolsLog !== undefined ? { E2E_TOOLS_LOG: g.toolsLog } : {}),
      },
      extendEnv: false,
      timeout: 60_000,
    });
    const text = readFileSync(out, "utf8");
    return { m: parseMarker(text), out: text };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("a clean guest: the marker parses and passes every after-stage-2 check", async () => {
  const { m, out } = await runMarker({});
  assert.ok(m, out);
  assert.deepEqual(m.ipv4, { eth0: ["192.0.2.10/24"] });
  assert.equal(m.root, "/dev/sda1");
  assert.equal(m.defaultTarget, "multi-user.target");
  assert.equal(m.virt, "vmware");
  assert.match(m.toolsLog, /a "quoted" line/);
  assert.ok(m.osamTree.includes(GUEST_BACKUP_DIR), "the backup directory is listed");
  assert.ok(!m.osamTree.some((p) => p.startsWith(`${GUEST_BACKUP_DIR}/`)), "the backups themselves are not");
  assertStage2Gone(m, "");
  assertCleanBoot(m, "", "vmware");
  assertToolsRun(m, "", "vmware");
});

test("the sentinel script, the manifest, a state file or a unit link left behind fail the check", async () => {
  const cases: Guest[] = [
    { files: [SENTINEL_SCRIPT] },
    { files: [stage2Path("manifest")] },
    { files: [stage2Path("defaultTarget")] },
    { links: { "/etc/systemd/system/multi-user.target.wants/osam-sentinel.service": "/etc/systemd/system/osam-sentinel.service" } },
  ];
  for (const g of cases) {
    const { m, out } = await runMarker(g);
    assert.ok(m, out);
    const left = [...(g.files ?? []), ...Object.keys(g.links ?? {})];
    for (const p of left) assert.ok(stage2Leftovers(m).includes(p), `${p} is reported as left behind: ${JSON.stringify(stage2Leftovers(m))}`);
    assert.throws(() => assertStage2Gone(m, ""), /stage 2 left these behind/);
  }
  const { m } = await runMarker({ status: "failed: no VMware Tools medium found" });
  assert.ok(m);
  assert.throws(() => assertStage2Gone(m, ""), /sentinel's status is "failed: no VMware Tools/);
});

test("a degraded boot and a failed unit fail the check", async () => {
  const { m } = await runMarker({ state: "degraded", failed: ["open-vm-tools.service"] });
  assert.ok(m);
  assert.deepEqual(m.failed, ["open-vm-tools.service"]);
  assert.throws(() => assertCleanBoot(m, "", "vmware"), /failed units/);
  // on QEMU too, without the evidence that systemd started the tools and vmtoolsd exited 1
  assert.throws(() => assertCleanBoot(m, "", "qemu"), /failed units/);
  const starting = (await runMarker({ state: "starting" })).m;
  assert.ok(starting);
  assert.throws(() => assertCleanBoot(starting, "", "vmware"), /system state/);
});

test("on QEMU only vmtoolsd's own exit is excused, with its evidence; any other failure still fails", async () => {
  const qemuLog = "Started open-vm-tools.service - Service for virtual machines hosted on VMware.|open-vm-tools.service: Main process exited, code=exited, status=1/FAILURE|";
  const exited = (await runMarker({ state: "degraded", failed: ["open-vm-tools.service"], vmtoolsd: false, toolsLog: qemuLog, toolsUnit: "Result=exit-code ActiveState=failed SubState=failed ConditionResult=yes" })).m;
  assert.ok(exited);
  assertCleanBoot(exited, "", "qemu");
  assertToolsRun(exited, "", "qemu");
  assert.throws(() => assertToolsRun(exited, "", "vmware"), /vmtoolsd does not run/);
  const another = (await runMarker({ state: "degraded", failed: ["open-vm-tools.service", "networking.service"], vmtoolsd: false, toolsLog: qemuLog, toolsUnit: "Result=exit-code ActiveState=failed SubState=failed ConditionResult=yes" })).m;
  assert.ok(another);
  assert.throws(() => assertCleanBoot(another, "", "qemu"), /failed units/);
  const notStarted = (await runMarker({ state: "running", vmtoolsd: false, toolsLog: "", toolsUnit: "Result=success ActiveState=inactive SubState=dead ConditionResult=no" })).m;
  assert.ok(notStarted);
  assert.throws(() => assertToolsRun(notStarted, "", "qemu"), /vmtoolsd does not run/);
});

// deb11-itools' marker boot, 2026-11-30: systemd 247 logs the unit's description only
test("Debian 11's systemd words the start differently, and vmtoolsd's exit under QEMU is excused there too", async () => {
  const deb11Log = "Started Service for virtual machines hosted on VMware.|Error: /usr/bin/vmtoolsd must be run inside a virtual machine on a VMware hypervisor product.|open-vm-tools.service: Main process exited, code=exited, status=1/FAILURE|open-vm-tools.service: Failed with result 'exit-code'.|";
  const unit = "Result=exit-code ActiveState=failed SubState=failed ConditionResult=yes";
  const m = (await runMarker({ state: "degraded", failed: ["open-vm-tools.service"], vmtoolsd: false, toolsLog: deb11Log, toolsUnit: unit })).m;
  assert.ok(m);
  assertCleanBoot(m, "", "qemu");
  assertToolsRun(m, "", "qemu");
  const neverStarted = (await runMarker({ state: "degraded", failed: ["open-vm-tools.service"], vmtoolsd: false, toolsLog: deb11Log.replace("Started Service", "Starting Service"), toolsUnit: unit })).m;
  assert.ok(neverStarted);
  assert.throws(() => assertCleanBoot(neverStarted, "", "qemu"), /failed units/);
});

test("tools not installed, or vmtoolsd not running, fail the check", async () => {
  const notRunning = (await runMarker({ vmtoolsd: false })).m;
  assert.ok(notRunning);
  assert.throws(() => assertToolsRun(notRunning, "", "vmware"), /vmtoolsd does not run; open-vm-tools\.service: ActiveState=active/);
  assert.throws(() => assertToolsRun(notRunning, "", "qemu"), /vmtoolsd does not run/);
  const notInstalled = (await runMarker({ toolsPackage: "" })).m;
  assert.ok(notInstalled);
  assert.throws(() => assertToolsRun(notInstalled, "", "qemu"), /open-vm-tools package/);
});
