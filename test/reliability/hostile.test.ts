// Issue 8: the guest's own files are untrusted. Links that point at / or at the fixup
// environment, '..', loops, device nodes and FIFOs where files are expected, names with
// spaces, newlines, quotes, $(...) and leading dashes: no write may land outside the guest
// root, nothing may hang, and nothing may run through a shell.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, realpathSync } from "node:fs";
import { cp, mkdir, readFile, readlink, rm, symlink, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { runAgent } from "../../src/agent/agent.ts";
import { FIXUP_FILES } from "../../src/protocol/files.ts";
import { CODES } from "../../src/protocol/codes.ts";
import { Result } from "../../src/protocol/schemas.ts";
import { rollback } from "./lib/run.ts";
import { realDisks } from "../../src/bootloader/boot-area.ts";
import { SAMPLE, SKIP_CHROOT, diffPrints, fingerprint, tempDir } from "../helpers/tree.ts";

interface Env {
  /** Stands for the fixup VM's own file system around the guest. */
  host: string;
  guest: string;
  fixup: string;
}

async function env(): Promise<Env> {
  const host = await tempDir("osam-hostile-");
  await mkdir(join(host, "etc"), { recursive: true });
  await writeFile(join(host, "etc/fstab"), "fixup disk's own fstab\n");
  await writeFile(join(host, "canary"), "fixup disk file\n");
  await mkdir(join(host, "tmp/fixup"), { recursive: true });
  const guest = join(host, "mnt/guest");
  await mkdir(join(host, "mnt"), { recursive: true });
  await cp(join(SAMPLE, "root"), guest, { recursive: true, verbatimSymlinks: true });
  const fixup = join(host, "tmp/fixup");
  for (const f of ["system-configuration.json", "replica-disk-map.json", "network-interface-map.json"]) await cp(join(SAMPLE, "inputs", f), join(fixup, f));
  await writeFile(join(fixup, FIXUP_FILES.begin), "");
  return { host, guest, fixup };
}

const outsideGuest = (rel: string) => rel === "mnt/guest" || rel.startsWith("mnt/guest/") || rel.startsWith("tmp/fixup");

/** What a hostile case must end in: success or refusal (with its code), and what the guest then holds. */
interface Expect {
  ok: boolean;
  code?: number;
  /** Checks on the guest after the run, before it is removed. */
  guest?: (e: Env, r: Result) => Promise<void>;
}

async function runHostile(name: string, plant: (e: Env) => Promise<void>, expect: Expect): Promise<Result> {
  const e = await env();
  try {
    await plant(e);
    const before = await fingerprint(e.host, outsideGuest);
    const exit = await runAgent({ fixupDir: e.fixup, root: e.guest, noWait: true, skip: SKIP_CHROOT[1]!.split(",") });
    const result = Result.parse(JSON.parse(await readFile(join(e.fixup, FIXUP_FILES.result), "utf8")));
    assert.deepEqual(diffPrints(before, await fingerprint(e.host, outsideGuest)), [], `${name}: nothing outside the guest root changed`);
    assert.notEqual(result.code, CODES.INTERNAL.code, `${name}: ${result.message}`);
    assert.equal(result.status === "succeeded", expect.ok, `${name}: ${result.message}`);
    if (expect.code !== undefined) assert.equal(result.code, expect.code, `${name}: ${result.message}`);
    assert.equal(exit === 0, result.status === "succeeded");
    for (const p of [join(e.host, "pwned"), "/tmp/osam-pwned"]) assert.equal(existsSync(p), false, `${name}: a guest string was run by a shell (${p})`);
    await expect.guest?.(e, result);
    return result;
  } finally {
    await rm(e.host, { recursive: true, force: true });
  }
}

/** The sample guest's fstab as device-refs leaves it: every /dev/vd* name of a known device by UUID. */
async function assertFstabFixed(file: string, what: string): Promise<void> {
  const t = await readFile(file, "utf8");
  assert.doesNotMatch(t, /^\/dev\/vd/m, `${what} still names /dev/vd* devices:\n${t}`);
  assert.match(t, /^UUID=\S+\s+\/\s+ext4/m, `${what}: root is not by UUID:\n${t}`);
}

test("/etc/fstab as a link that climbs out with '..' is edited inside the guest", async () => {
  await runHostile("fstab ../..", async (e) => {
    await cp(join(e.guest, "etc/fstab"), join(e.guest, "fstab.real"));
    await rm(join(e.guest, "etc/fstab"));
    await symlink("../../../../../../../fstab.real", join(e.guest, "etc/fstab"));
  }, { ok: true, guest: (e) => assertFstabFixed(join(e.guest, "fstab.real"), "the guest's /fstab.real, where its /etc/fstab leads") });
});

test("/etc/fstab as an absolute link to the fixup disk's own fstab is re-rooted into the guest", async () => {
  // the link names a path of the fixup VM; read as the guest reads it, it leads to the guest's
  // own file of that name, which is the one edited
  await runHostile("fstab -> host path", async (e) => {
    const target = join(e.host, "etc/fstab");
    await mkdir(join(e.guest, e.host, "etc"), { recursive: true });
    await cp(join(e.guest, "etc/fstab"), join(e.guest, target));
    await rm(join(e.guest, "etc/fstab"));
    await symlink(target, join(e.guest, "etc/fstab"));
  }, {
    ok: true,
    guest: async (e) => {
      assert.equal(await readlink(join(e.guest, "etc/fstab")), join(e.host, "etc/fstab"), "the link itself is kept");
      await assertFstabFixed(join(e.guest, e.host, "etc/fstab"), "the guest's fstab at the re-rooted path");
    },
  });
});

test("/etc/fstab as an absolute link to a path the guest does not have: no fstab, said so, nothing written through it", async () => {
  await runHostile("fstab -> host path, absent in the guest", async (e) => {
    await rm(join(e.guest, "etc/fstab"));
    await symlink(join(e.host, "etc/fstab"), join(e.guest, "etc/fstab"));
  }, {
    ok: true,
    guest: async (e, r) => {
      assert.ok(r.warnings.includes("device-refs: the guest has no /etc/fstab"), `warnings: ${JSON.stringify(r.warnings)}`);
      assert.equal(existsSync(join(e.guest, e.host, "etc/fstab")), false, "an fstab was created at the re-rooted path");
    },
  });
});

test("links to / and a /boot that is a link stay inside the guest", async () => {
  await runHostile("/boot -> /", async (e) => {
    await cp(join(e.guest, "boot"), join(e.guest, "realboot"), { recursive: true });
    await rm(join(e.guest, "boot"), { recursive: true });
    await symlink("/realboot", join(e.guest, "boot"));
    await symlink("/", join(e.guest, "etc/rootlink"));
    await symlink("../../..", join(e.guest, "etc/up"));
  }, { ok: true });
});

test("the data directory planted as a link to a host path is confined: the data lands where the guest's link leads in the guest", async () => {
  await runHostile("/opt/vmware -> host path", async (e) => {
    await symlink("/", join(e.guest, "opt-link"));
    await mkdir(join(e.guest, "opt"), { recursive: true });
    await symlink(e.host, join(e.guest, "opt/vmware"));
  }, {
    ok: true,
    guest: async (e) => {
      // the guest, booted, follows its /opt/vmware link to the same place
      const data = join(e.guest, e.host, "hcx/osam/data");
      assert.ok(existsSync(join(data, "journal.jsonl")), `no journal at the re-rooted ${data}`);
      assert.ok(existsSync(join(e.guest, e.host, "hcx/osam/bin/osam-sentinel")), "no sentinel at the re-rooted path");
      assert.equal(await readlink(join(e.guest, "opt/vmware")), e.host, "the guest's link itself is kept");
    },
  });
});

test("a journal planted as a link is refused, not followed", async () => {
  await runHostile("journal link", async (e) => {
    await mkdir(join(e.guest, "opt/vmware/hcx/osam/data"), { recursive: true });
    await symlink(join(e.host, "canary"), join(e.guest, "opt/vmware/hcx/osam/data/journal.jsonl"));
  }, { ok: false, code: CODES.GUEST_UNSAFE.code });
});

test("link loops fail cleanly", async () => {
  const r = await runHostile("loop", async (e) => {
    await rm(join(e.guest, "etc/fstab"));
    await symlink("/etc/fstab2", join(e.guest, "etc/fstab"));
    await symlink("/etc/fstab", join(e.guest, "etc/fstab2"));
  }, { ok: false });
  assert.match(r.message, /too many levels of symbolic links/);
});

test("a device node where /etc/fstab should be is refused", async () => {
  const r = await runHostile("char device", async (e) => {
    await rm(join(e.guest, "etc/fstab"));
    execFileSync("mknod", [join(e.guest, "etc/fstab"), "c", "1", "3"]);
  }, { ok: false });
  assert.match(r.message, /not a regular file/);
});

test("a FIFO where /etc/default/grub should be does not hang the agent", async () => {
  const r = await runHostile("fifo", async (e) => {
    await rm(join(e.guest, "etc/default/grub"));
    execFileSync("mkfifo", [join(e.guest, "etc/default/grub")]);
  }, { ok: false });
  assert.match(r.message, /not a regular file/);
});

test("file and interface names with spaces, newlines, quotes, $(...) and leading dashes", async () => {
  const odd: Record<string, string> = { "ens3 $(touch pwned)": "auto ens9\niface ens9 inet dhcp\n", "-rf": "auto ens10\niface ens10 inet dhcp\n", "new\nline": "auto 'x'\n" };
  await runHostile("names", async (e) => {
    const d = join(e.guest, "etc/network/interfaces.d");
    for (const [n, t] of Object.entries(odd)) await writeFile(join(d, n), t);
    await writeFile(join(e.guest, "etc/network/interfaces"), (await readFile(join(e.guest, "etc/network/interfaces"), "utf8")) + '\nauto $(touch /tmp/osam-pwned)\niface "$(touch /tmp/osam-pwned)" inet dhcp\n\tpre-up touch /tmp/osam-pwned\n');
    await writeFile(join(e.guest, "etc/fstab"), (await readFile(join(e.guest, "etc/fstab"), "utf8")) + "/dev/vdb2 /mnt/$(touch\\040pwned) ext4 defaults 0 2\n-/dev/vdc1 /x ext4 defaults 0 0\n");
  }, {
    // the odd names are data: the run succeeds, what it does not know it leaves as it is and says so
    ok: true,
    guest: async (e, r) => {
      for (const [n, t] of Object.entries(odd)) assert.equal(await readFile(join(e.guest, "etc/network/interfaces.d", n), "utf8"), t, `${JSON.stringify(n)} was changed`);
      for (const [nic, file] of [["ens9", "ens3 $(touch pwned)"], ["ens10", "-rf"], ["'x'", "new\nline"]]) {
        assert.ok(r.warnings.some((w) => w.startsWith(`network: ${nic} is configured in the guest (/etc/network/interfaces.d/${file})`)), `no warning for ${nic} in ${file}: ${JSON.stringify(r.warnings)}`);
      }
      const fstab = await readFile(join(e.guest, "etc/fstab"), "utf8");
      assert.match(fstab, /^\/dev\/sdb2 \/mnt\/\$\(touch\\040pwned\) ext4 defaults 0 2$/m, "the odd mount point is kept literally, its device renamed");
      assert.match(fstab, /^-\/dev\/vdc1 \/x ext4 defaults 0 0$/m, "a line that is no device reference is left alone");
      assert.ok(r.warnings.some((w) => w.includes("/mnt/$(touch pwned): no UUID is known for /dev/vdb2")), `warnings: ${JSON.stringify(r.warnings)}`);
      await assertFstabFixed(join(e.guest, "etc/fstab"), "the guest's fstab");
    },
  });
});

test("a journal planted in the guest cannot make rollback write boot code to a disk the guest is not on", async () => {
  // a real whole disk of this machine: the host's own, or a loop device
  const sys = readdirSync("/sys/dev/block").find((d) => !existsSync(`/sys/dev/block/${d}/partition`) && existsSync(`/dev/${basename(realpathSync(`/sys/dev/block/${d}`))}`));
  assert.ok(sys, "no block device in /sys/dev/block with a node in /dev");
  const device = `/dev/${basename(realpathSync(`/sys/dev/block/${sys}`))}`;
  const e = await env();
  const head = realDisks.read(device, [[0, 1024]]);
  const data = "/opt/vmware/hcx/osam/data";
  await mkdir(join(e.guest, data, "backup/@disks"), { recursive: true });
  await writeFile(join(e.guest, data, "backup/@disks/x.boot-area"), Buffer.alloc(440, 0xcc));
  const entries = [
    { t: "run", startedAt: new Date().toISOString(), version: "planted" },
    { t: "disk", device, size: 0, ranges: [[0, 440]], identity: "0".repeat(64), backup: `${data}/backup/@disks/x.boot-area` },
  ];
  await writeFile(join(e.guest, data, "journal.jsonl"), entries.map((x) => JSON.stringify(x) + "\n").join(""));
  const r = await rollback(e.guest);
  assert.equal(r.code, 1, `rollback should say it did not restore everything: ${r.stderr}`);
  assert.match(r.stderr, new RegExp(`the boot code on ${device} was not restored: ${device} holds none of the guest's mounted file systems`));
  assert.ok(realDisks.read(device, [[0, 1024]]).equals(head), `${device} was written`);
});
