// Shared pieces of the sentinel's integration tests: stage 1 (the stage-2 steps only) on a
// guest tree, the sentinel run for real inside it with chroot, and a summary of the guest's
// end state that two runs can be compared by.
import assert from "node:assert/strict";
import { execa } from "execa";
import { existsSync, lstatSync, readFileSync } from "node:fs";
import { chmod, copyFile, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { runStage1 } from "../../../src/agent/stage1.ts";
import { bindChrootDirs } from "../../../src/guest/binds.ts";
import type { Inputs } from "../../../src/protocol/inputs.ts";
import { GUEST_BACKUP_DIR, GUEST_JOURNAL, SENTINEL_LOG, SENTINEL_SCRIPT, stage2Path } from "../../../src/protocol/files.ts";
import { Logger } from "../../../src/util/log.ts";
import { fingerprint } from "../../helpers/tree.ts";
import { REPO } from "../../helpers/tree.ts";

export const STAGE2_STEPS = ["stage2-state", "single-user", "selinux", "foreign-tools", "sentinel"];

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

/** Asserts what every successful stage 2 leaves: sentinel and its units gone, status done, powered off. */
export async function assertStage2Done(root: string, what: string): Promise<void> {
  const log = await sentinelLog(root);
  assert.equal(await statusWord(root), "done", `${what}: status\n${log}`);
  assert.ok(existsSync(join(root, POWEROFF_MARK.slice(1))), `${what}: poweroff was not requested\n${log}`);
  for (const p of [SENTINEL_SCRIPT, stage2Path("manifest"), "/etc/systemd/system/osam-sentinel.service", "/etc/systemd/system/rescue.target.wants/osam-sentinel.service", "/etc/systemd/system/multi-user.target.wants/osam-sentinel.service", "/etc/init.d/osam-sentinel", "/etc/rc1.d/S00osam-sentinel", "/etc/rc3.d/S99osam-sentinel", "/etc/systemd/system/rescue.service.d/osam-no-password.conf", "/etc/systemd/system/emergency.service.d/osam-no-password.conf", stage2Path("defaultTarget"), stage2Path("initdefault"), stage2Path("selinuxMode"), stage2Path("sysconfigSingle")]) {
    assert.equal(present(root, p), false, `${what}: ${p} is still there`);
  }
  assert.ok(existsSync(join(root, GUEST_JOURNAL.slice(1))), `${what}: stage 1's journal (and backups) must stay for the user`);
  assert.match(log, /stage 2 complete; powering off/, `${what}: log`);
}

/** Builds (or finds cached) the tools ISO for a Debian suite with scripts/build-tools-iso.sh. */
export async function toolsIso(suite: string): Promise<string> {
  const r = await execa("bash", [join(REPO, "scripts/build-tools-iso.sh"), suite], { reject: false, stderr: "inherit", timeout: 30 * 60_000 });
  const iso = String(r.stdout).trim().split("\n").pop() ?? "";
  assert.equal(r.exitCode, 0, `build-tools-iso.sh ${suite} failed`);
  assert.ok(existsSync(iso), `no ISO at ${iso}`);
  return iso;
}
