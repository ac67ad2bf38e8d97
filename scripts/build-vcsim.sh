#!/usr/bin/env bash
# Builds vcsim for the vSphere driver's tests, offline, from Debian's golang-go and
# golang-github-vmware-govmomi-dev (GOPATH mode over /usr/share/gocode) plus the test add-ons
# in test/vsphere/vcsim/. Cached under /var/cache/osam-fixup/vcsim-<hash>; stdout's last line
# is the binary's path.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
src=$here/test/vsphere/vcsim
gocode=/usr/share/gocode/src
command -v go >/dev/null || { echo "build-vcsim: go is missing (apt-get install golang-go)" >&2; exit 1; }
[ -d "$gocode/github.com/vmware/govmomi/simulator" ] || { echo "build-vcsim: govmomi source missing (apt-get install golang-github-vmware-govmomi-dev)" >&2; exit 1; }
ver=$(dpkg-query -W -f='${Version}' golang-github-vmware-govmomi-dev 2>/dev/null || echo unknown)
hash=$( { cat "$src"/*.go "$0"; echo "$ver"; go version; } | sha256sum | cut -c1-12)
out=/var/cache/osam-fixup/vcsim-$hash
if [ -x "$out/vcsim" ]; then echo "$out/vcsim"; exit 0; fi
work=$(mktemp -d /var/tmp/osam-vcsim-build.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/src/osamvcsim"
cp "$src"/*.go "$work/src/osamvcsim/"
mkdir -p "$out.tmp"
(
  cd "$work/src/osamvcsim"
  GO111MODULE=off GOPATH="$work:/usr/share/gocode" GOPROXY=off GOFLAGS="" GOCACHE="$work/cache" CGO_ENABLED=0 \
    go build -o "$out.tmp/vcsim" .
) >&2
rm -rf "$out"; mv "$out.tmp" "$out"
echo "$out/vcsim"
