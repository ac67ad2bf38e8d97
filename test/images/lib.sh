# shellcheck shell=bash disable=SC2034
# Shared by the test image scripts: cache locations, the NIC plan, progress and timing.
CACHE_ROOT=${OSAM_CACHE:-/var/cache/osam-fixup}
IMAGES=$CACHE_ROOT/images
APT_CACHE=$CACHE_ROOT/apt
MIRROR=${OSAM_DEBIAN_MIRROR:-http://deb.debian.org/debian}
LVM_VG=guestvg

# NIC i of every image: KVM name ens(3+i), this MAC and static address under QEMU user net
# (NIC 0: 10.0.2.15/24 via 10.0.2.2; NIC 1: 10.0.3.15/24 on a second user net)
nic_mac() { printf '52:54:00:12:34:%02x\n' $((0x56 + $1)); }
nic_addr() { echo "10.0.$((2 + $1)).15/24"; }
nic_gw() { echo "10.0.$((2 + $1)).2"; }

say() { printf '[images] %s\n' "$*" >&2; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.1f", b-a}'; }
timing() { # timing LABEL SECONDS [EXTRA]
	mkdir -p "$IMAGES"
	printf '%s\t%-44s\t%8ss\t%s\n' "$(date -Is)" "$1" "$2" "${3:-}" | tee -a "$IMAGES/timings.log" >&2
}
