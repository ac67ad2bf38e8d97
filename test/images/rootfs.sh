#!/usr/bin/env bash
# Builds the pristine tree of one variant with mmdebstrap from Debian's archive.
# Usage (from build.sh): rootfs.sh VARIANT OUTDIR. Progress on stderr; OUTDIR/rootfs, meta.json.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=test/images/lib.sh
. "$here/lib.sh"
VARIANT=$1 OUT=$2
# shellcheck source=/dev/null
. "$here/variants/$VARIANT.env"
export VARIANT INITRD BOOT LAYOUT ROOTFS NET NICS
export ITOOLS_MODULES=${ITOOLS_MODULES:-dep}

case $BOOT in
bios) grub="grub-pc" ;;
uefi) grub="grub-efi-amd64" ;;
*) echo "rootfs.sh: bad BOOT=$BOOT" >&2; exit 1 ;;
esac
pkgs="linux-image-amd64 $grub $INITRD systemd-sysv udev kmod iproute2 procps e2fsprogs $PACKAGES"
apt=$APT_CACHE/$SUITE
mkdir -p "$apt" "$OUT"
log=$OUT/mmdebstrap.log
say "$VARIANT: mmdebstrap $SUITE minbase + ${pkgs// /,} (log: $log)"
t0=$(now)
# the apt cache is shared by every variant of a suite, so a second variant downloads little
set +e
mmdebstrap --mode=root --variant=minbase --include="${pkgs// /,}" \
	--aptopt='Acquire::Retries "3"' --aptopt='APT::Install-Recommends "false"' \
	--setup-hook='mkdir -p "$1"/var/cache/apt/archives/' \
	--setup-hook="sync-in $apt /var/cache/apt/archives/" \
	--customize-hook="sync-out /var/cache/apt/archives $apt" \
	--customize-hook="bash \"$here/customize.sh\" \"\$1\"" \
	--skip=download/empty \
	"$SUITE" "$OUT/rootfs" "$MIRROR" 2>&1 | tee "$log" | grep --line-buffered -E '^(I|W|E): ' | sed -u "s/^/[images] $VARIANT: /" >&2
rc=${PIPESTATUS[0]}
set -e
if [ "$rc" != 0 ]; then say "$VARIANT: mmdebstrap failed (exit $rc); last lines of $log:"; tail -n 30 "$log" >&2; exit 1; fi
secs=$(since "$t0")
kver=$(basename "$(find "$OUT/rootfs/lib/modules" -mindepth 1 -maxdepth 1 -type d | sort -V | tail -n1)")
size=$(du -sm "$OUT/rootfs" | cut -f1)
nics=
for ((i = 0; i < NICS; i++)); do
	gw=null; [ "$i" = 0 ] && gw="\"$(nic_gw $i)\""
	nics="$nics${nics:+,}{\"name\":\"ens$((3 + i))\",\"mac\":\"$(nic_mac $i)\",\"ipv4\":\"$(nic_addr $i)\",\"gateway\":$gw}"
done
cat >"$OUT/meta.json" <<EOT
{
  "variant": "$VARIANT",
  "suite": "$SUITE",
  "initrd": "$INITRD",
  "boot": "$BOOT",
  "layout": "$LAYOUT",
  "rootfsType": "$ROOTFS",
  "net": "$NET",
  "kernel": "$kver",
  "nics": [$nics],
  "packages": "$pkgs",
  "builtAt": "$(date -Is)",
  "buildSeconds": $secs,
  "sizeMB": $size
}
EOT
timing "$VARIANT rootfs (mmdebstrap $SUITE)" "$secs" "${size}M kernel $kver"
