// `osam-fixup preflight` on the live source, before its migration (issue 14): an overlay of the
// variant's source disk boots on virtio as the image's own first boot did (test/images/disk.sh:
// virtio-blk, virtio-net with the source MACs, the tree's kernel and initramfs, the source's
// command line), and systemd's run generator (systemd.run=) runs the real binary from a second,
// read-only drive as `preflight --json` with the maps the target will get. The report, the exit
// status and a before/after listing of the source's file systems come back on the serial
// console between markers; the guest then powers off (systemd.run_success_action).
// Why this channel: the images have no guest agent (QGA is not installed, and installing it
// would change the recipe and rebuild every image), and the serial console is what every boot
// here already reads. The command runs in the source's own kernel, /proc, /sys and devices.
import assert from "node:assert/strict";
import { execa } from "execa";
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PreflightReport } from "../../../src/protocol/preflight.ts";
import { FIXUP_FILES } from "../../../src/protocol/files.ts";
import type { Result } from "../../../src/protocol/schemas.ts";
import { diskFiles, sourceAddresses, type DiskImage } from "../../helpers/images.ts";
import { freshBinary } from "./artifacts.ts";
import type { Maps } from "./maps.ts";

export interface SourcePreflight {
  /** What preflight printed, checked against its schema. */
  report?: PreflightReport;
  exitCode?: number;
  /** power on -> powered off (the whole boot) */
  bootSeconds: number;
  /** preflight's own run, timed inside the guest */
  preflightSeconds?: number;
  /** Entries of the source's file systems that changed while preflight ran, system writers left out. */
  writes?: string[];
  /** What preflight wrote on stderr. */
  stderr?: string;
  serialPath: string;
  /** Why no report came back (not an assertion). */
  error?: string;
}

const MARK = "OSAM-PF";

/**
 * Runs in the booted source. Output goes to the console, not ttyS0: agetty vhangup()s ttyS0
 * (see test/images/guest/e2e-marker). Only the network is started besides what basic.target
 * brings (the run generator boots into its own unit instead of the default target): preflight
 * reads the live addresses. The listings before and after cover every file system of the source
 * disk (metadata and ctime: any write, chmod or chown shows); they live in /run (tmpfs).
 * Blocks are base64 so that a console line from elsewhere cannot pass for part of them.
 */
const RUN_SH = `#!/bin/sh
exec >/dev/console 2>&1
trap '' HUP
D=$(dirname "$0")
echo "${MARK}-START $(cut -d" " -f1 /proc/uptime)"
timeout 120 systemctl start network-online.target || echo "${MARK}-NOTE network-online.target did not start"
want=$(cat "$D/ipv4-count")
i=0
while [ "$i" -lt 60 ] && [ "$(ip -4 -o addr show scope global | wc -l)" -lt "$want" ]; do sleep 1; i=$((i + 1)); done
echo "${MARK}-NOTE $(ip -4 -o addr show scope global | wc -l) of $want addresses up after $i s; uptime $(cut -d" " -f1 /proc/uptime)"
snap() {
	for m in $(findmnt -rn -o TARGET,SOURCE | awk '$2 ~ /^\\/dev\\/(vd|md|mapper\\/)/ && $1 !~ /^\\/run\\// {print $1}'); do
		find "$m" -xdev -printf '%p|%y|%s|%m|%U|%G|%T@|%C@|%l\\n'
	done | sort -u
}
block() { echo "${MARK}-$1-BEGIN"; base64 "$2"; echo "${MARK}-$1-END"; }
snap >/run/osam-pf-before
echo "${MARK}-NOTE listed before preflight; uptime $(cut -d" " -f1 /proc/uptime)"
t0=$(date +%s.%N)
"$D/osam-fixup" preflight --json --disk-map "$D/${FIXUP_FILES.replicaDiskMap}" --nic-map "$D/${FIXUP_FILES.networkInterfaceMap}" >/run/osam-pf-report 2>/run/osam-pf-stderr
rc=$?
t1=$(date +%s.%N)
snap >/run/osam-pf-after
diff /run/osam-pf-before /run/osam-pf-after >/run/osam-pf-writes
echo "${MARK}-EXIT $rc"
echo "${MARK}-NOTE listed after preflight; uptime $(cut -d" " -f1 /proc/uptime)"
echo "${MARK}-SECONDS $(echo "$t0 $t1" | awk '{printf "%.1f", $2 - $1}')"
block JSON /run/osam-pf-report
block STDERR /run/osam-pf-stderr
block WRITES /run/osam-pf-writes
echo ${MARK}-DONE
exit 0
`;

/**
 * Paths the booted system itself writes while preflight runs (the journal, systemd's state,
 * the network's leases), and the mount points of the API file systems, which find lists with
 * the mounted file system's times: not preflight's. Anything else in the listing diff is a write.
 * /var/tmp itself too: a unit with PrivateTmp= that starts and ends meanwhile (deb11-itools,
 * 2026-11-30: /var/tmp's times changed and nothing in it) makes and removes its directory
 * there. That preflight itself writes nothing anywhere is the tree test's
 * (test/unit/preflight), which sees every process it starts.
 */
const SYSTEM_WRITERS = [/^\/(dev|run|proc|sys|tmp|var\/tmp)$/, /^\/var\/log\//, /^\/var\/lib\/systemd\//, /^\/var\/lib\/dhcp\//, /^\/var\/tmp\//, /^\/tmp\//];

export function sourceCmdline(img: DiskImage): string {
  const serial = join(img.dir, "disk-firstboot.serial");
  const line = existsSync(serial)
    ? readFileSync(serial, "utf8")
        .split(/\r?\n/)
        .filter((l) => l.startsWith("E2E-FIRSTBOOT-CMDLINE "))
        .pop()
    : undefined;
  const args = line?.replace(/^E2E-FIRSTBOOT-CMDLINE\s+linux\s+\S+\s*/, "").trim();
  if (args && /\broot=/.test(args)) return args;
  const lvm = img.meta.layout === "lvm" ? ` rd.lvm.lv=${img.disk.rootDevice.replace(/^\/dev\/mapper\//, "").replace("-", "/")}` : "";
  return `root=${img.disk.rootDevice} ro console=ttyS0,115200n8${lvm}`;
}

/** The newest kernel of the image's tree and its initramfs (as disk.sh picks them). */
export function sourceKernel(img: DiskImage): { kernel: string; initrd: string } {
  const boot = join(img.dir, "rootfs/boot");
  const versions = readdirSync(boot)
    .filter((n) => n.startsWith("vmlinuz-"))
    .map((n) => n.slice("vmlinuz-".length))
    .sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
  const v = versions.pop();
  if (!v) throw new Error(`no kernel in ${boot}`);
  return { kernel: join(boot, `vmlinuz-${v}`), initrd: join(boot, `initrd.img-${v}`) };
}

/** The text of one base64 block between its markers, or undefined when it is missing or torn. */
function block(lines: string[], name: string): string | undefined {
  const a = lines.indexOf(`${MARK}-${name}-BEGIN`);
  const b = lines.indexOf(`${MARK}-${name}-END`);
  if (a < 0 || b < a) return undefined;
  const body = lines.slice(a + 1, b).filter((l) => /^[A-Za-z0-9+/=]+$/.test(l));
  return Buffer.from(body.join(""), "base64").toString("utf8");
}

/** What the guest printed between the markers (serial text in, facts out). */
export function parsePreflightSerial(serial: string): Omit<SourcePreflight, "bootSeconds" | "serialPath"> {
  const lines = serial.split("\n").map((l) => l.replace(/\r$/, "").trim());
  if (!lines.includes(`${MARK}-DONE`)) return { error: lines.some((l) => l.startsWith(`${MARK}-START`)) ? "the preflight run did not finish" : "the preflight run never started" };
  const num = (key: string) => {
    const l = lines.find((x) => x.startsWith(`${MARK}-${key} `));
    return l === undefined ? undefined : Number(l.slice(key.length + MARK.length + 2));
  };
  const out: Omit<SourcePreflight, "bootSeconds" | "serialPath"> = { exitCode: num("EXIT"), preflightSeconds: num("SECONDS"), stderr: block(lines, "STDERR") };
  const json = block(lines, "JSON");
  const writes = block(lines, "WRITES");
  if (writes !== undefined) {
    out.writes = writes
      .split("\n")
      .filter((l) => /^[<>] /.test(l))
      .map((l) => l.slice(2))
      .filter((l) => !SYSTEM_WRITERS.some((re) => re.test(l.split("|")[0] ?? "")));
  }
  try {
    out.report = PreflightReport.parse(JSON.parse(json ?? ""));
  } catch (e) {
    out.error = `no valid report: ${(e as Error).message.slice(0, 300)}; stderr: ${out.stderr ?? "(none)"}`;
  }
  return out;
}

/** Boots the source (an overlay of its disk, deleted afterwards) and runs preflight in it. */
export async function runSourcePreflight(img: DiskImage, maps: Maps, runDir: string, log: (l: string) => void): Promise<SourcePreflight> {
  const binary = freshBinary();
  const dir = join(runDir, "source-preflight");
  const stage = join(dir, "drive");
  mkdirSync(stage, { recursive: true });
  copyFileSync(binary, join(stage, "osam-fixup"));
  writeFileSync(join(stage, "run.sh"), RUN_SH, { mode: 0o755 });
  writeFileSync(join(stage, FIXUP_FILES.replicaDiskMap), JSON.stringify(maps.replicaDiskMap, null, 2));
  writeFileSync(join(stage, FIXUP_FILES.networkInterfaceMap), JSON.stringify(maps.networkInterfaceMap, null, 2));
  writeFileSync(join(stage, "ipv4-count"), `${sourceAddresses(img.meta).length}\n`);
  const drive = join(dir, "preflight.img");
  const mb = Math.ceil(statSync(binary).size / 2 ** 20) + 64;
  await execa("truncate", ["-s", `${mb}M`, drive]);
  await execa("mkfs.ext4", ["-q", "-L", "osam-pf", "-d", stage, drive]);
  rmSync(stage, { recursive: true, force: true });
  const overlays: string[] = [];
  for (const [i, f] of diskFiles(img).entries()) {
    overlays.push(join(dir, `source-${i}.qcow2`));
    await execa("qemu-img", ["create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", f, overlays[i]!]);
  }
  // the source's disks where its first boot had them (vda at slot 6, vdb at 7...), this drive after them
  const vd = `/dev/vd${String.fromCharCode(97 + overlays.length)}`;
  const { kernel, initrd } = sourceKernel(img);
  // the drive is mounted under /run (tmpfs): nothing is created on the source's file systems;
  // by name, as it is certain (the last virtio disk) and its by-label link may not be there yet
  const run = `/bin/sh -c 'mkdir -p /run/osam-pf && mount -o ro ${vd} /run/osam-pf && exec /run/osam-pf/run.sh'`;
  const append = `${sourceCmdline(img)} systemd.show_status=0 systemd.run="${run}" systemd.run_success_action=poweroff systemd.run_failure_action=poweroff`;
  const serialPath = join(dir, "source.serial");
  const fw: string[] = [];
  if (img.meta.boot === "uefi") {
    copyFileSync("/usr/share/OVMF/OVMF_VARS_4M.fd", join(dir, "vars.fd"));
    fw.push("-drive", "if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd", "-drive", `if=pflash,format=raw,unit=1,file=${join(dir, "vars.fd")}`);
  }
  const nics = img.meta.nics.flatMap((n, i) => ["-netdev", `user,id=n${i},net=10.0.${2 + i}.0/24`, "-device", `virtio-net-pci,netdev=n${i},mac=${n.mac},addr=${3 + i}`]);
  log(`preflight on the source: boot ${img.meta.variant} on virtio (${append})`);
  const t0 = Date.now();
  const q = await execa(
    "qemu-system-x86_64",
    ["-accel", "tcg", "-cpu", "max", "-machine", "pc", "-m", "1024", "-smp", "2", "-display", "none", "-nodefaults", "-no-reboot", "-serial", `file:${serialPath}`, ...fw,
      "-kernel", kernel, "-initrd", initrd, "-append", append,
      ...[...overlays, drive].flatMap((f, i) => ["-drive", `file=${f},format=${f === drive ? "raw,readonly=on" : "qcow2"},if=none,id=d${i}`, "-device", `virtio-blk-pci,drive=d${i},addr=${6 + i}`]),
      ...nics],
    { reject: false, timeout: 20 * 60_000, stdin: "ignore" },
  );
  const bootSeconds = Math.round((Date.now() - t0) / 100) / 10;
  for (const f of overlays) rmSync(f, { force: true });
  rmSync(drive, { force: true });
  const facts = parsePreflightSerial(existsSync(serialPath) ? readFileSync(serialPath, "utf8") : "");
  if (q.timedOut) facts.error = `the source boot did not power off in 20 minutes${facts.error ? ` (${facts.error})` : ""}`;
  else if (q.exitCode !== 0 && !facts.report) facts.error = `qemu exited ${q.exitCode ?? "?"}: ${String(q.stderr).slice(0, 300)}${facts.error ? ` (${facts.error})` : ""}`;
  const r = facts.report;
  log(r ? `preflight on the source: ${r.verdict} (exit ${facts.exitCode}), ${r.findings.length} finding(s), ${facts.preflightSeconds}s in the guest, ${bootSeconds}s boot to power-off; ${facts.writes?.length ?? "?"} write(s)` : `preflight on the source: ${facts.error ?? "no report"}`);
  return { ...facts, bootSeconds, serialPath };
}

/** Whether an e2e run boots its source for preflight first: under test:e2e:all, or OSAM_E2E_PREFLIGHT=1. */
export function sourcePreflightWanted(env = process.env): boolean {
  if (env.OSAM_E2E_PREFLIGHT !== undefined) return env.OSAM_E2E_PREFLIGHT === "1";
  return env.OSAM_E2E_VARIANTS === "all";
}

/**
 * How preflight's verdict and the migration's result disagree (empty: they match).
 * A stage 1 that succeeded needs `ready` or `ready with warnings`; one that failed, `blocked`.
 * Each warning must be something result.json reports: PLAN_WARNING is one of stage 1's own
 * warnings, word for word (the same steps, planned instead of applied); LEFTOVER is the residue
 * audit's warning for the same file and line. And each of stage 1's warnings must have been
 * foreseen by one of preflight's findings.
 */
export function preflightMismatches(pf: SourcePreflight, result: Result | undefined): string[] {
  const r = pf.report;
  if (!r) return [`no preflight report: ${pf.error ?? "?"}`];
  if (!result) return ["no result.json to compare with"];
  const out: string[] = [];
  const succeeded = result.status === "succeeded";
  if (succeeded && r.verdict === "blocked") out.push(`blocked, but stage 1 succeeded: ${JSON.stringify(r.findings.filter((f) => f.severity === "blocker"))}`);
  if (!succeeded && r.verdict !== "blocked") out.push(`${r.verdict}, but stage 1 failed with code ${result.code}: ${result.message}`);
  if (pf.exitCode !== (r.verdict === "blocked" ? 1 : 0)) out.push(`exit status ${pf.exitCode ?? "?"} for ${r.verdict}`);
  const warnings = result.warnings;
  const foreseen = new Set<string>();
  for (const f of r.findings.filter((x) => x.severity === "warning")) {
    let hits: string[] = [];
    if (f.code === "PLAN_WARNING") hits = warnings.filter((w) => w === f.why);
    else if (f.code === "LEFTOVER" && f.file) hits = warnings.filter((w) => w.startsWith("residue-audit: ") && w.includes(`${f.file}${f.line ? `:${f.line}` : ""}`));
    if (!hits.length) out.push(`preflight warns ${f.code}${f.file ? ` ${f.file}${f.line ? `:${f.line}` : ""}` : ""} (${f.why}), which result.json does not report`);
    for (const h of hits) foreseen.add(h);
  }
  for (const w of warnings) if (!foreseen.has(w)) out.push(`result.json warns "${w}", which preflight did not foresee`);
  return out;
}

/** The source preflight ran, wrote nothing, and foresaw what the migration found. */
export function assertPreflightMatches(pf: SourcePreflight | undefined, result: Result | undefined, at: string): void {
  assert.ok(pf, `preflight was not run on the source ${at}`);
  const where = `${at}; source boot serial ${pf.serialPath}`;
  assert.ok(pf.report, `no preflight report: ${pf.error ?? "?"} ${where}`);
  assert.deepEqual(pf.writes, [], `preflight changed the source's file systems (find listing before/after) ${where}`);
  const problems = preflightMismatches(pf, result);
  assert.deepEqual(problems, [], `preflight's ${pf.report.verdict} does not match the migration ${where}`);
}
