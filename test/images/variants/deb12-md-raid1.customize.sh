#!/usr/bin/env bash
# deb12-md-raid1's own recipe step (build.sh runs it on the image directory after the shared
# recipe laid out a plain tree): make the tree the one debian-installer leaves with its root on
# md RAID1 across two virtio disks, as a KVM guest names them. Usage: VARIANT=... $0 DIR
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=test/images/lib.sh
. "$here/lib.sh"
DIR=$1
R=$DIR/rootfs
# shellcheck source=test/images/variants/deb12-md-raid1.env
. "$here/variants/$VARIANT.env"

# root by its kernel name, as grub.cfg names it too (GRUB_DISABLE_LINUX_UUID=true)
cat >"$R/etc/fstab" <<EOT
# <file system> <mount point> <type> <options> <dump> <pass>
/dev/md0 / $ROOTFS errors=remount-ro 0 1
EOT

# mdadm.conf as an admin pins it on KVM: the scan limited to the virtio disks, the array
# named by its members as well as its UUID (on PVSCSI neither matches: sd* names)
# vdname I: the virtio name of member disk I (vda, vdb, ...)
vdname() { local l=(a b c d e f g h); echo "/dev/vd${l[$1]}"; }
members=
for ((i = 0; i < MD_DISKS; i++)); do members="$members${members:+,}$(vdname $i)1"; done
cat >"$R/etc/mdadm/mdadm.conf" <<EOT
# mdadm.conf
#
# !NB! Run update-initramfs -u after updating this file.
# !NB! This will ensure that initramfs has an uptodate copy.
#
# Please refer to mdadm.conf(5) for information about this file.
#

# scan only the virtio disks
DEVICE /dev/vd*

# auto-create devices with Debian standard permissions
CREATE owner=root group=disk mode=0660 auto=yes

# automatically tag new arrays as belonging to the local system
HOMEHOST <system>

# instruct the monitoring daemon where to send mail alerts
MAILADDR root

# definitions of existing MD arrays
ARRAY /dev/md0 metadata=1.2 name=kvmguest:0 UUID=$MD_UUID devices=$members
EOT

# debian-installer's answer for a root on md: GRUB on every member disk
devs=
for ((i = 0; i < MD_DISKS; i++)); do devs="$devs${devs:+, }$(vdname $i)"; done
echo "grub-pc grub-pc/install_devices multiselect $devs" | chroot "$R" debconf-set-selections

# the test image's first boot installs GRUB on /dev/vda; the other members get it here first
mkdir -p "$R/etc/systemd/system/e2e-firstboot.service.d"
{
	echo "# $VARIANT: GRUB's boot code on every md member disk, as debian-installer does"
	echo "[Service]"
	for ((i = 1; i < MD_DISKS; i++)); do
		echo "ExecStartPre=/usr/sbin/grub-install --target=i386-pc $(vdname $i)"
	done
	# gone once it ran, like the first boot's flag: no test plumbing naming vd* disks is left
	echo "ExecStartPre=/bin/rm -f /etc/systemd/system/e2e-firstboot.service.d/md-members.conf"
} >"$R/etc/systemd/system/e2e-firstboot.service.d/md-members.conf"

# a boot fact the shared marker does not print: the arrays and their members' drivers, on the
# console before the marker (which powers off)
cat >"$R/usr/local/sbin/e2e-md-marker" <<'EOT'
#!/bin/sh
# Test-image md marker (not part of the product): one line "E2E-MD {json}" with /proc/mdstat
# and, for each array, its members with the PCI driver each hangs off.
exec >/dev/console 2>&1
trap '' HUP
esc() { printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' | tr -d '\000-\037'; }
drv_of() {
	p=$(readlink -f "/sys/class/block/$1")
	while [ "$p" != / ] && [ -n "$p" ]; do
		if [ -L "$p/driver" ] && [ "$(basename "$(readlink -f "$p/subsystem")")" = pci ]; then basename "$(readlink -f "$p/driver")"; return; fi
		p=$(dirname "$p")
	done
}
arrays=
for md in /sys/block/md*; do
	[ -d "$md" ] || continue
	m=
	for s in "$md"/slaves/*; do
		[ -e "$s" ] || continue
		n=$(basename "$s")
		m="$m${m:+,}{\"name\":\"$n\",\"driver\":\"$(drv_of "$n")\"}"
	done
	arrays="$arrays${arrays:+,}{\"name\":\"$(basename "$md")\",\"level\":\"$(cat "$md/md/level" 2>/dev/null)\",\"state\":\"$(cat "$md/md/array_state" 2>/dev/null)\",\"degraded\":\"$(cat "$md/md/degraded" 2>/dev/null)\",\"members\":[$m]}"
done
printf 'E2E-MD {"mdstat":"%s","arrays":[%s]}\n' "$(esc "$(tr '\n' '|' </proc/mdstat)")" "$arrays"
EOT
chmod 0755 "$R/usr/local/sbin/e2e-md-marker"
cat >"$R/etc/systemd/system/e2e-md-marker.service" <<'EOT'
[Unit]
Description=e2e test md marker (prints the md arrays on the console before the boot marker)
ConditionPathExists=!/etc/e2e/firstboot
After=local-fs.target
Before=e2e-marker.service

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/e2e-md-marker

[Install]
WantedBy=multi-user.target
EOT
chroot "$R" systemctl enable e2e-md-marker.service

# the tree's initramfs (the one the staging and first boots use; the first boot then builds
# the host-only one) was built before mdadm.conf named the array: append mdadm.conf to it as a
# second cpio archive, which the kernel unpacks over the first, so that it assembles md0 (a
# rebuild in the chroot takes minutes, and MODULES=dep cannot look at a chroot's root)
extra=$(mktemp -d)
trap 'rm -rf "$extra" "$extra.list"' EXIT
mkdir -p "$extra/etc/mdadm"
sed '/^CREATE/s/^/#/' "$R/etc/mdadm/mdadm.conf" >"$extra/etc/mdadm/mdadm.conf"
for img in "$R"/boot/initrd.img-*; do
	lsinitramfs "$img" >"$extra.list"
	grep -q 'sbin/mdadm$' "$extra.list" || { say "$VARIANT: $img has no mdadm"; exit 1; }
	(cd "$extra" && printf '%s\n' etc etc/mdadm etc/mdadm/mdadm.conf | cpio -o -H newc -R 0:0 --quiet) >>"$img"
done

# the image metadata says what the disk is
sed -i 's/"layout": "plain"/"layout": "md"/' "$DIR/meta.json"
grep -q '"layout": "md"' "$DIR/meta.json"
