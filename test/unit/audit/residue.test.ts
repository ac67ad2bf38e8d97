// The residue audit: what it catches, how it judges each place, and what it leaves alone.
import { test } from "node:test";
import assert from "node:assert/strict";
import { GuestRoot } from "../../../src/guest/guest-root.ts";
import { DiskView, OverlayView } from "../../../src/guest/view.ts";
import { auditResidue, type AuditInput, type Leftover, type NicRename } from "../../../src/audit/residue.ts";
import { NetworkInterfaceMap, ReplicaDiskMap, SystemConfiguration } from "../../../src/protocol/schemas.ts";
import { tree } from "../storage/ctx.ts";

const ENS3: NicRename = { sourceName: "ens3", newName: "eth0", sourceMac: "52:54:00:12:34:56", targetMac: "00:50:56:aa:00:01" };

function inputs(o: { disks?: string[]; inventory?: string[]; ifaces?: { name: string; mac: string; kind?: "physical" | "bond" | "bridge" }[] } = {}): AuditInput["inputs"] {
  return {
    system: SystemConfiguration.parse({
      migrationId: "unit",
      source: { firmware: "bios", blockDevices: (o.inventory ?? []).map((device) => ({ device })), interfaces: o.ifaces ?? [] },
      target: { firmware: "bios", scsiController: "pvscsi", nicModel: "vmxnet3" },
    }),
    disks: ReplicaDiskMap.parse({ disks: (o.disks ?? ["/dev/vda"]).map((device, unit) => ({ source: { device }, target: { controller: "scsi0", unit } })) }),
  };
}
void NetworkInterfaceMap;

async function audit(files: Record<string, string>, o: Partial<AuditInput> & { inp?: AuditInput["inputs"] } = {}): Promise<Leftover[]> {
  const t = tree(files);
  try {
    const r = await auditResidue({ view: new DiskView(new GuestRoot(t.root)), inputs: o.inp ?? inputs(), nics: o.nics ?? [ENS3], ...(o.accept ? { accept: o.accept } : {}) });
    return r.leftovers;
  } finally {
    t.cleanup();
  }
}

const at = (ls: Leftover[], file: string, line?: number) => ls.filter((l) => l.file === file && (line === undefined || l.line === line));

test("fstab: a source disk under / or without nofail blocks; with nofail it is a warning; a comment is harmless", async () => {
  const ls = await audit({
    "etc/fstab": "# / was on /dev/vda1 during installation\n/dev/vda1 / ext4 defaults 0 1\n/dev/vdb1 /data ext4 defaults 0 2\n/dev/vdb2 /scratch ext4 defaults,nofail 0 2\n/dev/vdc1 none swap sw 0 0\n",
  }, { inp: inputs({ disks: ["/dev/vda", "/dev/vdb"], inventory: ["/dev/vda1", "/dev/vdb1", "/dev/vdc1"] }) });
  assert.equal(at(ls, "/etc/fstab", 1)[0]?.severity, "harmless");
  assert.equal(at(ls, "/etc/fstab", 2)[0]?.severity, "blocker");
  assert.match(at(ls, "/etc/fstab", 2)[0]!.why, /sda on the target.*\/ is mounted from it/);
  assert.equal(at(ls, "/etc/fstab", 3)[0]?.severity, "blocker");
  assert.equal(at(ls, "/etc/fstab", 4)[0]?.severity, "warning");
  const swap = at(ls, "/etc/fstab", 5)[0]!;
  assert.equal(swap.severity, "blocker");
  assert.match(swap.why, /not among the replica disks/);
});

test("fstab: only the device field mounts; a name elsewhere on the line is a warning, not a blocker", async () => {
  const ls = await audit({
    "etc/fstab": "-/dev/vdc1 /x ext4 defaults 0 0\nUUID=1 /mnt/dev/vdb1 ext4 defaults 0 2\n/dev/vdb1 /data ext4 defaults 0 2\n",
  }, { inp: inputs({ disks: ["/dev/vda", "/dev/vdb"], inventory: ["/dev/vda1", "/dev/vdb1", "/dev/vdc1"] }) });
  assert.equal(at(ls, "/etc/fstab", 1)[0]?.severity, "warning");
  assert.equal(at(ls, "/etc/fstab", 2)[0]?.severity, "warning");
  assert.equal(at(ls, "/etc/fstab", 3)[0]?.severity, "blocker");
});

test("a leftover in a file no rewriter knows is caught, with its line", async () => {
  const ls = await audit({ "etc/opt/backup-agent/agent.conf": "[disk]\nsource = /dev/vda2\n", "etc/sysctl.d/90-net.conf": "net.ipv4.conf.ens3.rp_filter = 2\nnet.ipv4.conf.ens33.rp_filter = 2\n" });
  const a = at(ls, "/etc/opt/backup-agent/agent.conf");
  assert.equal(a.length, 1);
  assert.deepEqual([a[0]!.line, a[0]!.ref, a[0]!.severity], [2, "/dev/vda2", "warning"]);
  const s = at(ls, "/etc/sysctl.d/90-net.conf");
  assert.deepEqual(s.map((l) => [l.line, l.ref, l.kind]), [[1, "ens3", "nic-name"]]);
});

test("kernel command lines: root=, resume= and cryptopts= on source names block, in every place", async () => {
  const ls = await audit({
    "etc/default/grub": 'GRUB_CMDLINE_LINUX="root=/dev/disk/by-id/virtio-abc123-part1 quiet"\nGRUB_CMDLINE_LINUX_DEFAULT="resume=/dev/disk/by-path/pci-0000:00:05.0-part2"\n',
    "boot/loader/entries/x.conf": "title X\noptions root=UUID=1 cryptopts=source=/dev/vda3,target=c\n",
    "boot/grub2/grubenv": "# GRUB Environment Block\nkernelopts=root=/dev/vda1 ro\n",
    "etc/kernel/cmdline": "root=UUID=1 console=ttyS0 log=/dev/vdz\n",
  });
  assert.equal(at(ls, "/etc/default/grub", 1)[0]?.severity, "blocker");
  assert.equal(at(ls, "/etc/default/grub", 2)[0]?.severity, "blocker");
  assert.equal(at(ls, "/boot/loader/entries/x.conf", 2)[0]?.severity, "blocker");
  assert.equal(at(ls, "/boot/grub2/grubenv", 2)[0]?.severity, "blocker");
  // not an argument the boot waits for
  assert.equal(at(ls, "/etc/kernel/cmdline", 1)[0]?.severity, "warning");
});

test("by-id names that follow the content are stable; hardware ones are leftovers", async () => {
  const ls = await audit({ "etc/crypttab": "c1 /dev/disk/by-id/dm-uuid-CRYPT-LUKS2-abc none luks\nc2 /dev/disk/by-id/ata-QEMU_HARDDISK_QM00001-part3 none luks\nc3 /dev/disk/by-id/virtio-x-part4 none luks,nofail\n" });
  assert.deepEqual(at(ls, "/etc/crypttab").map((l) => [l.line, l.severity]), [[2, "blocker"], [3, "warning"]]);
});

test("mdadm.conf DEVICE and ARRAY lines, and LVM filters, block", async () => {
  const ls = await audit({
    "etc/mdadm/mdadm.conf": "DEVICE /dev/vd*\nARRAY /dev/md0 metadata=1.2 UUID=a:b:c:d devices=/dev/vda1,/dev/vdb1\nMAILADDR root\n",
    "etc/lvm/lvm.conf": 'devices {\n  # filter = [ "a|/dev/vda|" ]\n  filter = [ "a|^/dev/vd.*|", "r|.*|" ]\n}\n',
    "etc/lvm/backup/vg0": 'device = "/dev/vda2"\t# Hint only\n',
  });
  assert.deepEqual(at(ls, "/etc/mdadm/mdadm.conf").map((l) => [l.line, l.ref, l.severity]), [[1, "/dev/vd*", "blocker"], [2, "/dev/vda1", "blocker"], [2, "/dev/vdb1", "blocker"]]);
  assert.deepEqual(at(ls, "/etc/lvm/lvm.conf").map((l) => [l.line, l.severity]), [[2, "harmless"], [3, "blocker"]]);
  // LVM's metadata history is not read at boot
  assert.deepEqual(at(ls, "/etc/lvm/backup/vg0"), []);
});

test("a mapped NIC's old name or MAC in its own configuration blocks; elsewhere it is a warning", async () => {
  const ls = await audit({
    "etc/network/interfaces": "auto br0\niface br0 inet static\n  bridge_ports ens3\n  address 192.0.2.10/24\n",
    "etc/sysconfig/network-scripts/ifcfg-eth0": "DEVICE=eth0\nHWADDR=52:54:00:12:34:56\n",
    "etc/firewalld/zones/public.xml": '<zone><interface name="ens3"/></zone>\n',
  });
  assert.equal(at(ls, "/etc/network/interfaces", 3)[0]?.severity, "blocker");
  assert.equal(at(ls, "/etc/sysconfig/network-scripts/ifcfg-eth0", 2)[0]?.kind, "nic-mac");
  assert.equal(at(ls, "/etc/sysconfig/network-scripts/ifcfg-eth0", 2)[0]?.severity, "blocker");
  assert.equal(at(ls, "/etc/firewalld/zones/public.xml", 1)[0]?.severity, "warning");
});

test("swapped names are not leftovers (only the MAC can tell), unmapped NICs are reported, not blocked", async () => {
  const swap: NicRename[] = [
    { sourceName: "eth0", newName: "eth1", sourceMac: "52:54:00:00:00:01", targetMac: "52:54:00:00:00:01" },
    { sourceName: "eth1", newName: "eth0", sourceMac: "52:54:00:00:00:02", targetMac: "52:54:00:00:00:02" },
  ];
  const ls = await audit(
    { "etc/sysconfig/network-scripts/ifcfg-eth1": "DEVICE=eth1\n", "etc/sysconfig/network-scripts/ifcfg-ens9": "DEVICE=ens9\nHWADDR=52:54:00:00:00:09\n" },
    { nics: swap, inp: inputs({ ifaces: [{ name: "ens9", mac: "52:54:00:00:00:09" }] }) },
  );
  assert.deepEqual(at(ls, "/etc/sysconfig/network-scripts/ifcfg-eth1"), []);
  const u = at(ls, "/etc/sysconfig/network-scripts/ifcfg-ens9");
  assert.deepEqual(u.map((l) => [l.line, l.severity]), [[1, "warning"]]);
  assert.match(u[0]!.why, /not in network-interface-map/);
});

// Seen in the deb12-bond e2e's preflight: netplan's networkd gives bond0 a MAC of its own (not
// its first port's), so the inventory's bond0 matched no mapped NIC and every line naming it
// was reported as a NIC that "does not exist on the target"
test("a bond or bridge of the inventory keeps its name: the lines naming it are no leftovers, whatever its MAC", async () => {
  const ens4: NicRename = { sourceName: "ens4", newName: "eth1", sourceMac: "52:54:00:12:34:57", targetMac: "00:50:56:aa:00:02" };
  const netplan = "network:\n  version: 2\n  bonds:\n    bond0:\n      interfaces: [ens3, ens4]\n  bridges:\n    br0:\n      interfaces: [bond0]\n";
  const ifaces = [
    { name: "bond0", mac: "2a:1c:7e:00:00:01", kind: "bond" as const },
    { name: "br0", mac: "2a:1c:7e:00:00:02", kind: "bridge" as const },
    { name: "ens3", mac: "2a:1c:7e:00:00:01", kind: "physical" as const },
    { name: "ens4", mac: "2a:1c:7e:00:00:01", kind: "physical" as const },
    { name: "ens9", mac: "52:54:00:00:00:09", kind: "physical" as const },
  ];
  const ls = await audit({ "etc/netplan/01-bond.yaml": netplan, "etc/app.conf": "watch ens9\n" }, { nics: [ENS3, ens4], inp: inputs({ ifaces }) });
  assert.deepEqual(ls.filter((l) => /bond0|br0/.test(l.ref)), []);
  // a physical NIC left out of the map is still reported
  assert.deepEqual(at(ls, "/etc/app.conf").map((l) => [l.ref, l.severity]), [["ens9", "warning"]]);
});

test("sd names: a moved source disk is a leftover, the target's own names are not", async () => {
  // source sda (data) and sdb (root) become, by unit order, sdb and sda
  const inp = inputs({ disks: ["/dev/sdb", "/dev/sda"], inventory: ["/dev/sda1", "/dev/sdb1", "/dev/sdc1"] });
  const ls = await audit({ "etc/fstab": "UUID=1 / ext4 defaults 0 1\n/dev/sdc1 /old ext4 defaults 0 2\n", "etc/app.conf": "disk=/dev/sda1\n" }, { inp, nics: [] });
  assert.deepEqual(at(ls, "/etc/fstab").map((l) => [l.line, l.severity]), [[2, "blocker"]]);
  // /dev/sda is both a source name and a target name: a rewriter may have written it
  assert.deepEqual(at(ls, "/etc/app.conf"), []);
});

test("accepted leftovers are reported, not blocking; backups and binaries are passed over", async () => {
  const ls = await audit(
    { "etc/fstab": "/dev/vdb1 /data ext4 defaults 0 2\n", "etc/fstab.bak": "/dev/vda1 / ext4 defaults 0 1\n", "etc/ld.so.cache": "\0\0/dev/vda1\0" },
    { accept: ["/etc/fstab:1"], inp: inputs({ disks: ["/dev/vda", "/dev/vdb"] }) },
  );
  assert.equal(at(ls, "/etc/fstab")[0]?.severity, "accepted");
  assert.equal(at(ls, "/etc/fstab.bak")[0]?.severity, "harmless");
  assert.deepEqual(at(ls, "/etc/ld.so.cache"), []);
});

test("the audit reads the would-be guest: an edit planned in the overlay removes the leftover", async () => {
  const t = tree({ "etc/fstab": "/dev/vda1 / ext4 defaults 0 1\n" });
  try {
    const view = new OverlayView(new GuestRoot(t.root));
    const before = await auditResidue({ view, inputs: inputs(), nics: [] });
    assert.equal(before.leftovers[0]?.severity, "blocker");
    view.setFile("/etc/fstab", Buffer.from("UUID=1 / ext4 defaults 0 1\n"));
    const after = await auditResidue({ view, inputs: inputs(), nics: [] });
    assert.deepEqual(after.leftovers, []);
  } finally {
    t.cleanup();
  }
});

test("a large fstab is audited in one linear pass", async () => {
  const lines = ["UUID=1 / ext4 defaults 0 1"];
  for (let i = 0; i < 200000; i++) lines.push(`UUID=${i} /mnt/${i} ext4 defaults,nofail 0 2`);
  lines.push("/dev/vdb1 /last ext4 defaults 0 2");
  const ls = await audit({ "etc/fstab": lines.join("\n") + "\n" }, { inp: inputs({ disks: ["/dev/vda", "/dev/vdb"] }), nics: [] });
  assert.deepEqual(ls.map((l) => [l.line, l.severity]), [[200002, "blocker"]]);
});

test("a netplan ID of an entry that matches by MAC is harmless; one that names the interface blocks", async () => {
  const ls = await audit({
    "etc/netplan/50-cloud-init.yaml": "network:\n  ethernets:\n    ens3:\n      # matched by MAC\n      match:\n        macaddress: '00:50:56:aa:00:01'\n      set-name: eth0\n    ens3.100:\n      addresses: [192.0.2.1/24]\n",
  });
  assert.deepEqual(at(ls, "/etc/netplan/50-cloud-init.yaml").map((l) => [l.line, l.severity]), [[3, "harmless"], [8, "blocker"]]);
});
