#!/usr/bin/env bash
# Own recipe step of deb12-bridge and deb12-bond (their VARIANT.customize.sh links here, so
# each variant's hash covers this file): the address moves from the NICs to a bridge or a
# bond, as a KVM host-style guest or a server with two uplinks has it.
#   deb12-bridge: ifupdown + bridge-utils, br0 over ens3 (iface br0 inet static, bridge_ports)
#   deb12-bond:   netplan (networkd), bond0 active-backup over ens3 (primary) and ens4
# It also installs e2e-netstate, which prints on the console what the e2e checks read (links
# with their kind, master, permanent MAC and driver; addresses; the default route; the bond's
# mode, primary and active port): before the first boot's work on virtio, where it fails the
# image build unless the source's own tools brought the address up on br0/bond0, and before
# the marker of every later boot. meta.json says where the address is: the NICs are ports
# (ipv4 null, master), the bridge or bond is in "virtual".
# Usage (from build.sh): VARIANT=... virtual-links.sh IMAGE-DIR
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=test/images/lib.sh
. "$here/lib.sh"
D=$1
R=$D/rootfs
addr=$(nic_addr 0)
gw=$(nic_gw 0)

case $VARIANT in
deb12-bridge)
	vname=br0 vkind=bridge ports=(ens3) primary=
	cat >"$R/etc/network/interfaces" <<EOT
# This file describes the network interfaces available on your system
# and how to activate them. For more information, see interfaces(5).

source /etc/network/interfaces.d/*

# The loopback network interface
auto lo
iface lo inet loopback

# The NIC is the bridge's port only: the bridge carries the address (KVM host style,
# the guests' tap devices join br0)
iface ens3 inet manual

auto br0
iface br0 inet static
	address $addr
	gateway $gw
	bridge_ports ens3
	bridge_stp off
	bridge_fd 0
	bridge_maxwait 0
EOT
	;;
deb12-bond)
	vname=bond0 vkind=bond ports=(ens3 ens4) primary=ens3
	rm -f "$R"/etc/netplan/*.yaml
	cat >"$R/etc/netplan/01-bond.yaml" <<EOT
# two uplinks, one address: an active-backup bond (ens3 preferred)
network:
    version: 2
    renderer: networkd
    ethernets:
        ens3:
            dhcp4: false
        ens4:
            dhcp4: false
    bonds:
        bond0:
            interfaces: [ens3, ens4]
            addresses:
            - $addr
            routes:
            -   to: default
                via: $gw
            parameters:
                mode: active-backup
                primary: ens3
                mii-monitor-interval: 100
EOT
	chmod 600 "$R/etc/netplan/01-bond.yaml"
	;;
*) echo "virtual-links.sh: no layout for $VARIANT" >&2; exit 1 ;;
esac

# what e2e-netstate waits for and the marker counts: one address, on the bridge or bond
echo "$vname $addr" >"$R/etc/e2e/net-expect"
echo 1 >"$R/etc/e2e/ipv4-count"

cat >"$R/usr/local/sbin/e2e-netstate" <<'EOT'
#!/bin/sh
# Test-image network facts (not part of a real guest), on the console, one per line:
#   E2E-NET link NAME kind=physical|bridge|bond|virtual mac=M perm=M driver=D master=X
#   E2E-NET addr NAME CIDR
#   E2E-NET route ROUTE...          (the IPv4 default routes)
#   E2E-NET bond NAME mode=M primary=P active=A
#   E2E-NET-DONE ok|missing
# after waiting (bounded) for what /etc/e2e/net-expect lists ("DEV CIDR" lines). Exit 1 when
# something expected is missing.
exec >/dev/console 2>&1
want() {
	while read -r dev cidr; do
		[ -n "$cidr" ] || continue
		ip -o -4 addr show dev "$dev" 2>/dev/null | grep -qF " $cidr " || return 1
	done </etc/e2e/net-expect
}
i=0
while [ $i -lt 90 ] && ! want; do sleep 1; i=$((i + 1)); done
for n in /sys/class/net/*; do
	name=${n##*/}
	[ "$name" = lo ] && continue
	kind=virtual
	if [ -d "$n/bridge" ]; then kind=bridge
	elif [ -d "$n/bonding" ]; then kind=bond
	elif [ -e "$n/device" ]; then kind=physical
	fi
	mac=$(cat "$n/address")
	perm=$(cat "$n/bonding_slave/perm_hwaddr" 2>/dev/null || ip -o link show dev "$name" | sed -n 's/.* permaddr \([0-9a-fA-F:]*\).*/\1/p')
	drv=
	[ -L "$n/device/driver" ] && drv=$(basename "$(readlink -f "$n/device/driver")")
	master=
	[ -L "$n/master" ] && master=$(basename "$(readlink -f "$n/master")")
	echo "E2E-NET link $name kind=$kind mac=$mac perm=${perm:-$mac} driver=$drv master=$master"
	if [ $kind = bond ]; then
		echo "E2E-NET bond $name mode=$(cut -d' ' -f1 "$n/bonding/mode") primary=$(cat "$n/bonding/primary") active=$(cat "$n/bonding/active_slave")"
	fi
done
ip -o -4 addr show scope global | awk '{print "E2E-NET addr " $2 " " $4}'
ip -4 route show default | sed 's/^/E2E-NET route /'
if want; then echo "E2E-NET-DONE ok"; else echo "E2E-NET-DONE missing"; exit 1; fi
EOT
chmod 0755 "$R/usr/local/sbin/e2e-netstate"
# the first boot on virtio does its work only when the source's own network came up
mkdir -p "$R/etc/systemd/system/e2e-firstboot.service.d" "$R/etc/systemd/system/e2e-marker.service.d"
cat >"$R/etc/systemd/system/e2e-firstboot.service.d/netstate.conf" <<'EOT'
[Unit]
After=networking.service systemd-networkd.service
[Service]
ExecStartPre=/usr/local/sbin/e2e-netstate
EOT
cat >"$R/etc/systemd/system/e2e-marker.service.d/netstate.conf" <<'EOT'
[Service]
ExecStartPre=-/usr/local/sbin/e2e-netstate
TimeoutStartSec=300
EOT

# meta.json: the NICs are ports, the address, route and the port list are the bridge's or bond's
ports_json=$(printf '%s\n' "${ports[@]}" | jq -R . | jq -s -c .)
jq --arg v "$vname" --arg k "$vkind" --arg a "$addr" --arg g "$gw" --arg p "$primary" --argjson ports "$ports_json" '
	.nics |= map(. + {ipv4: null, gateway: null, master: $v})
	| .virtual = [{name: $v, kind: $k, mac: .nics[0].mac, ports: $ports, ipv4: $a, gateway: $g} + (if $p == "" then {} else {mode: "active-backup", primary: $p} end)]
' "$D/meta.json" >"$D/meta.json.tmp"
mv "$D/meta.json.tmp" "$D/meta.json"
say "$VARIANT: $vkind $vname over ${ports[*]} carries $addr via $gw"
