// The sentinel run for real in Debian chroot images, against a tools ISO built from Debian's
// open-vm-tools .deb and its dependencies (scripts/build-tools-iso.sh): a systemd layout
// (the image as it is, plus an enforcing SELinux config) and a SysV layout (systemd taken out,
// a Debian sysvinit inittab put in), each under dash and under busybox sh, the ISO's files handed
// over as a filesystem image (loop-mounted by the sentinel) or as a mounted directory. Then a power cut
// at every checkpoint and one in the middle of dpkg. Needs root and the images helper's
// deb12-itools image (built on first use).
import { test } from "node:test";
import assert from "node:assert/strict";
import { execa } from "execa";
import { existsSync } from "node:fs";
import { mkdir, readFile, readlink, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { ensureRootfs, imageMeta, withOverlay, type Variant } from "../../helpers/images.ts";
import { loadCaseInputs } from "../../helpers/golden.ts";
import { diffPrints } from "../../helpers/tree.ts";
import { SENTINEL_SCRIPT } from "../../../src/protocol/files.ts";
import { present, toolsIso, CHECKPOINTS, GUEST_BUSYBOX, addBusybox, sentinelLog, assertStage2Done, endState, needRoot, noDaemons, runSentinel, stage1, withChrootBinds } from "./harness.ts";
import { slowOnly } from "../../helpers/slow.ts";

const VARIANT: Variant = "deb12-itools";
const g = (root: string, p: string) => join(root, p.replace(/^\//, ""));
const NO_INPUTS = "/nonexistent-inputs-dir";
const DASH = ["/bin/dash"];
const BB = [GUEST_BUSYBOX, "sh"];
type Layout = "systemd" | "sysv";
type Source = "image-file" | "directory";

const SYSV_INITTAB = `# /etc/inittab: init(8) configuration (Debian sysvinit)
id:2:initdefault:
si::sysinit:/etc/init.d/rcS
~~:S:wait:/sbin/sulogin --force
l0:0:wait:/etc/init.d/rc 0
l1:1:wait:/etc/init.d/rc 1
l2:2:wait:/etc/init.d/rc 2
l3:3:wait:/etc/init.d/rc 3
l4:4:wait:/etc/init.d/rc 4
l5:5:wait:/etc/init.d/rc 5
l6:6:wait:/etc/init.d/rc 6
1:2345:respawn:/sbin/getty --noclear 38400 tty1
`;
const SELINUX = "# SELinux config as a RHEL guest has it\nSELINUX=enforcing\nSELINUXTYPE=targeted\n";

const isos = new Map<Variant, Promise<string>>();
function tools(variant: Variant): Promise<string> {
  let p = isos.get(variant);
  if (!p) {
    p = (async () => toolsIso((await imageMeta(variant)).suite))();
    isos.set(variant, p);
  }
  return p;
}

/** The image shaped as a systemd or SysV guest, with stage 1 applied. */
async function prepare(root: string, layout: Layout): Promise<void> {
  await noDaemons(root);
  await addBusybox(root);
  if (layout === "systemd") {
    await mkdir(g(root, "/etc/selinux"), { recursive: true });
    await writeFile(g(root, "/etc/selinux/config"), SELINUX);
  } else {
    // what inspect takes for SysV: no systemd binary, /sbin/init a plain file, an inittab
    await rename(g(root, "/usr/lib/systemd/systemd"), g(root, "/usr/lib/systemd/systemd.test-off"));
    await rm(g(root, "/usr/sbin/init"), { force: true });
    await writeFile(g(root, "/usr/sbin/init"), "placeholder for sysvinit's init\n");
    await writeFile(g(root, "/etc/inittab"), SYSV_INITTAB);
  }
  await stage1(root, await loadCaseInputs(NO_INPUTS));
}

/**
 * The ISO's content, extracted once with xorriso: this machine's kernel has no iso9660 (the
 * e2e tests mount the real ISO in a booted guest), so the tests hand the sentinel the same
 * files as a mounted directory or as a filesystem image it loop-mounts itself.
 */
const extracted = new Map<Variant, Promise<string>>();
function isoContent(variant: Variant): Promise<string> {
  let p = extracted.get(variant);
  if (p) return p;
  p = (async () => {
    const isoPath = await tools(variant);
    const dir = join("/var/tmp/osam-sentinel", `iso-${isoPath.split("/").slice(-2, -1)[0]}`);
    if (!existsSync(join(dir, ".done"))) {
      await rm(dir, { recursive: true, force: true });
      await mkdir(dir, { recursive: true });
      await execa("xorriso", ["-osirrox", "on", "-indev", isoPath, "-extract", "/", dir]);
      await writeFile(join(dir, ".done"), "");
    }
    return dir;
  })();
  extracted.set(variant, p);
  return p;
}

/** Hands the tools to the sentinel: a filesystem image in the guest, or a read-only directory. */
async function withSource<T>(root: string, source: Source, fn: (env: Record<string, string>) => Promise<T>, variant: Variant = VARIANT): Promise<T> {
  const content = await isoContent(variant);
  if (source === "image-file") {
    await execa("mkfs.ext4", ["-q", "-F", "-L", "OSAM_TOOLS", "-d", content, g(root, "/var/tmp/tools.img"), "96M"]);
    return fn({ OSAM_TOOLS_SOURCE: "/var/tmp/tools.img" });
  }
  const dir = "/mnt/osam-tools-test";
  await mkdir(g(root, dir), { recursive: true });
  await execa("mount", ["--bind", content, g(root, dir)]);
  await execa("mount", ["-o", "remount,bind,ro", g(root, dir)]);
  try {
    return await fn({ OSAM_TOOLS_SOURCE: dir });
  } finally {
    await execa("umount", [g(root, dir)], { reject: false });
  }
}

async function assertToolsInstalled(root: string, what: string): Promise<void> {
  const q = await execa("chroot", [root, "dpkg-query", "-W", "-f", "${Status}", "open-vm-tools"], { reject: false });
  assert.equal(q.stdout, "install ok installed", `${what}: open-vm-tools status`);
  assert.ok(present(root, "/usr/bin/vmtoolsd"), `${what}: vmtoolsd`);
  const audit = await execa("chroot", [root, "dpkg", "--audit"], { reject: false });
  assert.equal(audit.stdout.trim(), "", `${what}: dpkg --audit finds half-installed packages`);
}

for (const layout of ["systemd", "sysv"] as const) {
  for (const [shellName, shell, source] of [["dash", DASH, layout === "systemd" ? "image-file" : "directory"], ["busybox sh", BB, layout === "systemd" ? "directory" : "image-file"]] as const) {
    test(`${layout} layout, ${shellName}, tools as ${source}: tools installed, state restored, sentinel gone`, async () => {
      needRoot("the sentinel in a Debian chroot");
      const rootfs = await ensureRootfs(VARIANT);
      await withOverlay(rootfs, async (root) => {
        const origTarget = await readlink(g(root, "/etc/systemd/system/default.target")).catch(() => undefined);
        await prepare(root, layout);
        if (layout === "systemd") {
          // the unit, the password-less drop-ins and the console watchdog as this systemd (252) reads them
          await withChrootBinds(root, async () => {
            for (const u of ["osam-sentinel.service", "rescue.service", "emergency.service", "osam-console-watchdog.timer", "osam-console-watchdog.service"]) {
              const v = await execa("chroot", [root, "systemd-analyze", "--man=no", "verify", u], { reject: false, all: true });
              assert.equal(v.exitCode, 0, `systemd-analyze verify ${u}: ${String(v.all)}`);
            }
            const d = await execa("chroot", [root, "systemd-delta", "--no-pager", "--type=extended"], { reject: false });
            assert.match(d.stdout, /rescue\.service → \/etc\/systemd\/system\/rescue\.service\.d\/osam-no-password\.conf/);
          });
        }
        await withSource(root, source, async (env) => {
          const t0 = Date.now();
          const r = await runSentinel(root, [...shell], env);
          const secs = ((Date.now() - t0) / 1000).toFixed(1);
          assert.equal(r.exitCode, 0, (await sentinelLog(root)).slice(-4000));
          assert.deepEqual(r.leftMounts, [], "the sentinel unmounted the tools medium");
          process.stderr.write(`# sentinel ${layout}/${shellName}/${source}: ${secs} s\n`);
        });
        await assertStage2Done(root, `${layout}/${shellName}`);
        await assertToolsInstalled(root, `${layout}/${shellName}`);
        if (layout === "systemd") {
          assert.equal(await readlink(g(root, "/etc/systemd/system/default.target")).catch(() => undefined), origTarget, "default target restored");
          assert.equal(await readFile(g(root, "/etc/selinux/config"), "utf8"), SELINUX, "SELinux config restored byte for byte");
          assert.ok(present(root, "/.autorelabel"), "relabel requested");
          assert.match(await readlink(g(root, "/etc/systemd/system/multi-user.target.wants/open-vm-tools.service")).catch(() => ""), /open-vm-tools\.service$/, `open-vm-tools enabled\n${await sentinelLog(root)}`);
        } else {
          assert.equal(await readFile(g(root, "/etc/inittab"), "utf8"), SYSV_INITTAB, "inittab restored byte for byte");
          assert.equal(present(root, "/etc/init.d/osam-sentinel"), false);
          assert.equal(present(root, "/etc/rc1.d/S00osam-sentinel"), false);
        }
      });
    });
  }
}

for (const variant of ["deb11-itools", "deb13-itools"] as const) {
  test(`${variant}: systemd layout, dash, the suite's own tools ISO: tools installed, state restored, sentinel gone`, async () => {
    needRoot("the sentinel in a Debian chroot");
    await withOverlay(await ensureRootfs(variant), async (root) => {
      await prepare(root, "systemd");
      await withSource(root, "directory", async (env) => {
        const r = await runSentinel(root, DASH, env);
        assert.equal(r.exitCode, 0, (await sentinelLog(root)).slice(-4000));
        assert.deepEqual(r.leftMounts, []);
      }, variant);
      await assertStage2Done(root, variant);
      await assertToolsInstalled(root, variant);
      assert.equal(await readFile(g(root, "/etc/selinux/config"), "utf8"), SELINUX);
    });
  });
}

test("power cut at every checkpoint (dash, systemd layout): the rerun reaches the same end as an uninterrupted run", slowOnly("the busybox-guest sweep covers every checkpoint in CI"), async () => {
  needRoot("the sentinel in a Debian chroot");
  const rootfs = await ensureRootfs(VARIANT);
  const want = await withOverlay(rootfs, async (root) => {
    await prepare(root, "systemd");
    await withSource(root, "directory", async (env) => assert.equal((await runSentinel(root, DASH, env)).exitCode, 0));
    return endState(root);
  });
  assert.match(want.packages, /^open-vm-tools \S+ install ok installed$/m);
  for (const cp of CHECKPOINTS) {
    await withOverlay(rootfs, async (root) => {
      await prepare(root, "systemd");
      await withSource(root, "directory", async (env) => {
        const cut = await runSentinel(root, DASH, { ...env, OSAM_CRASH_AT: cp });
        assert.equal(cut.signal, "SIGKILL", `${cp}: not killed\n${cut.output}`);
        if (existsSync(g(root, SENTINEL_SCRIPT))) {
          const again = await runSentinel(root, DASH, env);
          assert.equal(again.exitCode, 0, `${cp}: rerun\n${again.output}`);
        } else assert.equal(cp, CHECKPOINTS[CHECKPOINTS.length - 1], `${cp}: script gone too early`);
      });
      const got = await endState(root);
      assert.deepEqual(diffPrints(want.files, got.files), [], `${cp}: files differ from the uninterrupted run`);
      assert.equal(got.packages, want.packages, `${cp}: installed packages differ`);
      assert.equal(got.status, "done", cp);
    });
  }
});

test("power cut in the middle of dpkg (the whole chroot killed): the rerun repairs dpkg and reaches the same end", async () => {
  needRoot("the sentinel in a Debian chroot");
  const rootfs = await ensureRootfs(VARIANT);
  await withOverlay(rootfs, async (root) => {
    await prepare(root, "systemd");
    await withSource(root, "directory", async (env) => {
      // started the way runSentinel does, but killed (process group, SIGKILL) once dpkg is busy
      await withChrootBinds(root, async () => {
        const child = execa("chroot", [root, ...DASH, SENTINEL_SCRIPT], { reject: false, detached: true, all: true, extendEnv: false, env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", OSAM_POWEROFF: "true", ...env } });
        const t0 = Date.now();
        for (;;) {
          const log = present(root, "/var/log/dpkg.log") ? await readFile(g(root, "/var/log/dpkg.log"), "utf8") : "";
          if (/status unpacked/.test(log.split("\n").slice(-200).join("\n")) && /installing \d+ package/.test(await readFile(g(root, "/var/log/osam-sentinel.log"), "utf8").catch(() => ""))) break;
          if (Date.now() - t0 > 120_000) throw new Error("dpkg never got busy");
          await new Promise((r) => setTimeout(r, 100));
        }
        process.kill(-child.pid!, "SIGKILL");
        await child;
      });
      const half = await execa("chroot", [root, "dpkg", "--audit"], { reject: false });
      process.stderr.write(`# after the cut, dpkg --audit: ${half.stdout.split("\n").filter(Boolean).length} line(s)\n`);
      const again = await runSentinel(root, DASH, env);
      assert.equal(again.exitCode, 0, again.output);
    });
    await assertStage2Done(root, "after a cut inside dpkg");
    await assertToolsInstalled(root, "after a cut inside dpkg");
  });
});
