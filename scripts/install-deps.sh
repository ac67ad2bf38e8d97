#!/usr/bin/env bash
# Installs the Debian packages that the build, the tests and the demo need on a fresh
# Debian 12 machine. Idempotent: packages already present are not fetched again.
set -euo pipefail
PKGS=(
  # emulated VMware hardware and images
  qemu-system-x86 qemu-utils ovmf
  # building Debian guest images and the fixup disk
  mmdebstrap debootstrap gpg fdisk e2fsprogs xfsprogs btrfs-progs dosfstools lvm2 mdadm
  grub-common grub-pc-bin grub-efi-amd64-bin xorriso mtools cpio zstd busybox-static squashfs-tools
  # single-binary build (strip), sentinel lint and shells it must run in
  binutils shellcheck dash time debian-archive-keyring
  # vcsim for the vSphere driver tests
  golang-go golang-github-vmware-govmomi-dev
  # PostgreSQL for the manager's wave store tests (a throwaway cluster per test)
  postgresql
  # tools the integration tests call on the host
  kmod util-linux iproute2 udev
  # the browser the report tests open the pages in (driven by playwright-core)
  chromium
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then echo "install-deps: all ${#PKGS[@]} packages present"; exit 0; fi
if [ "$(id -u)" != 0 ]; then
  echo "install-deps: missing Debian packages: ${missing[*]}" >&2
  echo "install-deps: run as root, or: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
