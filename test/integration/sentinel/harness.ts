// Shared pieces of the sentinel's integration tests: stage 1 (the stage-2 steps only) on a
// guest tree, the sentinel run for real inside it with chroot, and a summary of the guest's
// end state that two runs can be compared by.
import assert from "node:assert/strict";
import { execa } from "execa";
import { existsSync, lstatSync, readFileSync } from "node:fs";
import { chmod, copyFile, mkdir, readFile, writeFile } from "node:fs/promises";
import { loadCaseInputs } from "../../helpers/golden.ts";
import { copyTree, removeTree, tempDir } from "../../helpers/tree.ts";
import { join } from "node:path";
import { runStage1 } from "../../../src/agent/stage1.ts";
import { bindChrootDirs } from "../../../src/guest/binds.ts";
import type { Inputs } from "../../../src/protocol/inputs.ts";
import { GUEST_BACKUP_DIR, GUEST_JOURNAL, NO_PASSWORD_DROPINS, SENTINEL_LOG, SENTINEL_SCRIPT, stage2Path } from "../../../src/protocol/files.ts";
import { Stage2Result } from "../../../src/protocol/schemas.ts";
import { WATCHDOG_SERVICE_PATH, WATCHDOG_TIMER_PATH, WATCHDOG_WANTS } from "../../../src/fixups/sentinel.ts";
import { parseStage2Blocks } from "../../../src/manager/stage2.ts";
import { Logger } from "../../../src/util/log.ts";
import { fingerprint } from "../../helpers/tree.ts";
import { REPO } from "../../helpers/tree.ts";

export const STAGE2_STEPS = ["stage2-state", "single-user", "selinux", "foreign-tools", "sentinel", "verify"];

/** The checkpoints of the sentinel, in order, read from the script itself. */
export const CHECKPOINTS: string[] = [...readFileSync(join(REPO, "src/sentinel/stage2.sh"), "utf8").matchAll(/^\s*checkpoint ([a-z-]+)$/gm)].map((m) => m[1]!);

export function needRoot(what: string): void {
  if (process.getuid?.() !== 0) throw new Error(`${what} needs root (chroot, mounts); run the integration tests as root`);
}

export async function stage1(root: string, inputs: Inputs): Promise<void> {
  const log = new Logger();
  const r = await runStage1({ root, inputs, mode: "apply", log, only: STAGE2_STEPS, exec: async () => ({ exitCode: 0, output: "", timedOut: false }) });
  assert.equal(r.result.status, "succeeded", `stage 1: ${r.result.message}\n${log.lines.join("\n")}`);
}

/** Chroot binds (/dev, /proc, /sys) with a private tmpfs /run: the host's /run must not leak in (a systemd host would let package scripts talk to it). */
export async function withChrootBinds<T>(root: string, fn: () => Promise<T>): Promise<T> {
  const release = await bindChrootDirs(root);
  const run = join(root, "run");
  let tmpfs = false;
  try {
    await execa("mount", ["-t", "tmpfs", "-o", "mode=755", "osam-run", run]);
    tmpfs = true;
    return await fn();
  } finally {
    // stacked on the /run bind: it must go first, or the release only unmounts this one
    if (tmpfs) {
      const r = await execa("umount", ["-R", run], { reject: false });
      if (r.exitCode !== 0) await execa("umount", ["-R", "-l", run], { reject: false });
    }
    await release();
  }
}

/** Makes a package-based guest tree safe for package scripts in a chroot: no daemon starts. */
export async function noDaemons(root: string): Promise<void> {
  await mkdir(join(root, "usr/sbin"), { recursive: true });
  await writeFile(join(root, "usr/sbin/policy-rc.d"), "#!/bin/sh\n# test chroot: package scripts start no daemons\nexit 101\n");
  await chmod(join(root, "usr/sbin/policy-rc.d"), 0o755);
}

/** The host's static busybox, put into the guest for `busybox sh` runs. */
export const GUEST_BUSYBOX = "/usr/local/bin/busybox";
export async function addBusybox(root: string): Promise<void> {
  await mkdir(join(root, "usr/local/bin"), { recursive: true });
  await copyFile("/bin/busybox", join(root, GUEST_BUSYBOX.slice(1)));
  await chmod(join(root, GUEST_BUSYBOX.slice(1)), 0o755);
}

/**
 * Whether a guest path exists as an entry (a link counts, dangling or not). existsSync would
 * follow an absolute link onto the host's own files.
 */
export function present(root: string, guestPath: string): boolean {
  try {
    lstatSync(join(root, guestPath.replace(/^\//, "")));
    return true;
  } catch {
    return false;
  }
}

export const POWEROFF_MARK = "/osam-test-poweroff";
/** Where the tests make the sentinel print its result instead of the host's consoles. */
export const CONSOLE_FILE = "/osam-test-console";

export interface SentinelRun {
  /** Mounts the sentinel made in the guest and left behind (the tools medium). */
  leftMounts: string[];
  exitCode: number | undefined;
  signal: string | undefined;
  output: string;
}

/** Runs the installed sentinel in the guest (chroot binds around it) with `shell` (argv), test overrides in env. */
export async function runSentinel(root: string, shell: string[], env: Record<string, string> = {}, timeoutMs = 600_000): Promise<SentinelRun> {
  let leftMounts: string[] = [];
  const r = await withChrootBinds(root, async () => {
    const res = await execa("chroot", [root, ...shell, SENTINEL_SCRIPT], {
    reject: false,
    all: true,
    stdin: "ignore",
    extendEnv: false,
    timeout: timeoutMs,
    killSignal: "SIGKILL",
    env: {
      PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
      LANG: "C",
      HOME: "/root",
      OSAM_POWEROFF: `touch ${POWEROFF_MARK}`,
      OSAM_CDROM_WAIT: "0",
      OSAM_CONSOLE: CONSOLE_FILE,
      ...env,
    },
    });
    // what the sentinel mounted itself and left behind (the binds are ours)
    const binds = ["dev", "proc", "sys", "run"].map((d) => join(root, d));
    leftMounts = readFileSync("/proc/self/mountinfo", "utf8").split("\n").map((l) => l.split(" ")[4] ?? "")
      .filter((m) => m.startsWith(root + "/") && !binds.some((b) => m === b || m.startsWith(b + "/")) && !m.startsWith(join(root, "mnt/osam-tools-test")));
    const osamRun = readFileSync("/proc/self/mountinfo", "utf8").split("\n").map((l) => l.split(" ")[4] ?? "").filter((m) => m.startsWith(join(root, "run/osam-tools")));
    leftMounts.push(...osamRun);
    return res;
  });
  return { exitCode: r.exitCode, signal: r.signal, output: String(r.all ?? ""), leftMounts };
}

export async function sentinelLog(root: string): Promise<string> {
  const p = join(root, SENTINEL_LOG.slice(1));
  return existsSync(p) ? readFile(p, "utf8") : "";
}

export async function statusWord(root: string): Promise<string | undefined> {
  const p = join(root, stage2Path("status").slice(1));
  return existsSync(p) ? (await readFile(p, "utf8")).split(" ")[0] : undefined;
}

/** Files whose content legitimately differs between two runs reaching the same end. */
export function volatile(rel: string): boolean {
  const under = (d: string) => rel === d || rel.startsWith(d + "/");
  return (
    ["proc", "sys", "dev", "run", "tmp", "media", "mnt", "var/log", "var/cache", "var/tmp", "var/lib/dpkg", "var/lib/apt", "var/lib/ucf"].some(under) ||
    rel === GUEST_JOURNAL.slice(1) ||
    under(GUEST_BACKUP_DIR.slice(1)) ||
    rel === stage2Path("status").slice(1) ||
    rel === "etc/ld.so.cache" ||
    rel === POWEROFF_MARK.slice(1) ||
    rel === CONSOLE_FILE.slice(1) ||
    rel === stage2Path("result").slice(1) ||
    /\.dpkg-(old|new|dist|tmp)$/.test(rel)
  );
}

/** The guest's end state: its files (volatile ones left out) and the installed packages. */
export async function endState(root: string): Promise<{ files: Map<string, string>; packages: string; status: string | undefined }> {
  let packages = "";
  if (existsSync(join(root, "var/lib/dpkg/status"))) {
    const r = await execa("chroot", [root, "dpkg-query", "-W", "-f", "${Package} ${Version} ${Status}\\n"], { reject: false });
    packages = String(r.stdout);
  }
  return { files: await fingerprint(root, volatile), packages, status: await statusWord(root) };
}

/** Every way to a root shell without a password that stage 1 may open (systemd drop-ins; RHEL 6's SINGLE=/sbin/sushell). */
export function passwordlessLeft(root: string): string[] {
  const left: string[] = NO_PASSWORD_DROPINS.filter((d) => present(root, d));
  const sysinit = join(root, "etc/sysconfig/init");
  if (existsSync(sysinit) && /^\s*SINGLE\s*=\s*\/sbin\/sushell/m.test(readFileSync(sysinit, "utf8"))) left.push("/etc/sysconfig/init: SINGLE=/sbin/sushell");
  return left;
}

/** The stage-2 result the sentinel wrote in the guest (schema-checked), or undefined. */
export function stage2Result(root: string): Stage2Result | undefined {
  const p = join(root, stage2Path("result").slice(1));
  return existsSync(p) ? Stage2Result.parse(JSON.parse(readFileSync(p, "utf8"))) : undefined;
}

/** The results the sentinel printed on its console (the test file), schema-checked, in order. */
export function consoleResults(root: string): Stage2Result[] {
  const p = join(root, CONSOLE_FILE.slice(1));
  return existsSync(p) ? parseStage2Blocks(readFileSync(p, "utf8")).map((b) => b.result) : [];
}

/** Asserts what every successful stage 2 leaves: sentinel and its units gone, status done, powered off. */
export async function assertStage2Done(root: string, what: string): Promise<void> {
  const log = await sentinelLog(root);
  assert.equal(await statusWord(root), "done", `${what}: status\n${log}`);
  assert.ok(existsSync(join(root, POWEROFF_MARK.slice(1))), `${what}: poweroff was not requested\n${log}`);
  for (const p of [SENTINEL_SCRIPT, stage2Path("manifest"), "/etc/systemd/system/osam-sentinel.service", "/etc/systemd/system/rescue.target.wants/osam-sentinel.service", "/etc/systemd/system/multi-user.target.wants/osam-sentinel.service", "/etc/init.d/osam-sentinel", "/etc/rc1.d/S00osam-sentinel", "/etc/rc3.d/S99osam-sentinel", ...NO_PASSWORD_DROPINS, ...WATCHDOG_WANTS, WATCHDOG_TIMER_PATH, WATCHDOG_SERVICE_PATH, "/etc/init.d/osam-console-watchdog", "/etc/rc1.d/S00osam-console-watchdog", stage2Path("defaultTarget"), stage2Path("initdefault"), stage2Path("selinuxMode"), stage2Path("sysconfigSingle")]) {
    assert.equal(present(root, p), false, `${what}: ${p} is still there`);
  }
  assert.ok(existsSync(join(root, GUEST_JOURNAL.slice(1))), `${what}: stage 1's journal (and backups) must stay for the user`);
  assert.match(log, /stage 2 complete; powering off/, `${what}: log`);
  assert.deepEqual(passwordlessLeft(root), [], `${what}: a root shell without a password is left`);
  const r = stage2Result(root);
  assert.ok(r, `${what}: no ${stage2Path("result")}`);
  assert.notEqual(r.status, "failed", `${what}: result ${JSON.stringify(r)}`);
  assert.equal(r.guestState, "restored");
  assert.equal(r.targetRestored, true);
  assert.equal(r.consoleSecured, true);
  assert.equal(r.powerOff, "requested");
  assert.deepEqual(consoleResults(root).at(-1), r, `${what}: the result printed on the console is the one in the guest`);
}

/** Builds (or finds cached) the tools ISO for a Debian suite with scripts/build-tools-iso.sh. */
export async function toolsIso(suite: string): Promise<string> {
  const r = await execa("bash", [join(REPO, "scripts/build-tools-iso.sh"), suite], { reject: false, stderr: "inherit", timeout: 30 * 60_000 });
  const iso = String(r.stdout).trim().split("\n").pop() ?? "";
  assert.equal(r.exitCode, 0, `build-tools-iso.sh ${suite} failed`);
  assert.ok(existsSync(iso), `no ISO at ${iso}`);
  return iso;
}

// ---- small guests from the golden trees (no image build): busybox as the userland ----

export const GOLDEN = new URL("../../golden/sentinel/", import.meta.url).pathname;
const gp = (root: string, p: string) => join(root, p.replace(/^\//, ""));
export type GoldenGuest = "rhel8-systemd" | "rhel6-sysv";

/** A golden tree with busybox applets as its commands, after stage 1 (its own inputs, options merged in, then `edit`). */
export async function goldenGuest(name: GoldenGuest, options: FixupOptionsInput = {}, edit: (inputs: Inputs) => void = () => {}): Promise<string> {
  needRoot("running the sentinel in a busybox guest");
  const root = await copyTree(join(GOLDEN, name, "root"), `osam-bb-${name}-`);
  await addBusybox(root);
  for (const d of ["bin", "sbin", "usr/bin", "usr/sbin", "tmp", "var/log"]) await mkdir(gp(root, d), { recursive: true });
  // applets where the guest has nothing (the golden trees' placeholders stay)
  await execa("chroot", [root, GUEST_BUSYBOX, "--install", "-s"]);
  const inputs = await loadCaseInputs(join(GOLDEN, name, "inputs"));
  inputs.system.options = { ...inputs.system.options, ...options };
  edit(inputs);
  await stage1(root, inputs);
  return root;
}

type FixupOptionsInput = NonNullable<Inputs["system"]["options"]>;

/** The host's dash and the libraries it needs, put into a busybox guest for `dash` runs. */
export const GUEST_DASH = "/usr/local/bin/dash";
export async function addDash(root: string): Promise<void> {
  const ldd = await execa("ldd", ["/bin/dash"]);
  const libs = [...String(ldd.stdout).matchAll(/(\/\S+\.so[.\d]*)/g)].map((m) => m[1]!);
  for (const lib of libs) {
    await mkdir(gp(root, lib.slice(0, lib.lastIndexOf("/"))), { recursive: true });
    await copyFile(lib, gp(root, lib));
  }
  await copyFile("/bin/dash", gp(root, GUEST_DASH));
  await chmod(gp(root, GUEST_DASH), 0o755);
}

/** A VMware Tools tarball whose installer (run through a stand-in perl) installs vmtoolsd; returns the guest directory holding it. */
export async function tarballMedia(root: string): Promise<string> {
  const media = "/media/vmware-tools";
  const src = await tempDir("osam-vmtools-src-");
  try {
    await mkdir(join(src, "vmware-tools-distrib"), { recursive: true });
    await writeFile(join(src, "vmware-tools-distrib/vmware-install.pl"), "#!/usr/bin/perl\n# test stand-in: installs a vmtoolsd\nmkdir -p /usr/bin /etc/vmware-tools\nprintf '#!/bin/sh\\necho vmtoolsd\\n' > /usr/bin/vmtoolsd\nchmod 755 /usr/bin/vmtoolsd\necho \"installed with: $*\" > /etc/vmware-tools/installed-by\n");
    await chmod(join(src, "vmware-tools-distrib/vmware-install.pl"), 0o755);
    await mkdir(gp(root, media), { recursive: true });
    await execa("tar", ["-czf", gp(root, `${media}/VMwareTools-10.3.26-12345.tar.gz`), "-C", src, "vmware-tools-distrib"]);
  } finally {
    await removeTree(src);
  }
  await writeFile(gp(root, "/usr/bin/perl"), "#!/bin/sh\n# test stand-in for perl: the fake installer is sh\nexec /bin/sh \"$@\"\n");
  await chmod(gp(root, "/usr/bin/perl"), 0o755);
  return media;
}

/** A medium that has tools, but none for this guest: RPMs only, no tarball (the guest has no rpm database). */
export async function foreignMedia(root: string): Promise<string> {
  const media = "/media/rpm-only";
  await mkdir(gp(root, `${media}/rpm/el9`), { recursive: true });
  await writeFile(gp(root, `${media}/rpm/el9/open-vm-tools-12.3.0-1.el9.x86_64.rpm`), "not a real rpm\n");
  return media;
}

/** A guest that already has VMware Tools. */
export async function vmtoolsdPresent(root: string): Promise<void> {
  await mkdir(gp(root, "/usr/bin"), { recursive: true });
  await writeFile(gp(root, "/usr/bin/vmtoolsd"), "#!/bin/sh\necho vmtoolsd\n");
  await chmod(gp(root, "/usr/bin/vmtoolsd"), 0o755);
}
