// A booted guest as the first-boot verification (src/sentinel/verify.sh) sees it, without a
// VM: a tree with the sysfs, procfs and /etc files it reads (OSAM_VERIFY_ROOT), and stub
// commands (OSAM_VERIFY_PATH) that answer from files in a state directory, so that a test
// changes what the guest "has" by writing one file.
import { chmod, mkdir, symlink, writeFile } from "node:fs/promises";
import { dirname, join, relative } from "node:path";

/** What the fake guest has; every field can be changed before a run. */
export interface FakeGuest {
  /** Kernel names of the root's stack: a dm device on a partition of a SCSI disk. */
  rootMajMin: string;
  rootUuid: string;
  /** The PCI driver of the root disk's controller. */
  driver: string;
  /** name -> MAC of the NICs in /sys/class/net. */
  nics: Record<string, string>;
  /** Ports of a bond (name -> own MAC in bonding_slave/perm_hwaddr); their `nics` MAC is the bond's. */
  bondPorts?: Record<string, string>;
  /** name -> the permanent address `ip -o link show dev NAME` prints (a team's port). */
  permAddrs?: Record<string, string>;
  /** name -> CIDRs that `ip -o addr show dev NAME` prints. */
  addresses: Record<string, string[]>;
  /** `ip route show default` lines (IPv4). */
  routes: string[];
  resolvConf: string;
  /** systemd-resolved's upstream resolv.conf (/run/systemd/resolve/resolv.conf), if any. */
  resolvedConf?: string;
  /** undefined: the guest does not run systemd (SysV: `runlevel` answers). */
  systemd?: { defaultTarget: string; failed: string[]; jobs: string[]; state: string; multiUser: boolean };
  runlevel: string;
  virt: string;
  /** What `systemd-detect-virt --cpuid` says, when it differs from the DMI-based answer. */
  virtCpuid?: string;
  /** false: the VMware backdoor answers but has no GuestRPC channel (QEMU's vmport). */
  guestRpc?: boolean;
  vmtoolsd: boolean;
}

export function healthyGuest(): FakeGuest {
  return {
    rootMajMin: "253:0",
    rootUuid: "0f3c8a2e-1b7d-4d6e-9a51-c2b8e4f7d901",
    driver: "vmw_pvscsi",
    nics: { eth0: "00:50:56:00:00:01", eth1: "00:50:56:00:00:02", lo: "00:00:00:00:00:00" },
    addresses: { eth0: ["10.0.2.15/24", "fd00::15/64", "fe80::250:56ff:fe00:1/64"], eth1: ["192.168.7.5/24"] },
    routes: ["default via 10.0.2.2 dev eth0 proto static metric 100"],
    resolvConf: "# Generated\nsearch example.test\nnameserver 10.0.2.3\n",
    systemd: { defaultTarget: "multi-user.target", failed: [], jobs: [], state: "running", multiUser: true },
    runlevel: "N 5",
    virt: "vmware",
    vmtoolsd: true,
  };
}

/** The expectations a stage 1 would write for healthyGuest(). */
export const HEALTHY_EXPECT = [
  "root-uuid 0f3c8a2e-1b7d-4d6e-9a51-c2b8e4f7d901",
  "root-driver vmw_pvscsi",
  "nic eth0 00:50:56:00:00:01",
  "nic eth1 00:50:56:00:00:02",
  "address ens3 eth0 10.0.2.15/24",
  "address ens3 eth0 fd00::15/64",
  "address ens4 eth1 192.168.7.5/24",
  "gateway 10.0.2.2",
  "dns 10.0.2.3",
  "target multi-user.target",
  "tools optional",
];

const STUBS: Record<string, string> = {
  ip: `#!/bin/sh
S=$OSAM_STUB_STATE
case "$*" in
*"addr show dev "*) for a in "$@"; do d=$a; done; [ -f "$S/addr-$d" ] || exit 1; i=2; while read -r c; do echo "$i: $d    inet $c scope global $d"; done <"$S/addr-$d" | sed 's/inet \\([0-9a-f]*:\\)/inet6 \\1/' ;;
"-4 route show default") cat "$S/routes4" ;;
"-o link show dev "*) for a in "$@"; do d=$a; done; echo "2: $d: <BROADCAST,MULTICAST,SLAVE,UP> mtu 1500 master team0 state UP link/ether 00:50:56:00:00:01 brd ff:ff:ff:ff:ff:ff$([ -f "$S/permaddr-$d" ] && echo " permaddr $(cat "$S/permaddr-$d")")" ;;
"-6 route show default") cat "$S/routes6" 2>/dev/null ;;
*) exit 1 ;;
esac
`,
  findmnt: `#!/bin/sh
S=$OSAM_STUB_STATE
case "$*" in
*UUID*) cat "$S/root-uuid" ;;
*MAJ:MIN*) cat "$S/root-majmin" ;;
*SOURCE*) echo /dev/mapper/vg-root ;;
esac
`,
  // VMware answers a guestinfo query (here: no such key); a backdoor without GuestRPC cannot
  "vmware-rpctool": `#!/bin/sh
# as open-vm-tools 12 answered under QEMU's vmport in the deb12-itools e2e
if [ -f "$OSAM_STUB_STATE/no-guestrpc" ]; then echo "Error: /usr/bin/vmware-rpctool must be run inside a virtual machine on a VMware hypervisor product." >&2; exit 255; fi
echo "No value found"
exit 1
`,
  "systemd-detect-virt": `#!/bin/sh
if [ "$1" = --cpuid ] && [ -f "$OSAM_STUB_STATE/virt-cpuid" ]; then cat "$OSAM_STUB_STATE/virt-cpuid"; exit; fi
cat "$OSAM_STUB_STATE/virt"
`,
  runlevel: `#!/bin/sh
cat "$OSAM_STUB_STATE/runlevel"
`,
  systemctl: `#!/bin/sh
S=$OSAM_STUB_STATE
case "$*" in
is-system-running) cat "$S/state" ;;
"list-jobs --no-legend") cat "$S/jobs" ;;
"is-active --quiet multi-user.target") [ -f "$S/multi-user" ] ;;
get-default) cat "$S/default-target" ;;
"--failed --no-legend --plain") cat "$S/failed" ;;
"show -p Result -p ExecMainStatus "*) printf 'Result=exit-code\\nExecMainStatus=1\\n' ;;
*) echo "systemctl stub: $*" >&2; exit 1 ;;
esac
`,
};

async function put(p: string, text: string, mode = 0o644): Promise<void> {
  await mkdir(dirname(p), { recursive: true });
  await writeFile(p, text);
  await chmod(p, mode);
}

async function link(p: string, target: string): Promise<void> {
  await mkdir(dirname(p), { recursive: true });
  await symlink(relative(dirname(p), target), p);
}

/** Where a fake guest lives: `root` for OSAM_VERIFY_ROOT, `bin` for OSAM_VERIFY_PATH, `state` for the stubs. */
export interface FakeGuestDirs {
  root: string;
  bin: string;
  state: string;
}

/** Writes the fake guest under `dir` (a fresh directory) and returns where its parts are. */
export async function writeFakeGuest(dir: string, g: FakeGuest): Promise<FakeGuestDirs> {
  const root = join(dir, "root");
  const bin = join(dir, "bin");
  const state = join(dir, "state");
  const sys = join(root, "sys");
  // a SCSI disk behind a PCI controller; its partition under a device-mapper volume
  const pci = join(sys, "devices/pci0000:00/0000:00:15.0/0000:03:00.0");
  await mkdir(join(sys, "bus/pci/drivers", g.driver), { recursive: true });
  await mkdir(join(sys, "bus/scsi/drivers/sd"), { recursive: true });
  await link(join(pci, "driver"), join(sys, "bus/pci/drivers", g.driver));
  await link(join(pci, "subsystem"), join(sys, "bus/pci"));
  const lun = join(pci, "host2/target2:0:0/2:0:0:0");
  await link(join(lun, "driver"), join(sys, "bus/scsi/drivers/sd"));
  await link(join(lun, "subsystem"), join(sys, "bus/scsi"));
  const sda = join(lun, "block/sda");
  await link(join(sda, "device"), lun);
  await put(join(sda, "sda2/partition"), "2\n");
  const dm = join(sys, "devices/virtual/block/dm-0");
  await link(join(dm, "slaves/sda2"), join(sda, "sda2"));
  await link(join(sys, "class/block/sda"), sda);
  await link(join(sys, "class/block/sda2"), join(sda, "sda2"));
  await link(join(sys, "class/block/dm-0"), dm);
  await link(join(sys, "dev/block/8:0"), sda);
  await link(join(sys, "dev/block/8:2"), join(sda, "sda2"));
  await link(join(sys, "dev/block/253:0"), dm);
  for (const [name, mac] of Object.entries(g.nics)) await put(join(sys, "class/net", name, "address"), `${mac}\n`);
  for (const [name, mac] of Object.entries(g.bondPorts ?? {})) await put(join(sys, "class/net", name, "bonding_slave/perm_hwaddr"), `${mac}\n`);
  await put(join(root, "proc/1/comm"), "systemd\n");
  if (g.vmtoolsd) await put(join(root, "proc/812/comm"), "vmtoolsd\n");
  await put(join(root, "etc/resolv.conf"), g.resolvConf);
  if (g.resolvedConf !== undefined) await put(join(root, "run/systemd/resolve/resolv.conf"), g.resolvedConf);
  if (g.systemd) await mkdir(join(root, "run/systemd/system"), { recursive: true });

  for (const [name, text] of Object.entries(STUBS)) await put(join(bin, name), text, 0o755);
  await put(join(state, "root-uuid"), `${g.rootUuid}\n`);
  await put(join(state, "root-majmin"), `${g.rootMajMin}\n`);
  for (const [name, cidrs] of Object.entries(g.addresses)) await put(join(state, `addr-${name}`), cidrs.map((c) => `${c}\n`).join(""));
  await put(join(state, "routes4"), g.routes.map((r) => `${r}\n`).join(""));
  for (const [name, mac] of Object.entries(g.permAddrs ?? {})) await put(join(state, `permaddr-${name}`), `${mac}\n`);
  await put(join(state, "virt"), `${g.virt}\n`);
  if (g.virtCpuid !== undefined) await put(join(state, "virt-cpuid"), `${g.virtCpuid}\n`);
  if (g.guestRpc === false) await put(join(state, "no-guestrpc"), "");
  await put(join(state, "runlevel"), `${g.runlevel}\n`);
  if (g.systemd) {
    await put(join(state, "state"), `${g.systemd.state}\n`);
    await put(join(state, "jobs"), g.systemd.jobs.map((j) => `${j}\n`).join(""));
    if (g.systemd.multiUser) await put(join(state, "multi-user"), "");
    await put(join(state, "default-target"), `${g.systemd.defaultTarget}\n`);
    await put(join(state, "failed"), g.systemd.failed.map((u) => `${u} loaded failed failed ${u}\n`).join(""));
  }
  return { root, bin, state };
}

/** The environment that points verify.sh at a fake guest. */
export function fakeGuestEnv(d: FakeGuestDirs, extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    LANG: "C",
    OSAM_VERIFY_ROOT: d.root,
    OSAM_VERIFY_PATH: d.bin,
    OSAM_STUB_STATE: d.state,
    OSAM_VERIFY_SETTLE: "0",
    OSAM_VERIFY_WAIT: "0",
    ...extra,
  };
}
