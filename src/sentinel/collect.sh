#!/bin/sh
# osam-fixup collect: the source inventory, printed as the "source" part of
# system-configuration.json (see src/protocol/schemas.ts). Runs on the source system before
# migration, so it is POSIX sh with fallbacks for old userlands: lsblk or /proc/partitions,
# blkid or /dev/disk links, ip or ifconfig. Read-only; needs root only for blkid's view of
# devices that are not cached. Test hooks: OSAM_COLLECT_NET_ROOT (a tree read instead of
# /sys/class/net, /proc/net, /etc/resolv.conf and /run/systemd/resolve), OSAM_COLLECT_PATH
# (directories of stub commands put before the standard PATH).
PATH=${OSAM_COLLECT_PATH:+$OSAM_COLLECT_PATH:}/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH
LC_ALL=C
export LC_ALL

# JSON string: backslash and double quote escaped, tabs as \t, other control bytes dropped.
js() {
	printf '"%s"' "$(printf '%s' "$1" | tr -d '\000-\010\012-\037' | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/	/\\t/g')"
}

# A JSON array of the lines of standard input, as strings (empty lines left out).
js_lines() {
	jl_sep=''
	printf '['
	while IFS= read -r jl_line; do
		[ -n "$jl_line" ] || continue
		printf '%s' "$jl_sep"
		js "$jl_line"
		jl_sep=','
	done
	printf ']'
}

# "key": "value" with a leading comma when it is not the first member ($3: 1 if first).
member() {
	[ "$3" = 1 ] || printf ','
	printf '%s:%s' "$(js "$1")" "$(js "$2")"
}

first_line() {
	sed -n '1p' "$1" 2>/dev/null
}

# osam-include: os-detect.sh

valid_uuid() {
	case $1 in '' | *[!0-9A-Fa-f-]*) return 1 ;; esac
	[ ${#1} -ge 4 ] && [ ${#1} -le 64 ]
}

valid_device() {
	case $1 in /dev/*) ;; *) return 1 ;; esac
	case $1 in *[!A-Za-z0-9._/:-]* | */../* | */..) return 1 ;; esac
	return 0
}

valid_ifname() {
	case $1 in '' | -* | . | .. | *[!A-Za-z0-9_.-]*) return 1 ;; esac
	[ ${#1} -le 15 ]
}

valid_mac() {
	case $1 in
	[0-9a-fA-F][0-9a-fA-F]:[0-9a-fA-F][0-9a-fA-F]:[0-9a-fA-F][0-9a-fA-F]:[0-9a-fA-F][0-9a-fA-F]:[0-9a-fA-F][0-9a-fA-F]:[0-9a-fA-F][0-9a-fA-F])
		[ "$1" != 00:00:00:00:00:00 ]
		;;
	*) return 1 ;;
	esac
}

# ---- facts ----

os_facts() {
	os_detect ''
	[ -n "$OS_FROM" ] || return 0
	printf ',"os":{%s%s}' "$(member id "$OS_ID" 1)" "$(member version "$OS_VERSION")"
}

hypervisor() {
	if command -v systemd-detect-virt >/dev/null 2>&1; then
		hv=$(systemd-detect-virt 2>/dev/null)
		[ -n "$hv" ] && {
			echo "$hv"
			return
		}
	fi
	hv_vendor="$(first_line /sys/class/dmi/id/sys_vendor) $(first_line /sys/class/dmi/id/product_name)"
	case $hv_vendor in
	*QEMU* | *KVM*) echo kvm ;;
	*VMware*) echo vmware ;;
	*Microsoft*) echo microsoft ;;
	*Xen*) echo xen ;;
	*innotek* | *VirtualBox*) echo oracle ;;
	*Nutanix*) echo kvm ;;
	*Amazon*) echo amazon ;;
	*Google*) echo google ;;
	esac
}

default_target() {
	for dt in /etc/systemd/system/default.target /lib/systemd/system/default.target /usr/lib/systemd/system/default.target; do
		dt_link=$(readlink "$dt" 2>/dev/null) && {
			basename "$dt_link"
			return
		}
	done
}

runlevel_value() {
	rl=$(sed -n 's/^[^#:]*:\([0-9Ss]\):initdefault:.*/\1/p' /etc/inittab 2>/dev/null | sed -n '1p')
	if [ -z "$rl" ] && command -v runlevel >/dev/null 2>&1; then
		rl=$(runlevel 2>/dev/null | sed -n 's/^[^ ]* \([0-9Ss]\)$/\1/p')
	fi
	echo "$rl"
}

selinux_mode() {
	if command -v getenforce >/dev/null 2>&1; then
		sm=$(getenforce 2>/dev/null | tr '[:upper:]' '[:lower:]')
		[ -n "$sm" ] && {
			echo "$sm"
			return
		}
	fi
	[ -f /etc/selinux/config ] && os_value SELINUX /etc/selinux/config
}

root_device() {
	if command -v findmnt >/dev/null 2>&1; then
		rd=$(findmnt -n -o SOURCE / 2>/dev/null | sed -n '1p')
		[ -n "$rd" ] && {
			echo "$rd"
			return
		}
	fi
	awk '$2 == "/" && $1 != "rootfs" { d = $1 } END { if (d != "") print d }' /proc/mounts 2>/dev/null
}

# Mount point of a device from /proc/mounts (octal escapes undone), empty if not mounted.
mountpoint_of() {
	awk -v d="$1" '$1 == d { print $2; exit }' /proc/mounts 2>/dev/null |
		sed -e 's/\\040/ /g' -e 's/\\011/	/g' -e 's/\\012//g' -e 's/\\134/\\/g'
}

# The block devices: "path type" lines (disk, part, lvm, raid, crypt; not loop/rom/ram).
block_list() {
	if command -v lsblk >/dev/null 2>&1 && lsblk -n -l -o NAME,TYPE >/dev/null 2>&1; then
		lsblk -n -l -o NAME,TYPE 2>/dev/null | while read -r bl_name bl_type; do
			case $bl_name in loop* | ram* | zram* | fd*) continue ;; esac
			case $bl_type in
			disk | part) echo "/dev/$bl_name $bl_type" ;;
			lvm | crypt | dm | mpath | raid*)
				if [ -b "/dev/mapper/$bl_name" ] || [ "${bl_type#raid}" = "$bl_type" ]; then
					echo "/dev/mapper/$bl_name $bl_type"
				else
					echo "/dev/$bl_name $bl_type"
				fi
				;;
			esac
		done
		return
	fi
	awk 'NR > 2 && $4 != "" { print $4 }' /proc/partitions 2>/dev/null | while read -r bl_name; do
		case $bl_name in loop* | ram* | sr* | zram* | fd*) continue ;; esac
		case $bl_name in
		dm-*)
			bl_dm=$(first_line "/sys/block/$bl_name/dm/name")
			if [ -n "$bl_dm" ]; then echo "/dev/mapper/$bl_dm dm"; else echo "/dev/$bl_name dm"; fi
			;;
		*) echo "/dev/$bl_name disk" ;;
		esac
	done
}

# A command that reads a device or asks a driver: a dead device (a lost iSCSI path, a stale
# network block device) must not hang the inventory, whose next source in line then knows the
# device. At most OSAM_COLLECT_CMD_SECONDS (20) each, where timeout(1) exists (coreutils 7+,
# busybox).
bounded() {
	if command -v timeout >/dev/null 2>&1; then
		timeout "${OSAM_COLLECT_CMD_SECONDS:-20}" "$@"
	else
		"$@"
	fi
}

# KEY=value facts of one device: blkid, else lsblk, else the /dev/disk/by-* links.
device_facts() {
	if command -v blkid >/dev/null 2>&1; then
		df_out=$(bounded blkid -o export "$1" 2>/dev/null)
		if [ -n "$df_out" ]; then
			printf '%s\n' "$df_out" | sed -e 's/\\\(.\)/\1/g' | grep -E '^(UUID|PARTUUID|TYPE|LABEL)='
			return
		fi
	fi
	if command -v lsblk >/dev/null 2>&1; then
		for df_col in UUID PARTUUID FSTYPE LABEL; do
			df_v=$(lsblk -d -n -o "$df_col" "$1" 2>/dev/null | sed -n '1p' | sed 's/[ ]*$//')
			[ -n "$df_v" ] || continue
			[ "$df_col" = FSTYPE ] && df_col=TYPE
			echo "$df_col=$df_v"
		done
		return
	fi
	for df_kind in uuid partuuid label; do
		for df_link in "/dev/disk/by-$df_kind"/*; do
			[ -L "$df_link" ] || continue
			[ "$(readlink -f "$df_link")" = "$(readlink -f "$1")" ] || continue
			echo "$(echo "$df_kind" | tr '[:lower:]' '[:upper:]')=${df_link##*/}"
		done
	done
}

block_devices() {
	bd_first=1
	printf ',"blockDevices":['
	block_list | while read -r bd_dev _; do
		valid_device "$bd_dev" || continue
		bd_uuid='' bd_partuuid='' bd_fs='' bd_label=''
		bd_facts=$(device_facts "$bd_dev")
		bd_old_ifs=$IFS
		IFS='
'
		for bd_kv in $bd_facts; do
			case $bd_kv in
			UUID=*) bd_uuid=${bd_kv#UUID=} ;;
			PARTUUID=*) bd_partuuid=${bd_kv#PARTUUID=} ;;
			TYPE=*) bd_fs=${bd_kv#TYPE=} ;;
			LABEL=*) bd_label=${bd_kv#LABEL=} ;;
			esac
		done
		IFS=$bd_old_ifs
		bd_mnt=$(mountpoint_of "$bd_dev")
		[ "$bd_first" = 1 ] || printf ','
		bd_first=0
		printf '{%s' "$(member device "$bd_dev" 1)"
		valid_uuid "$bd_uuid" && member uuid "$bd_uuid"
		valid_uuid "$bd_partuuid" && member partuuid "$bd_partuuid"
		[ -n "$bd_fs" ] && [ ${#bd_fs} -le 32 ] && member fsType "$bd_fs"
		[ -n "$bd_label" ] && [ ${#bd_label} -le 256 ] && member label "$bd_label"
		case $bd_mnt in /*) member mountpoint "$bd_mnt" ;; esac
		printf '}'
	done
	printf ']'
}

# The addresses of interface $1, one per line, followed by " dynamic" for those a lease gave
# (DHCP, SLAAC: ip prints "dynamic" on their line; ifconfig cannot tell).
addresses_of() {
	if command -v ip >/dev/null 2>&1; then
		ip -o addr show dev "$1" 2>/dev/null | awk '{
			a = ""; d = ""
			for (i = 1; i <= NF; i++) { if (($i == "inet" || $i == "inet6") && i < NF) a = $(i + 1); if ($i == "dynamic") d = " dynamic" }
			if (a != "") print a d }'
	elif command -v ifconfig >/dev/null 2>&1; then
		ifconfig "$1" 2>/dev/null | sed -n -e 's/.*inet addr:\([0-9.]*\).*/\1/p' -e 's/.*inet \([0-9.][0-9.]*\) .*/\1/p' \
			-e 's/.*inet6 addr: *\([0-9a-fA-F:]*\/[0-9]*\).*/\1/p'
	fi
}

# The default route's gateway when it leaves through interface $1 (IPv4 first, then IPv6).
gateway_of() {
	if command -v ip >/dev/null 2>&1; then
		for go_fam in -4 -6; do
			go_gw=$(ip "$go_fam" route show 2>/dev/null | awk -v d="$1" '$1 == "default" { via = ""; dev = ""; for (i = 2; i < NF; i++) { if ($i == "via") via = $(i + 1); if ($i == "dev") dev = $(i + 1) } if (dev == d && via != "") { print via; exit } }')
			[ -n "$go_gw" ] && echo "$go_gw" && return 0
		done
	elif command -v route >/dev/null 2>&1; then
		route -n 2>/dev/null | awk -v d="$1" '$1 == "0.0.0.0" && $8 == d && $2 != "0.0.0.0" { print $2; exit }'
	fi
}

# An IPv4 or IPv6 address (with a zone for a link-local one), as the schema takes it.
valid_ip() {
	case $1 in '' | *[!0-9A-Za-z.:%_-]*) return 1 ;; esac
	[ ${#1} -le 64 ]
}

# osam-include: nameservers.sh

# The name servers the source resolves with (IF_ROOT: the unit tests' tree).
nameservers() {
	nss_first=1
	for nss in $(ns_list "${OSAM_COLLECT_NET_ROOT:-}" | sed -n '1,64p'); do
		valid_ip "$nss" || continue
		if [ "$nss_first" = 1 ]; then printf ',"nameservers":['; else printf ','; fi
		nss_first=0
		js "$nss"
	done
	[ "$nss_first" = 1 ] || printf ']'
}

# What an interface is: physical (a device behind it), bridge, bond, team, vlan, or virtual.
# $1: its /sys/class/net directory, $2: its name. Only physical NICs are mapped to the target;
# the others carry a port's MAC and follow their ports.
if_kind() {
	[ -d "$1/bridge" ] && echo bridge && return
	[ -d "$1/bonding" ] && echo bond && return
	[ -e "$IF_ROOT/proc/net/vlan/$2" ] && echo vlan && return
	ik_type=$(sed -n 's/^DEVTYPE=//p' "$1/uevent" 2>/dev/null)
	case $ik_type in bridge | bond | team | vlan) echo "$ik_type" && return ;; esac
	[ -e "$1/device" ] && echo physical && return
	echo virtual
}

# A physical NIC's own MAC: a bond gives its members its MAC, so the bonding driver's
# "Permanent HW addr" comes first, then ethtool -P, then the current MAC when the kernel
# says it is the permanent one (addr_assign_type 0).
if_permanent_mac() {
	ip_master=$(readlink "$1/master" 2>/dev/null)
	ip_master=${ip_master##*/}
	if [ -n "$ip_master" ] && [ -r "$IF_ROOT/proc/net/bonding/$ip_master" ]; then
		ip_mac=$(awk -v s="$2" '/^Slave Interface:/ { cur = $3 } /^Permanent HW addr:/ && cur == s { print $4; exit }' "$IF_ROOT/proc/net/bonding/$ip_master" | tr 'A-F' 'a-f')
		valid_mac "$ip_mac" && echo "$ip_mac" && return
	fi
	if [ -z "$IF_ROOT" ] && command -v ethtool >/dev/null 2>&1; then
		ip_mac=$(bounded ethtool -P "$2" 2>/dev/null | sed -n 's/^Permanent address: *//p' | tr 'A-F' 'a-f')
		valid_mac "$ip_mac" && echo "$ip_mac" && return
	fi
	[ "$(first_line "$1/addr_assign_type")" = 0 ] && echo "$3"
}

# IF_ROOT: a tree holding sys/class/net and proc/net to read instead of the running system's
# (the unit tests' fake interfaces); empty on a source.
interfaces() {
	IF_ROOT=${OSAM_COLLECT_NET_ROOT:-}
	if_first=1
	printf ',"interfaces":['
	for if_dir in "$IF_ROOT"/sys/class/net/*; do
		[ -e "$if_dir" ] || continue
		if_name=${if_dir##*/}
		[ "$if_name" = lo ] && continue
		valid_ifname "$if_name" || continue
		if_mac=$(first_line "$if_dir/address" | tr 'A-F' 'a-f')
		valid_mac "$if_mac" || continue
		[ "$if_first" = 1 ] || printf ','
		if_first=0
		if_k=$(if_kind "$if_dir" "$if_name")
		printf '{%s%s%s' "$(member name "$if_name" 1)" "$(member mac "$if_mac")" "$(member kind "$if_k")"
		if [ "$if_k" = physical ]; then
			if_perm=$(if_permanent_mac "$if_dir" "$if_name" "$if_mac")
			valid_mac "$if_perm" && member permanentMac "$if_perm"
		fi
		if_addrs=$(addresses_of "$if_name" | awk 'length($1) <= 64')
		printf ',"addresses":%s' "$(printf '%s\n' "$if_addrs" | awk '{ print $1 }' | js_lines)"
		if_dyn=$(printf '%s\n' "$if_addrs" | awk '$2 == "dynamic" { print $1 }')
		[ -z "$if_dyn" ] || printf ',"dynamic":%s' "$(printf '%s\n' "$if_dyn" | js_lines)"
		if_gw=$(gateway_of "$if_name")
		valid_ip "$if_gw" && member gateway "$if_gw"
		printf '}'
	done
	printf ']'
}

main() {
	if [ -d /sys/firmware/efi ]; then fw=uefi; else fw=bios; fi
	printf '{%s' "$(member firmware "$fw" 1)"
	hn=$(hostname 2>/dev/null || first_line /proc/sys/kernel/hostname)
	[ -n "$hn" ] && [ ${#hn} -le 255 ] && member hostname "$hn"
	hv=$(hypervisor)
	[ -n "$hv" ] && [ ${#hv} -le 64 ] && member hypervisor "$hv"
	os_facts
	dt=$(default_target)
	[ -n "$dt" ] && member defaultTarget "$dt"
	rl=$(runlevel_value)
	[ -n "$rl" ] && member runlevel "$rl"
	sm=$(selinux_mode)
	[ -n "$sm" ] && [ ${#sm} -le 32 ] && member selinux "$sm"
	rd=$(root_device)
	[ -n "$rd" ] && [ ${#rd} -le 512 ] && member root "$rd"
	block_devices
	interfaces
	nameservers
	printf '}\n'
}

main "$@"
