#!/usr/bin/env bash
# mmdebstrap customize hook: make the tree look like a Debian guest installed on KVM
# (virtio disk named /dev/vda, NICs named ens3/ens4 with static addresses, host-only
# initramfs configured, serial console). Runs on the host; $1 is the tree.
# Env (from the variant file, exported by rootfs.sh): INITRD BOOT LAYOUT ROOTFS NET NICS VARIANT
# ITOOLS_MODULES (initramfs-tools MODULES=, dep unless the variant says otherwise)
set -euo pipefail
R=$1
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=test/images/lib.sh
. "$here/lib.sh"

echo kvmguest >"$R/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 kvmguest\n' >"$R/etc/hosts"
echo 'root:root' | chroot "$R" chpasswd

# --- storage: names the way a KVM guest installed with them references its disks
case "$LAYOUT/$BOOT" in
plain/bios)
	cat >"$R/etc/fstab" <<EOT
# <file system> <mount point> <type> <options> <dump> <pass>
/dev/vda1 / $ROOTFS $( [ "$ROOTFS" = xfs ] && echo "defaults 0 0" || echo "errors=remount-ro 0 1")
EOT
	;;
plain/uefi)
	cat >"$R/etc/fstab" <<EOT
# <file system> <mount point> <type> <options> <dump> <pass>
/dev/vda2 / $ROOTFS errors=remount-ro 0 1
/dev/vda1 /boot/efi vfat umask=0077 0 1
EOT
	mkdir -p "$R/boot/efi"
	;;
lvm/bios)
	cat >"$R/etc/fstab" <<EOT
# <file system> <mount point> <type> <options> <dump> <pass>
/dev/mapper/$LVM_VG-root / $ROOTFS defaults 0 1
/dev/vda1 /boot ext4 defaults 0 2
EOT
	;;
*) echo "customize: unsupported layout $LAYOUT/$BOOT" >&2; exit 1 ;;
esac

cmdline="console=ttyS0,115200n8"
[ "$LAYOUT" = lvm ] && cmdline="$cmdline rd.lvm.lv=$LVM_VG/root"
cat >"$R/etc/default/grub" <<EOT
# written by the test image recipe: serial console, root by kernel name (no UUID), as on
# KVM guests whose installer wrote /dev/vda1
GRUB_DEFAULT=0
GRUB_TIMEOUT=1
GRUB_DISTRIBUTOR=Debian
GRUB_CMDLINE_LINUX_DEFAULT=""
GRUB_CMDLINE_LINUX="$cmdline"
GRUB_TERMINAL="serial console"
GRUB_SERIAL_COMMAND="serial --unit=0 --speed=115200"
GRUB_DISABLE_LINUX_UUID=true
GRUB_DISABLE_RECOVERY=true
GRUB_DISABLE_OS_PROBER=true
EOT

# host-only initramfs, as the installer configures it (the first boot on virtio builds it)
if [ "$INITRD" = dracut ]; then
	mkdir -p "$R/etc/dracut.conf.d"
	printf '# as on RHEL: only what this (KVM) machine needs\nhostonly="yes"\n' >"$R/etc/dracut.conf.d/90-hostonly.conf"
else
	sed -i "s/^MODULES=.*/MODULES=$ITOOLS_MODULES/" "$R/etc/initramfs-tools/initramfs.conf"
	grep -q "^MODULES=$ITOOLS_MODULES\$" "$R/etc/initramfs-tools/initramfs.conf"
fi

# --- network: static addresses on the KVM names
nic_name() { echo "ens$((3 + $1))"; }
if [ "$NET" = ifupdown ]; then
	mkdir -p "$R/etc/network/interfaces.d"
	{
		echo "# This file describes the network interfaces available on your system"
		echo "# and how to activate them. For more information, see interfaces(5)."
		echo
		echo "source /etc/network/interfaces.d/*"
		echo
		echo "# The loopback network interface"
		echo "auto lo"
		echo "iface lo inet loopback"
		for ((i = 0; i < NICS; i++)); do
			n=$(nic_name $i)
			echo
			echo "# The primary network interface"
			echo "allow-hotplug $n"
			echo "iface $n inet static"
			echo "	address $(nic_addr $i)"
			[ "$i" = 0 ] && echo "	gateway $(nic_gw $i)"
		done
	} >"$R/etc/network/interfaces"
elif [ "$NET" = netplan ]; then
	mkdir -p "$R/etc/netplan"
	{
		echo "# This file is generated from information provided by the datasource.  Changes"
		echo "# to it will not persist across an instance reboot."
		echo "network:"
		echo "    version: 2"
		echo "    renderer: networkd"
		echo "    ethernets:"
		for ((i = 0; i < NICS; i++)); do
			n=$(nic_name $i)
			echo "        $n:"
			if [ "$i" = 0 ]; then
				# cloud-init pins the first NIC by MAC and names it
				echo "            match:"
				echo "                macaddress: '$(nic_mac $i)'"
				echo "            set-name: $n"
			fi
			echo "            addresses:"
			echo "            - $(nic_addr $i)"
			if [ "$i" = 0 ]; then
				echo "            routes:"
				echo "            -   to: default"
				echo "                via: $(nic_gw $i)"
			fi
		done
	} >"$R/etc/netplan/50-cloud-init.yaml"
	chmod 600 "$R/etc/netplan/50-cloud-init.yaml"
	chroot "$R" systemctl enable systemd-networkd.service
else
	echo "customize: unsupported NET=$NET" >&2
	exit 1
fi

# --- test-image plumbing (not part of a real guest): first boot and the boot marker
mkdir -p "$R/etc/e2e" "$R/usr/local/sbin"
touch "$R/etc/e2e/firstboot"
echo "$INITRD" >"$R/etc/e2e/initrd-tool"
echo "$BOOT" >"$R/etc/e2e/boot"
echo "$VARIANT" >"$R/etc/e2e/variant"
# a generic (MODULES=most) image is the one the kernel package built: the first boot keeps it,
# as a rebuild under emulation would take half an hour
if [ "$INITRD" = initramfs-tools ] && [ "$ITOOLS_MODULES" = most ]; then touch "$R/etc/e2e/keep-initramfs"; fi
echo "$NICS" >"$R/etc/e2e/ipv4-count"
install -m 0755 "$here/guest/e2e-marker" "$here/guest/e2e-firstboot" "$R/usr/local/sbin/"
install -m 0644 "$here/guest/e2e-marker.service" "$here/guest/e2e-firstboot.service" "$R/etc/systemd/system/"
chroot "$R" systemctl enable e2e-firstboot.service e2e-marker.service

# smaller tree; the debs live on in the shared apt cache
rm -f "$R"/var/cache/apt/archives/*.deb
