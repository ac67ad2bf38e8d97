#!/usr/bin/env bash
# Builds the osam-fixup disk: a hybrid BIOS+UEFI ISO (grub-mkrescue) that boots as a CD-ROM
# or as a disk (scsi0:15), holding a Debian kernel with the VMware/QEMU storage and NIC
# drivers, an initramfs that is a small Debian root (udev, lvm2, mdadm, e2fsprogs, xfsprogs,
# btrfs-progs, dosfstools, util-linux, qemu-guest-agent, open-vm-tools) whose /init starts the
# agent (fixup-disk/init), and the osam-fixup binary in a squashfs image beside them, which
# init mounts from this disk. Also a VMDK of it.
#
# Usage: scripts/build-fixup-disk.sh [--binary PATH] [--out DIR] [--no-vmdk]
#   --binary PATH  the osam-fixup binary (default dist/osam-fixup, from `npm run build`)
#   --out DIR      also copy osam-fixup.iso (and .vmdk) there
# Cached under /var/cache/osam-fixup/fixup-disk/<hash of the recipe and the binary>/; the
# last line on stdout is the ISO's path. Progress on stderr. Needs root (mmdebstrap).
# Debian packages: mmdebstrap grub-common grub-pc-bin grub-efi-amd64-bin xorriso mtools zstd
# cpio kmod qemu-utils binutils squashfs-tools (Dockerfile.fixup-disk installs exactly these).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
if [ "${1:-}" = --hook-download-kernel ]; then
	# run by mmdebstrap as a customize hook: fetch the kernel package with the build's apt
	export APT_CONFIG=$MMDEBSTRAP_APT_CONFIG
	pkg=$(apt-cache depends linux-image-amd64 | sed -n 's/.*Depends: \(linux-image-[0-9][^ ]*\).*/\1/p' | head -n1)
	cd "$2" && apt-get download -q "$pkg"
	exit
fi
BIN=$repo/dist/osam-fixup
OUTCOPY=
VMDK=1
while [ $# -gt 0 ]; do
	case $1 in
	--binary) BIN=$(realpath "$2"); shift 2 ;;
	--out) OUTCOPY=$2; shift 2 ;;
	--no-vmdk) VMDK=0; shift ;;
	-h | --help) sed -n '2,15p' "$0"; exit 0 ;;
	*) echo "build-fixup-disk: unknown argument $1" >&2; exit 2 ;;
	esac
done
say() { printf '[fixup-disk] %s\n' "$*" >&2; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.1f", b-a}'; }
[ -x "$BIN" ] || { say "no osam-fixup binary at $BIN: run npm run build first (or pass --binary)"; exit 1; }
[ "$(id -u)" = 0 ] || { say "needs root (mmdebstrap --mode=root)"; exit 1; }
for t in mmdebstrap grub-mkrescue xorriso mformat zstd cpio depmod modprobe qemu-img readelf mksquashfs; do
	command -v "$t" >/dev/null || { say "missing $t (see the package list at the top of this script)"; exit 1; }
done

SUITE=${OSAM_FIXUP_SUITE:-bookworm}
MIRROR=${OSAM_DEBIAN_MIRROR:-http://deb.debian.org/debian}
CACHE_ROOT=${OSAM_CACHE:-/var/cache/osam-fixup}
APT_CACHE=$CACHE_ROOT/apt/$SUITE
recipe=$(cd "$repo" && { sha256sum scripts/build-fixup-disk.sh fixup-disk/*; echo "$SUITE"; } | sha256sum | cut -c1-12)
binhash=$(sha256sum "$BIN" | cut -c1-12)
DIR=$CACHE_ROOT/fixup-disk/$recipe-$binhash
ISO=$DIR/osam-fixup.iso

finish() {
	if [ -n "$OUTCOPY" ]; then
		mkdir -p "$OUTCOPY"
		cp "$ISO" "$DIR/meta.json" "$OUTCOPY/"
		[ -f "$DIR/osam-fixup.vmdk" ] && cp "$DIR/osam-fixup.vmdk" "$OUTCOPY/"
		say "copied to $OUTCOPY"
	fi
	echo "$ISO"
}
if [ -f "$DIR/meta.json" ] && { [ $VMDK = 0 ] || [ -f "$DIR/osam-fixup.vmdk" ]; }; then
	finish
	exit 0
fi
mkdir -p "$CACHE_ROOT/fixup-disk" "$APT_CACHE"
exec 9>"$CACHE_ROOT/fixup-disk/.build.lock"
flock -n 9 || { say "waiting for another fixup-disk build"; flock 9; }
if [ -f "$DIR/meta.json" ] && { [ $VMDK = 0 ] || [ -f "$DIR/osam-fixup.vmdk" ]; }; then
	finish
	exit 0
fi

W=$DIR.work
rm -rf --one-file-system "$W"
mkdir -p "$W/iso/boot/grub"
trap 'rm -rf --one-file-system "$W"' EXIT
t0=$(now)

# --- the root: Debian essential + the tools; docs, manuals and locales left out. Cached on
# its own (keyed by the package list), since the binary changes far more often than the root.
PKGS=(udev kmod util-linux mount e2fsprogs xfsprogs btrfs-progs dosfstools lvm2 mdadm
	qemu-guest-agent open-vm-tools libstdc++6 iproute2 procps)
basekey=$({ echo "$SUITE ${PKGS[*]}"; sed -n '/^# --- the root/,/^# --- the initramfs/p' "$0"; } | sha256sum | cut -c1-12)
BASE=$CACHE_ROOT/fixup-disk/base-$basekey
R=$W/root
if [ ! -f "$BASE/root.tar" ]; then
	say "root: mmdebstrap $SUITE essential + ${PKGS[*]}"
	rm -rf --one-file-system "$BASE.tmp"
	mkdir -p "$BASE.tmp/debs"
	set +e
	mmdebstrap --mode=root --variant=essential --include="$(IFS=,; echo "${PKGS[*]}")" \
		--aptopt='Acquire::Retries "3"' --aptopt='APT::Install-Recommends "false"' \
		--dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
		--dpkgopt='path-exclude=/usr/share/info/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
		--dpkgopt='path-exclude=/usr/share/lintian/*' \
		--setup-hook='mkdir -p "$1"/var/cache/apt/archives/' \
		--setup-hook="sync-in $APT_CACHE /var/cache/apt/archives/" \
		--customize-hook="sync-out /var/cache/apt/archives $APT_CACHE" \
		--customize-hook="bash $repo/scripts/build-fixup-disk.sh --hook-download-kernel $BASE.tmp/debs" \
		--customize-hook='rm -f "$1"/var/cache/apt/archives/*.deb' \
		--skip=download/empty \
		"$SUITE" "$BASE.tmp/root.tar" "$MIRROR" >"$BASE.tmp/mmdebstrap.log" 2>&1
	rc=$?
	set -e
	if [ $rc != 0 ]; then
		say "mmdebstrap failed (exit $rc); last lines of $BASE.tmp/mmdebstrap.log:"
		tail -n 30 "$BASE.tmp/mmdebstrap.log" >&2
		exit 1
	fi
	rm -rf --one-file-system "$BASE"
	mv "$BASE.tmp" "$BASE"
	say "root done in $(since "$t0")s"
fi
# --- the initramfs: the root, the kernel's modules and init, without the product. Cached per
# recipe (zstd -19 takes a minute here), since the binary changes far more often.
INITRD=$CACHE_ROOT/fixup-disk/initrd-$recipe
if [ ! -f "$INITRD/meta.env" ]; then
	mkdir -p "$R"
	tar -C "$R" -xf "$BASE/root.tar"

	# kernel and the modules the fixup disk needs (with their dependencies)
	t1=$(now)
	kdeb=$(find "$BASE/debs" -name 'linux-image-[0-9]*.deb' | sort -V | tail -n1)
	[ -n "$kdeb" ] || { say "the kernel package was not downloaded"; exit 1; }
	dpkg-deb -x "$kdeb" "$W/kroot"
	KVER=$(basename "$(find "$W/kroot/lib/modules" -mindepth 1 -maxdepth 1 -type d | head -n1)")
	kmods=$W/kroot/lib/modules/$KVER
	depmod -b "$W/kroot" "$KVER"
	mkdir -p "$R/lib/modules/$KVER"
	n=0
	while read -r m; do
		case $m in '' | '#'*) continue ;; esac
		deps=$(modprobe -d "$W/kroot" -S "$KVER" --show-depends "$m" 2>/dev/null) || { say "no module $m in kernel $KVER (fixup-disk/modules)"; exit 1; }
		while read -r kind ko _; do
			[ "$kind" = insmod ] || continue
			rel=${ko#"$kmods"/}
			[ -f "$R/lib/modules/$KVER/$rel" ] && continue
			mkdir -p "$(dirname "$R/lib/modules/$KVER/$rel")"
			cp "$ko" "$R/lib/modules/$KVER/$rel"
			n=$((n + 1))
		done <<<"$deps"
	done <"$repo/fixup-disk/modules"
	cp "$kmods"/modules.order "$kmods"/modules.builtin "$kmods"/modules.builtin.modinfo "$R/lib/modules/$KVER/"
	depmod -b "$R" "$KVER"
	say "kernel $KVER with $n modules ($(since "$t1")s)"

	# the init; the product is mounted at $PRODUCT_DIR from the ISO's squashfs image at boot
	install -m 0755 "$repo/fixup-disk/init" "$R/init"
	install -m 0755 "$repo/fixup-disk/shutdown" "$R/usr/sbin/shutdown"
	mkdir -p "$R/usr/local/osam"
	ln -sfn /usr/local/osam/osam-fixup "$R/usr/local/bin/osam-fixup"
	echo osam-fixup >"$R/etc/hostname"
	: >"$R/etc/fstab"
	# the guest's LVM metadata must not be rewritten by stale caches of this system
	sed -i 's/^\(\s*\)# *write_cache_state = .*/\1write_cache_state = 0/' "$R/etc/lvm/lvm.conf" 2>/dev/null || true
	# what the initramfs does not need at run time
	rm -rf "$R"/var/cache/apt/* "$R"/var/lib/apt/lists/* "$R"/usr/share/doc "$R"/usr/share/man "$R"/usr/share/locale
	# perl (pulled in by usrmerge, perl-base is Essential) and python3 (by xfsprogs' xfs_scrub_all)
	# are not run here; the hardware database only adds model names; dpkg never runs here
	rm -rf "$R"/usr/lib/x86_64-linux-gnu/perl "$R"/usr/share/perl "$R"/usr/lib/x86_64-linux-gnu/libperl.so* \
		"$R"/usr/lib/x86_64-linux-gnu/perl-base "$R"/usr/share/perl5 "$R"/usr/bin/perl "$R"/usr/bin/perl5* \
		"$R"/usr/lib/python3* "$R"/usr/bin/python3* "$R"/usr/lib/udev/hwdb.bin "$R"/usr/lib/udev/hwdb.d \
		"$R"/var/lib/dpkg/info "$R"/usr/bin/dpkg-* "$R"/usr/bin/localedef "$R"/usr/share/i18n \
		"$R"/usr/share/zsh "$R"/usr/share/bash-completion "$R"/usr/share/gdb "$R"/usr/share/lintian \
		"$R"/usr/lib/x86_64-linux-gnu/tc "$R"/var/cache/debconf/*-old
	# ICU (30 MiB of data) is only there for libxml2, which only VGAuthService (SAML tokens; init
	# starts vmtoolsd alone, and guest operations authenticate with a password) and xfs_scrub
	# (online scrub, never run here) need
	rm -rf "$R"/usr/bin/VGAuthService "$R"/usr/sbin/xfs_scrub* "$R"/usr/lib/x86_64-linux-gnu/libicu* \
		"$R"/usr/lib/x86_64-linux-gnu/libxml2.so* "$R"/usr/lib/x86_64-linux-gnu/libxmlsec1* \
		"$R"/usr/lib/x86_64-linux-gnu/libxslt.so* "$R"/usr/lib/x86_64-linux-gnu/libexslt.so*
	# iconv's converters: this system runs in C.UTF-8, whose conversions are built into glibc
	find "$R"/usr/lib/x86_64-linux-gnu/gconv -name '*.so' -delete 2>/dev/null || true
	rm -f "$R"/etc/systemd/system/*.wants/* 2>/dev/null || true
	# nothing pruned above may be a library something left here needs: every ELF file's NEEDED
	# entries must resolve inside the root (dlopen'ed plugins, such as vmtoolsd's, are ELF files
	# here too and are checked the same way)
	missing=$(cd "$R" && find usr/bin usr/sbin usr/lib usr/local -type f \( -perm -u+x -o -name '*.so*' \) -print0 |
		{ xargs -0 readelf -d 2>/dev/null || true; } | awk -v R="$R" '
			/^File: / { f = $2; next }
			/\(NEEDED\)/ { lib = $NF; gsub(/[][]/, "", lib); if (!(lib in ok)) { ok[lib] = 0
				for (i = 0; i < 3; i++) { d = i == 0 ? "/usr/lib/x86_64-linux-gnu/" : i == 1 ? "/usr/lib/" : "/usr/lib64/"
					if ((getline _ < (R d lib)) >= 0) { ok[lib] = 1; close(R d lib); break } } }
				if (!ok[lib]) print f ": " lib }')
	[ -z "$missing" ] || { say "pruned too much; libraries needed but gone:"; echo "$missing" >&2; exit 1; }

	t2=$(now)
	rm -rf --one-file-system "$INITRD.tmp"
	mkdir -p "$INITRD.tmp"
	# zero-padded to 512 bytes: the kernel reads the product's archive appended after it
	(cd "$R" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet) | zstd -q -T0 -19 >"$INITRD.tmp/initrd.zst"
	truncate -s %512 "$INITRD.tmp/initrd.zst"
	cp "$W/kroot/boot/vmlinuz-$KVER" "$INITRD.tmp/vmlinuz"
	printf 'KVER=%s\nNMODULES=%s\nROOT_BYTES=%s\n' "$KVER" "$n" "$(du -sb "$R" | cut -f1)" >"$INITRD.tmp/meta.env"
	say "initramfs $(du -h "$INITRD.tmp/initrd.zst" | cut -f1) zstd -19 (root $(du -sh "$R" | cut -f1)) in $(since "$t2")s"
	rm -rf --one-file-system "$INITRD"
	mv "$INITRD.tmp" "$INITRD"
	rm -rf --one-file-system "$R" "$W/kroot"
fi
# shellcheck disable=SC1091
. "$INITRD/meta.env"

# --- the product: the binary in a squashfs image on the ISO (init mounts it; read on demand,
# so neither the loader nor the kernel copies its 108 MiB at boot), and one more archive in
# the initramfs with this build's version
t3=$(now)
mkdir -p "$W/product" "$W/ver/etc"
install -m 0755 "$BIN" "$W/product/osam-fixup"
mksquashfs "$W/product" "$W/iso/osam-fixup.sqfs" -comp zstd -Xcompression-level 19 -b 1M -noappend -all-root -no-xattrs -quiet -no-progress >/dev/null
version=$("$BIN" --version 2>/dev/null | head -n1 || echo unknown)
echo "osam-fixup disk $recipe-$binhash ($version, $SUITE, kernel $KVER)" >"$W/ver/etc/osam-fixup-disk.version"
cp "$INITRD/initrd.zst" "$W/iso/boot/initrd.img"
(cd "$W/ver" && echo etc/osam-fixup-disk.version | cpio -o -H newc --quiet) >>"$W/iso/boot/initrd.img"
cp "$INITRD/vmlinuz" "$W/iso/boot/vmlinuz"
say "product squashfs $(du -h "$W/iso/osam-fixup.sqfs" | cut -f1) in $(since "$t3")s"
cp "$repo/fixup-disk/grub.cfg" "$W/iso/boot/grub/grub.cfg"
t4=$(now)
mkdir -p "$DIR"
# no GRUB translations, fonts or themes (a serial console and a zero timeout), its modules xz'ed
grub-mkrescue --locales= --fonts= --themes= --compress=xz -o "$W/osam-fixup.iso" "$W/iso" -- -volid OSAM_FIXUP >"$W/grub-mkrescue.log" 2>&1 ||
	{ say "grub-mkrescue failed:"; cat "$W/grub-mkrescue.log" >&2; exit 1; }
mv "$W/osam-fixup.iso" "$ISO"
say "ISO $(du -h "$ISO" | cut -f1) in $(since "$t4")s"
if [ $VMDK = 1 ]; then
	qemu-img convert -f raw -O vmdk -o adapter_type=lsilogic "$ISO" "$DIR/osam-fixup.vmdk.tmp"
	mv "$DIR/osam-fixup.vmdk.tmp" "$DIR/osam-fixup.vmdk"
	say "VMDK $(du -h "$DIR/osam-fixup.vmdk" | cut -f1)"
fi
cat >"$DIR/meta.json" <<EOT
{
  "iso": "$ISO",
  "vmdk": $([ $VMDK = 1 ] && echo "\"$DIR/osam-fixup.vmdk\"" || echo null),
  "version": "$version",
  "binarySha256": "$(sha256sum "$BIN" | cut -d' ' -f1)",
  "recipe": "$recipe",
  "suite": "$SUITE",
  "kernel": "$KVER",
  "modules": $NMODULES,
  "isoBytes": $(stat -c %s "$ISO"),
  "initrdBytes": $(stat -c %s "$W/iso/boot/initrd.img"),
  "squashfsBytes": $(stat -c %s "$W/iso/osam-fixup.sqfs"),
  "rootBytes": $ROOT_BYTES,
  "buildSeconds": $(since "$t0"),
  "builtAt": "$(date -Is)"
}
EOT
say "done in $(since "$t0")s: $DIR"
# keep the three newest builds (a new binary makes a new one each time) and the two newest initramfs
old_dirs() { # KEEP FIND-TESTS...
	local keep=$1
	shift
	find "$CACHE_ROOT/fixup-disk" -mindepth 1 -maxdepth 1 -type d "$@" ! -name '*.work' ! -name '*.tmp' -printf '%T@ %p\n' | sort -rn | tail -n +$((keep + 1)) | cut -d' ' -f2-
}
{ old_dirs 3 -name '*-*' ! -name 'base-*' ! -name 'initrd-*'; old_dirs 2 -name 'initrd-*'; } |
	while read -r old; do rm -rf --one-file-system "$old"; done
finish
