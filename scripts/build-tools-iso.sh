#!/usr/bin/env bash
# Builds the tools ISO that the stage-2 sentinel installs VMware Tools from in tests: Debian's
# open-vm-tools .deb for one suite plus the dependencies a minimal guest does not already
# have (anything above Priority: required), in the layout the sentinel looks for
# (deb/debian-<major>/*.deb). Fetched with apt from Debian's archive through a private apt
# configuration; the host's own apt state is not touched.
#
#   bash scripts/build-tools-iso.sh bullseye|bookworm|trixie
#
# Progress goes to stderr; the last line on stdout is the ISO's path. Cached under
# /var/cache/osam-fixup/tools-iso/<suite>-<hash of this script>/ (OSAM_CACHE overrides the root).
#
# OSAM_TOOLS_ISO=/path/to/linux.iso: use that ISO instead (a real VMware Tools ISO, whose
# VMwareTools-*.tar.gz the sentinel installs with vmware-install.pl, or an ISO of packages in
# the layout above); it is checked and its path printed, nothing is built.
set -euo pipefail
say() { echo "build-tools-iso: $*" >&2; }

if [ -n "${OSAM_TOOLS_ISO:-}" ]; then
  [ -f "$OSAM_TOOLS_ISO" ] || { say "OSAM_TOOLS_ISO=$OSAM_TOOLS_ISO: no such file"; exit 1; }
  listing=$(xorriso -indev "$OSAM_TOOLS_ISO" -find / -maxdepth 3 2>/dev/null || true)
  if ! grep -qE "^'?/(VMwareTools-[^/]*\.tar\.gz|deb/[^/]*/[^/]*\.deb|rpm/[^/]*/[^/]*\.rpm|deb/[^/]*\.deb|rpm/[^/]*\.rpm)'?$" <<<"$listing"; then
    say "warning: $OSAM_TOOLS_ISO has no VMwareTools-*.tar.gz and no deb/ or rpm/ packages; the sentinel will not find tools on it"
  fi
  say "using $OSAM_TOOLS_ISO (OSAM_TOOLS_ISO)"
  echo "$OSAM_TOOLS_ISO"
  exit 0
fi

SUITE=${1:-}
case "$SUITE" in
  bullseye) MAJOR=11 ;;
  bookworm) MAJOR=12 ;;
  trixie) MAJOR=13 ;;
  *) echo "usage: $0 bullseye|bookworm|trixie" >&2; exit 2 ;;
esac
MIRROR=${OSAM_DEBIAN_MIRROR:-http://deb.debian.org/debian}
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
ARCH=amd64

HASH=$( { cat "$0"; echo "$SUITE $MIRROR $ARCH"; } | sha256sum | cut -c1-12)
CACHE=${OSAM_CACHE:-/var/cache/osam-fixup}/tools-iso
OUT=$CACHE/$SUITE-$HASH
ISO=$OUT/tools.iso

if [ -s "$ISO" ]; then say "cached: $ISO"; echo "$ISO"; exit 0; fi
for t in apt-get apt-cache xorriso dpkg-deb; do
  command -v "$t" >/dev/null || { say "$t is missing (bash scripts/install-deps.sh)"; exit 1; }
done
[ -r "$KEYRING" ] || { say "$KEYRING is missing (apt-get install debian-archive-keyring)"; exit 1; }

mkdir -p "$CACHE"
# one builder per suite at a time; a second caller waits and then finds the cached ISO
exec 9>"$CACHE/.$SUITE.lock"
flock -w 1800 9 || { say "timed out waiting for another build of $SUITE"; exit 1; }
if [ -s "$ISO" ]; then say "cached: $ISO"; echo "$ISO"; exit 0; fi

W=$(mktemp -d "$CACHE/.work-$SUITE.XXXXXX")
trap 'rm -rf "$W"' EXIT
mkdir -p "$W/empty" "$W/lists/partial" "$W/archives/partial" "$W/cache" "$W/state" "$W/iso/deb/debian-$MAJOR"
echo "deb [signed-by=$KEYRING] $MIRROR $SUITE main" >"$W/sources.list"
: >"$W/status"
APT=(
  -o "Dir::Etc::sourcelist=$W/sources.list" -o "Dir::Etc::sourceparts=$W/empty"
  -o "Dir::Etc::preferences=$W/empty/none" -o "Dir::Etc::preferencesparts=$W/empty"
  -o "Dir::State=$W/state" -o "Dir::State::Lists=$W/lists" -o "Dir::State::status=$W/status"
  -o "Dir::Cache=$W/cache" -o "Dir::Cache::archives=$W/archives"
  -o "APT::Architecture=$ARCH" -o "APT::Architectures=$ARCH"
  -o "APT::Install-Recommends=false" -o "APT::Install-Suggests=false"
  -o "APT::Get::Download-Only=true" -o "Debug::NoLocking=true"
  -o "APT::Sandbox::User=root" -o "Acquire::Languages=none"
)
say "apt-get update ($SUITE from $MIRROR)"
timeout 900 apt-get "${APT[@]}" -qq update >&2

# What a minimal guest already has: every Priority: required package of the suite and its
# dependencies (what debootstrap/mmdebstrap --variant=minbase install). The ISO carries the
# rest of open-vm-tools' dependency closure; both closures come from one resolver so they
# pick the same alternatives.
mapfile -t REQUIRED < <(apt-cache "${APT[@]}" dumpavail | awk '
  BEGIN { RS = ""; FS = "\n" }
  /(^|\n)Priority: required(\n|$)/ { for (i = 1; i <= NF; i++) if ($i ~ /^Package: /) { sub(/^Package: /, "", $i); print $i } }
' | sort -u)
[ ${#REQUIRED[@]} -gt 10 ] || { say "found only ${#REQUIRED[@]} required packages in the index"; exit 1; }
closure() { apt-get "${APT[@]}" -s -qq install "$@" | awk '$1 == "Inst" { print $2 }' | sort -u; }
closure "${REQUIRED[@]}" >"$W/base.txt"
closure "${REQUIRED[@]}" open-vm-tools >"$W/all.txt"
mapfile -t EXTRA < <(comm -13 "$W/base.txt" "$W/all.txt")
say "minimal guest: $(wc -l <"$W/base.txt") packages; open-vm-tools needs ${#EXTRA[@]} more"
grep -qx open-vm-tools "$W/all.txt" || { say "open-vm-tools is not installable from $SUITE"; exit 1; }

say "downloading ${EXTRA[*]}"
(cd "$W/archives" && timeout 900 apt-get "${APT[@]}" -qq download "${EXTRA[@]}" >&2)
shopt -s nullglob
debs=("$W"/archives/*.deb)
[ ${#debs[@]} -gt 0 ] || { say "apt downloaded no .deb"; exit 1; }
cp "${debs[@]}" "$W/iso/deb/debian-$MAJOR/"
for d in "${debs[@]}"; do dpkg-deb -W --showformat='${Package} ${Version}\n' "$d"; done | sort >"$W/iso/PACKAGES.txt"
cat >"$W/iso/README.txt" <<EOF
osam-fixup test tools ISO: open-vm-tools for Debian $MAJOR ($SUITE, $ARCH) and the
dependencies above Priority: required. The stage-2 sentinel installs deb/debian-$MAJOR/*.deb
(packages not yet installed in the guest). Built by scripts/build-tools-iso.sh.
EOF
xorriso -as mkisofs -quiet -V OSAM_TOOLS -J -R -o "$W/tools.iso" "$W/iso" >&2
mkdir -p "$OUT"
cp "$W/iso/PACKAGES.txt" "$OUT/PACKAGES.txt"
mv "$W/tools.iso" "$ISO.tmp"
mv "$ISO.tmp" "$ISO"
say "built $ISO ($(du -h "$ISO" | cut -f1))"
echo "$ISO"
