#!/usr/bin/env bash
# Builds (or finds in the cache) a test image.
#   bash test/images/build.sh VARIANT            the pristine chroot tree
#   bash test/images/build.sh VARIANT --disk     also the bootable qcow2 disk
#   bash test/images/build.sh VARIANT --disk-meta  path of the current disk's metadata file
#   bash test/images/build.sh --list             the variants
# A variant may bring its own recipe step, variants/VARIANT.customize.sh: it runs on the
# image directory (rootfs/, meta.json) after the shared recipe, and only that variant's hash
# covers it, so a new layout adds a file instead of rebuilding every other image.
# Progress goes to stderr; the last line on stdout is the image directory
# (/var/cache/osam-fixup/images/VARIANT-HASH, with rootfs/, meta.json and for --disk disk-*.qcow2).
# The hash covers the recipe files, so editing a recipe builds a new image next to the old one.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=test/images/lib.sh
. "$here/lib.sh"

if [ "${1:-}" = --list ]; then
	for f in "$here"/variants/*.env; do basename "$f" .env; done
	exit 0
fi
VARIANT=${1:?usage: build.sh VARIANT [--disk] | --list}
shift
want_disk=0
print_disk_meta=0
for a in "$@"; do
	case $a in
	--disk) want_disk=1 ;;
	--disk-meta) print_disk_meta=1 ;;
	*) echo "build.sh: unknown option $a" >&2; exit 2 ;;
	esac
done
[ -f "$here/variants/$VARIANT.env" ] || { echo "build.sh: unknown variant $VARIANT (known: $(bash "$0" --list | tr '\n' ' '))" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "build.sh: building test images needs root (mmdebstrap --mode=root, loop devices)" >&2; exit 1; }

hash_files() { (cd "$here" && sha256sum "$@" | sha256sum | cut -c1-12); }
cd "$here"
rootfs_recipe=(rootfs.sh customize.sh lib.sh guest/* "variants/$VARIANT.env")
own_step=variants/$VARIANT.customize.sh
[ -f "$own_step" ] && rootfs_recipe+=("$own_step")
rootfs_hash=$(hash_files "${rootfs_recipe[@]}")
disk_hash=$(hash_files "${rootfs_recipe[@]}" disk.sh stage/*)
dir=$IMAGES/$VARIANT-$rootfs_hash
if [ $print_disk_meta = 1 ]; then
	# where the disk metadata of the current recipe is (or will be); builds nothing
	echo "$dir/disk-$disk_hash.json"
	exit 0
fi
mkdir -p "$IMAGES"

# a build killed half-way may leave mounts in its tree: never delete through them
scrub() {
	local d=$1 m
	[ -e "$d" ] || return 0
	for m in $(findmnt -rn -o TARGET | grep -F "$d/" | sort -r); do umount -l "$m" || true; done
	if findmnt -rn -o TARGET | grep -qF "$d/"; then
		say "$d still has mounts; remove them, then run again"
		exit 1
	fi
	rm -rf --one-file-system "$d"
}

# one build at a time on this machine (2 cores; builds share the apt cache)
exec 9>"$IMAGES/.build.lock"
locked=0
lock() {
	[ $locked = 1 ] && return
	if ! flock -n 9; then
		say "$VARIANT: waiting for another image build to finish"
		flock 9
	fi
	locked=1
}

if [ ! -f "$dir/rootfs.done" ]; then
	lock
	if [ ! -f "$dir/rootfs.done" ]; then
		scrub "$dir"
		bash "$here/rootfs.sh" "$VARIANT" "$dir"
		if [ -f "$here/$own_step" ]; then
			say "$VARIANT: its own recipe step, $own_step"
			VARIANT=$VARIANT bash "$here/$own_step" "$dir"
		fi
		touch "$dir/rootfs.done"
	fi
fi
if [ $want_disk = 1 ] && [ ! -f "$dir/disk-$disk_hash.json" ]; then
	lock
	if [ ! -f "$dir/disk-$disk_hash.json" ]; then
		bash "$here/disk.sh" "$VARIANT" "$dir" "$disk_hash"
	fi
fi
echo "$dir"
