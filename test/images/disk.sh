#!/usr/bin/env bash
# Builds the bootable disk of one variant from its tree, the way the guest would look after
# an install on KVM: partitions and file systems, then a first boot on virtio hardware that
# builds the host-only initramfs and installs GRUB. Output: DIR/disk-HASH.qcow2 + .json.
# Usage (from build.sh): disk.sh VARIANT DIR HASH
# A variant whose disks differ from its tree's plain layout says so with DISK_LAYOUT (md: root
# on md RAID1 across MD_DISKS disks, DIR/disk-HASH.qcow2 then DIR/disk-HASH-1.qcow2 ...).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=test/images/lib.sh
. "$here/lib.sh"
VARIANT=$1 DIR=$2 HASH=$3
# shellcheck source=/dev/null
. "$here/variants/$VARIANT.env"
R=$DIR/rootfs
W=$DIR/disk-work
OUT=$DIR/disk-$HASH
SIZE_MB=3072
ACCEL=${OSAM_QEMU_ACCEL:-tcg}
LAYOUT=${DISK_LAYOUT:-$LAYOUT}
rm -rf --one-file-system "$W"
mkdir -p "$W"
cleanup() {
	[ -n "${LOOP:-}" ] && { umount "$W/mnt" 2>/dev/null || true; losetup -d "$LOOP" 2>/dev/null || true; }
	rm -rf --one-file-system "$W"
}
trap cleanup EXIT
t0=$(now)
raw=$W/disk.raw
truncate -s "${SIZE_MB}M" "$raw"

# vdname I: the virtio name of disk I (vda, vdb, ...)
vdname() { local l=(a b c d e f g h); echo "/dev/vd${l[$1]}"; }
# fill_part IMAGE-OF-PARTITION START-SECTOR: copy a partition image into the disk
put_part() { dd if="$1" of="$raw" bs=1M seek=$(($2 / 2048)) conv=notrunc,sparse status=none; rm -f "$1"; }
# mkroot FILE SECTORS: a root file system of $ROOTFS holding the tree (no mounts for ext4)
mkroot() {
	local img=$1 sectors=$2
	truncate -s $((sectors * 512)) "$img"
	if [ "$ROOTFS" = ext4 ]; then
		mkfs.ext4 -q -L root -d "$R" "$img"
	elif [ "$ROOTFS" = xfs ]; then
		# mkfs.xfs cannot be filled from a directory: loop-mount the image and copy
		mkfs.xfs -q -L root "$img"
		mkdir -p "$W/mnt"
		LOOP=$(losetup -f --show "$img")
		mount "$LOOP" "$W/mnt"
		cp -a "$R/." "$W/mnt/"
		umount "$W/mnt"
		losetup -d "$LOOP"
		LOOP=
	else
		echo "disk.sh: unsupported ROOTFS=$ROOTFS" >&2
		exit 1
	fi
}

# stage_vm LAYOUT SCRIPT APPEND DRIVE-ARGS...: boot a staging VM whose root (the last virtio
# disk, after the target disks) is a copy of the tree with stage/SCRIPT as /SCRIPT for init=
stage_vm() {
	local layout=$1 script=$2 append=$3 ts
	shift 3
	truncate -s 2G "$W/stage.img"
	mkfs.ext4 -q -L stage -d "$R" "$W/stage.img"
	debugfs -w -R "write $here/stage/$script /$script" "$W/stage.img" >/dev/null 2>&1
	debugfs -w -R "set_inode_field /$script mode 0100755" "$W/stage.img" >/dev/null 2>&1
	ts=$(now)
	timeout 900 qemu-system-x86_64 -accel "$ACCEL" -cpu max -machine pc -m 1024 -smp 2 \
		-display none -nodefaults -no-reboot -serial "file:$DIR/disk-stage.serial" \
		-kernel "$W/vmlinuz" -initrd "$W/initrd.img" \
		-append "$append" \
		"$@" \
		-drive "file=$W/stage.img,format=raw,if=none,id=s0" -device "virtio-blk-pci,drive=s0,addr=0x$((5 + $# / 4))" || true
	grep -q E2E-STAGE-DONE "$DIR/disk-stage.serial" || {
		say "$VARIANT: staging failed; see $DIR/disk-stage.serial"
		grep -a E2E-STAGE "$DIR/disk-stage.serial" >&2 || tail -n 20 "$DIR/disk-stage.serial" >&2
		exit 1
	}
	rm -f "$W/stage.img"
	timing "$VARIANT disk staging VM ($layout, $ACCEL)" "$(since "$ts")"
}

kernel=$(find "$R/boot" -maxdepth 1 -name 'vmlinuz-*' | sort -V | tail -n1)
initrd=$R/boot/initrd.img-${kernel##*/vmlinuz-}
[ -f "$kernel" ] && [ -f "$initrd" ] || { echo "disk.sh: no kernel/initrd in $R/boot" >&2; exit 1; }
cp "$kernel" "$W/vmlinuz"
cp "$initrd" "$W/initrd.img"

case "$LAYOUT/$BOOT" in
plain/bios)
	printf 'label: dos\n2048,,L,*\n' | sfdisk -q "$raw"
	root_dev=/dev/vda1
	mkroot "$W/root.img" $((SIZE_MB * 2048 - 2048))
	put_part "$W/root.img" 2048
	;;
plain/uefi)
	# GPT: ESP 256 MiB (grub-install fills it at first boot), root after it
	printf 'label: gpt\n2048,524288,U\n526336,,L\n' | sfdisk -q "$raw"
	root_dev=/dev/vda2
	mkfs.vfat -F 32 -n ESP -C "$W/esp.img" 262144 >/dev/null
	put_part "$W/esp.img" 2048
	sectors=$(((SIZE_MB * 2048 - 526336 - 34) / 2048 * 2048))
	mkroot "$W/root.img" "$sectors"
	put_part "$W/root.img" 526336
	;;
lvm/bios)
	# /boot 512 MiB on vda1, an LVM PV on vda2; filled in a staging VM (no device-mapper here)
	printf 'label: dos\n2048,1048576,L,*\n1050624,,8e\n' | sfdisk -q "$raw"
	root_dev=/dev/mapper/$LVM_VG-root
	say "$VARIANT: staging VM: LVM ($LVM_VG/root), /boot, copy of the tree"
	stage_vm lvm e2e-disk-stage "root=/dev/vdb rw console=ttyS0 init=/e2e-disk-stage e2e.target=/dev/vda e2e.vg=$LVM_VG" \
		-drive "file=$raw,format=raw,if=none,id=t0" -device virtio-blk-pci,drive=t0,addr=0x5
	;;
md/bios)
	# RAID1 (metadata 1.2) over partition 1 of each disk (type fd, bootable), root on it, no
	# separate /boot; built in a staging VM (no md driver here). The array and root UUIDs are
	# the variant's, which its tree's mdadm.conf names already.
	root_dev=/dev/md0
	members=
	for ((i = 1; i < MD_DISKS; i++)); do truncate -s "${SIZE_MB}M" "$W/disk$i.raw"; done
	stage_drives=()
	for ((i = 0; i < MD_DISKS; i++)); do
		f=$raw; [ "$i" = 0 ] || f=$W/disk$i.raw
		printf 'label: dos\n2048,,fd,*\n' | sfdisk -q "$f"
		members="$members${members:+,}$(vdname $i)1"
		stage_drives+=(-drive "file=$f,format=raw,if=none,id=t$i" -device "virtio-blk-pci,drive=t$i,addr=$((5 + i))")
	done
	say "$VARIANT: staging VM: md RAID1 ($members), root on it, copy of the tree"
	stage_vm md e2e-disk-stage-md "root=$(vdname "$MD_DISKS") rw console=ttyS0 init=/e2e-disk-stage-md e2e.members=$members e2e.mduuid=$MD_UUID e2e.rootuuid=$ROOT_UUID e2e.mdname=0" \
		"${stage_drives[@]}"
	;;
*)
	echo "disk.sh: unsupported layout $LAYOUT/$BOOT" >&2
	exit 1
	;;
esac
timing "$VARIANT disk layout ($LAYOUT/$BOOT, $ROOTFS)" "$(since "$t0")"

# first boot on KVM-like hardware: virtio disk (vda), virtio NICs in slots 3.. (ens3, ens4)
fw=()
if [ "$BOOT" = uefi ]; then
	cp /usr/share/OVMF/OVMF_VARS_4M.fd "$W/vars.fd"
	fw=(-drive "if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd"
		-drive "if=pflash,format=raw,unit=1,file=$W/vars.fd")
fi
nics=()
for ((i = 0; i < NICS; i++)); do
	nics+=(-netdev "user,id=n$i,net=10.0.$((2 + i)).0/24" -device "virtio-net-pci,netdev=n$i,mac=$(nic_mac $i),addr=$((3 + i))")
done
append="root=$root_dev rw console=ttyS0"
# the other md member disks follow the first (vdb, ...)
more_disks=()
if [ "$LAYOUT" = md ]; then
	for ((i = 1; i < MD_DISKS; i++)); do more_disks+=(-drive "file=$W/disk$i.raw,format=raw,if=none,id=d$i" -device "virtio-blk-pci,drive=d$i,addr=$((6 + i))"); done
fi
[ "$LAYOUT" = lvm ] && append="$append rd.lvm.lv=$LVM_VG/root"
say "$VARIANT: first boot on virtio (host-only initramfs, grub-install); serial: $DIR/disk-firstboot.serial"
t1=$(now)
timeout 1200 qemu-system-x86_64 -accel "$ACCEL" -cpu max -machine pc -m 1024 -smp 2 \
	-display none -nodefaults -no-reboot -serial "file:$DIR/disk-firstboot.serial" "${fw[@]}" \
	-kernel "$W/vmlinuz" -initrd "$W/initrd.img" -append "$append" \
	-drive "file=$raw,format=raw,if=none,id=d0" -device virtio-blk-pci,drive=d0,addr=0x6 \
	"${more_disks[@]}" "${nics[@]}" || true
if ! grep -q E2E-FIRSTBOOT-DONE "$DIR/disk-firstboot.serial"; then
	say "$VARIANT: first boot failed; see $DIR/disk-firstboot.serial"
	grep -a -E 'E2E-FIRSTBOOT|Gave up|ALERT|emergency|Kernel panic' "$DIR/disk-firstboot.serial" >&2 || tail -n 20 "$DIR/disk-firstboot.serial" >&2
	exit 1
fi
fb=$(since "$t1")
timing "$VARIANT disk first boot ($ACCEL)" "$fb" "$(grep -a -m1 E2E-FIRSTBOOT-CMDLINE "$DIR/disk-firstboot.serial" | tr -d '\r' | sed 's/.*E2E-FIRSTBOOT-CMDLINE *//')"

parts=$(sfdisk -d "$raw" | sed 's/"/\\"/g' | awk '{printf "%s\\n", $0}')
# the source's file systems as the manager would report them (system-configuration.json)
fsjson=
fs_entry() { # device uuid type mountpoint
	fsjson="$fsjson${fsjson:+, }{\"device\": \"$1\", \"uuid\": \"$2\", \"fsType\": \"$3\", \"mountpoint\": \"$4\"}"
}
i=0
while read -r start size; do
	i=$((i + 1))
	info=$(blkid -p -o export -O $((start * 512)) -S $((size * 512)) "$raw" 2>/dev/null || true)
	uuid=$(sed -n 's/^UUID=//p' <<<"$info")
	type=$(sed -n 's/^TYPE=//p' <<<"$info")
	[ -n "$uuid" ] || continue
	case "$LAYOUT/$BOOT/$i" in
	plain/bios/1 | plain/uefi/2) mp=/ ;;
	plain/uefi/1) mp=/boot/efi ;;
	lvm/bios/1) mp=/boot ;;
	*) mp= ;;
	esac
	fs_entry "/dev/vda$i" "$uuid" "$type" "$mp"
done < <(sfdisk -d "$raw" | sed -n 's/.*start= *\([0-9]*\), *size= *\([0-9]*\).*/\1 \2/p')
if [ "$LAYOUT" = md ]; then
	# the other members' partition, then the array (the first member's came above)
	for ((i = 1; i < MD_DISKS; i++)); do
		while read -r start size; do
			info=$(blkid -p -o export -O $((start * 512)) -S $((size * 512)) "$W/disk$i.raw" 2>/dev/null || true)
			fs_entry "$(vdname $i)1" "$(sed -n 's/^UUID=//p' <<<"$info")" "$(sed -n 's/^TYPE=//p' <<<"$info")" ""
		done < <(sfdisk -d "$W/disk$i.raw" | sed -n 's/.*start= *\([0-9]*\), *size= *\([0-9]*\).*/\1 \2/p')
	done
	uuid=$(grep -a -m1 '^E2E-STAGE-ROOTUUID' "$DIR/disk-stage.serial" | tr -d '\r' | sed 's/.*E2E-STAGE-ROOTUUID *//')
	fs_entry "$root_dev" "$uuid" "$ROOTFS" /
fi
if [ "$LAYOUT" = lvm ]; then
	uuid=$(grep -a -m1 '^E2E-STAGE-ROOTUUID' "$DIR/disk-stage.serial" | tr -d '\r' | sed 's/.*E2E-STAGE-ROOTUUID *//')
	fs_entry "$root_dev" "$uuid" "$ROOTFS" /
fi
qemu-img convert -O qcow2 "$raw" "$OUT.qcow2.tmp"
mv "$OUT.qcow2.tmp" "$OUT.qcow2"
# every disk of a multi-disk layout, in the source's order (vda, vdb, ...)
disks_json=
if [ "$LAYOUT" = md ]; then
	disks_json="\"$OUT.qcow2\""
	for ((i = 1; i < MD_DISKS; i++)); do
		qemu-img convert -O qcow2 "$W/disk$i.raw" "$OUT-$i.qcow2.tmp"
		mv "$OUT-$i.qcow2.tmp" "$OUT-$i.qcow2"
		disks_json="$disks_json, \"$OUT-$i.qcow2\""
	done
	disks_json="
  \"disks\": [$disks_json],"
fi
total=$(since "$t0")
cat >"$OUT.json.tmp" <<EOT
{
  "disk": "$OUT.qcow2",
  "format": "qcow2",$disks_json
  "firmware": "$BOOT",
  "rootDevice": "$root_dev",
  "partitions": "$parts",
  "filesystems": [$fsjson],
  "virtualSizeBytes": $((SIZE_MB * 1024 * 1024)),
  "buildSeconds": $total,
  "firstbootSeconds": $fb
}
EOT
mv "$OUT.json.tmp" "$OUT.json"
timing "$VARIANT disk TOTAL" "$total" "qcow2 $(du -h "$OUT.qcow2" | cut -f1)"
