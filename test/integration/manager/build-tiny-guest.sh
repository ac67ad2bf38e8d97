#!/usr/bin/env bash
# Builds the tiny guest the QEMU driver's smoke test boots: a Debian kernel, busybox and
# qemu-guest-agent (on virtio-serial) in an initramfs, packed by grub-mkrescue into
#   fixup.iso    mode=fixup:  creates /tmp/fixup, waits for BEGIN, writes fixup.log,
#                result.json and END like the stage-1 agent (a stand-in for the real disk);
#   replica.img  mode=stage2: the same hybrid image used as a hard disk; waits for a CD-ROM
#                with TOOLS.TXT, prints it on ttyS0 and powers off, like the stage-2 sentinel;
#   tools.iso    a data ISO with TOOLS.TXT (the tools ISO).
# Everything comes from Debian packages. Cached under /var/cache/osam-fixup/tiny-guest-<hash>;
# stdout's last line is that directory. Needs root only for apt-get download's sandbox warning.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
hash=$(sha256sum "$here/build-tiny-guest.sh" | cut -c1-12)
out=/var/cache/osam-fixup/tiny-guest-$hash
if [ -f "$out/done" ]; then echo "$out"; exit 0; fi
for t in apt-get dpkg grub-mkrescue xorriso cpio gzip busybox; do
  command -v "$t" >/dev/null || { echo "build-tiny-guest: $t is missing (scripts/install-deps.sh)" >&2; exit 1; }
done
work=$(mktemp -d /var/tmp/osam-tiny-guest.XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$work"
kpkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-6/{print $2; exit}')
apt-get download "$kpkg" qemu-guest-agent >&2 2>/dev/null || apt-get download "$kpkg" qemu-guest-agent >&2
dpkg -x linux-image-*.deb k
dpkg -x qemu-guest-agent_*.deb qga
kver=$(ls k/lib/modules)
mkdir -p ir/bin ir/sbin ir/proc ir/sys ir/dev ir/tmp ir/run ir/var/run ir/mnt ir/mods ir/lib/x86_64-linux-gnu ir/lib64 ir/usr/sbin ir/usr/bin ir/etc
cp /bin/busybox ir/bin/
for a in $(ir/bin/busybox --list); do [ -e "ir/bin/$a" ] || ln -s busybox "ir/bin/$a"; done
cp qga/usr/sbin/qemu-ga ir/usr/sbin/
for l in $(ldd qga/usr/sbin/qemu-ga | awk '/=>/{print $3}'); do cp -L "$l" ir/lib/x86_64-linux-gnu/; done
cp -L /lib64/ld-linux-x86-64.so.2 ir/lib64/
mods="virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_console
  scsi_common scsi_mod vmw_pvscsi crc64 crc64-rocksoft crc64_rocksoft_generic crct10dif_common
  crct10dif_generic crc-t10dif t10-pi sd_mod cdrom sr_mod isofs vmxnet3"
: > ir/mods/order
for m in $mods; do
  f=$(find "k/lib/modules/$kver" -name "$m.ko" -o -name "$m.ko.xz" | head -1)
  [ -n "$f" ] || continue
  case $f in *.xz) xz -dc "$f" > "ir/mods/$m.ko" ;; *) cp "$f" "ir/mods/$m.ko" ;; esac
  echo "$m" >> ir/mods/order
done
cat > ir/init <<'INIT'
#!/bin/sh
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
mkdir -p /dev/pts /run /tmp; mount -t tmpfs tmp /tmp
for m in $(cat /mods/order); do insmod /mods/$m.ko 2>/dev/ttyS0; done
mode=$(sed -n 's/.*osam\.mode=\([a-z0-9]*\).*/\1/p' /proc/cmdline)
echo "TINY-GUEST: mode=$mode" > /dev/ttyS0
port=
for i in $(seq 50); do
  for d in /sys/class/virtio-ports/*; do
    [ "$(cat "$d/name" 2>/dev/null)" = org.qemu.guest_agent.0 ] && port=/dev/${d##*/}
  done
  [ -n "$port" ] && [ -e "$port" ] && break; sleep 0.2
done
echo "TINY-GUEST: qga port=$port ($(ls /sys/class/virtio-ports 2>&1 | tr '\n' ' '))" > /dev/ttyS0
[ -n "$port" ] || dmesg | grep -iE 'virtio|insmod|module' | tail -20 > /dev/ttyS0
/usr/sbin/qemu-ga -m virtio-serial -p "$port" -t /run &
echo "TINY-GUEST: scsi=$(ls /sys/class/scsi_device | tr '\n' ' ')" > /dev/ttyS0
if [ "$mode" = fixup ]; then
  mkdir -p /tmp/fixup
  while [ ! -e /tmp/fixup/BEGIN ]; do sleep 0.5; done
  id=$(sed -n 's/.*"migrationId" *: *"\([^"]*\)".*/\1/p' /tmp/fixup/system-configuration.json)
  status=succeeded; code=0; msg="fake stage 1 done"
  if grep -q '"hostname" *: *"fail-stage1"' /tmp/fixup/system-configuration.json; then
    status=failed; code=200; msg="no Linux root filesystem was found (simulated)"
  fi
  { echo "fake stage 1 for $id"; ls -l /tmp/fixup; ls /sys/class/scsi_device; } > /tmp/fixup/fixup.log
  now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  printf '{"migrationId":"%s","status":"%s","code":%s,"message":"%s","startedAt":"%s","finishedAt":"%s","durationMs":1,"version":"tiny","guest":{},"steps":[],"warnings":[]}\n' \
    "$id" "$status" "$code" "$msg" "$now" "$now" > /tmp/fixup/result.json.tmp
  mv /tmp/fixup/result.json.tmp /tmp/fixup/result.json
  echo "$status $code" > /tmp/fixup/END
  echo "TINY-GUEST: stage1 $status" > /dev/ttyS0
  while :; do sleep 60; done
fi
if [ "$mode" = stage2 ]; then
  for i in $(seq 600); do
    for cd in /dev/sr*; do
      [ -e "$cd" ] || continue
      if mount -t iso9660 -o ro "$cd" /mnt 2>/dev/null; then
        if [ -f /mnt/TOOLS.TXT ]; then
          echo "TINY-GUEST: stage2 tools=$(cat /mnt/TOOLS.TXT)" > /dev/ttyS0
          umount /mnt; sleep 1; poweroff -f
        fi
        umount /mnt
      fi
    done
    sleep 1
  done
  echo "TINY-GUEST: stage2 no tools ISO" > /dev/ttyS0
fi
while :; do sleep 60; done
INIT
chmod +x ir/init
(cd ir && find . | cpio -o -H newc --quiet | gzip -1) > initrd.gz
mk() { # mk MODE OUT
  rm -rf iso && mkdir -p iso/boot/grub
  cp "k/boot/vmlinuz-$kver" iso/boot/vmlinuz; cp initrd.gz iso/boot/initrd.gz
  cat > iso/boot/grub/grub.cfg <<CFG
serial --unit=0 --speed=115200
terminal_input serial console
terminal_output serial console
set timeout=0
menuentry tiny { linux /boot/vmlinuz console=ttyS0 quiet osam.mode=$1; initrd /boot/initrd.gz; }
CFG
  grub-mkrescue -o "$2" iso >/dev/null 2>&1
}
mkdir -p "$out.tmp"
mk fixup "$out.tmp/fixup.iso"
mk stage2 "$out.tmp/replica.img"
mkdir -p tools && echo "tiny-tools-1.0" > tools/TOOLS.TXT
xorriso -as mkisofs -quiet -V TOOLS -o "$out.tmp/tools.iso" tools
cp "k/boot/vmlinuz-$kver" "$out.tmp/vmlinuz"; cp initrd.gz "$out.tmp/initrd.gz"
touch "$out.tmp/done"
rm -rf "$out"; mv "$out.tmp" "$out"
echo "$out"
