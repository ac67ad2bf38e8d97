#!/bin/sh
# osam-fixup: the first-boot verification. Stage 1 installed this script beside the stage-2
# sentinel, with a systemd unit (after multi-user.target and graphical.target, never in the
# rescue target of stage 2) and a SysV fallback (S99 in runlevels 2-5). It runs once, on the
# first boot in the restored target, after stage 2: it waits (bounded) until the boot has
# settled and the expected addresses are up, checks the guest from inside against what stage 1
# expected, writes @@VERIFY_RESULT@@ (schema Verification) and prints it on the consoles
# between marker lines, then removes what @@VERIFY_MANIFEST@@ lists (this script, its units,
# the expectations) and keeps its result and its log. It always exits 0: its outcome is in
# the result, and a failed unit would itself make the boot degraded. It never powers off.
#
# POSIX sh only (dash, busybox ash, bash as sh). Stage 1 fills in the @@...@@ values
# (src/sentinel/render.ts).
#
# The expectations (@@DATA_DIR@@/@@VERIFY_EXPECT@@), written by stage 1 (src/fixups/verify.ts):
# one "KEY value..." line each, values without spaces, '#' lines are comments.
#   root-uuid UUID                 the file system mounted at /
#   root-driver DRIVER             the PCI driver under the root's disk (vmw_pvscsi, mptspi, mptsas)
#   nic NAME MAC                   a mapped NIC: present as NAME with MAC
#   address SOURCE TARGET|- CIDR   a source interface's address and the target interface that
#                                  must carry it; '-': the source NIC has no mapping
#   lease SOURCE TARGET|- CIDR     an address the source had from a lease (DHCP, SLAAC): the
#                                  target interface must have one of the same family, any
#   gateway IP                     the source's default gateway
#   dns IP                         a name server the source resolved with
#   target UNIT | runlevel N       the default target (systemd) or runlevel (SysV) of the source
#   tools required|optional        options.requireTools
#
# Test hooks (the tests run it outside a VM):
#   OSAM_VERIFY_ROOT    a tree read instead of / for sys/, proc/, etc/resolv.conf, run/ and
#                       dev/disk/by-uuid (not for the data directory and the listed paths)
#   OSAM_VERIFY_DATA    the data directory (default @@DATA_DIR@@)
#   OSAM_VERIFY_PATH    directories put before the standard PATH (stub commands: ip, systemctl,
#                       findmnt, blkid, systemd-detect-virt, runlevel, resolvectl)
#   OSAM_VERIFY_SETTLE  seconds to wait for systemd's other jobs (default 120)
#   OSAM_VERIFY_WAIT    seconds to wait for the expected addresses (default 90)
#   OSAM_CONSOLE        where the result is printed (default: /dev/console /dev/ttyS0)
#   OSAM_LOG            the log file (default @@VERIFY_LOG@@)

DATA=${OSAM_VERIFY_DATA:-'@@DATA_DIR@@'}
EXPECT="$DATA/@@VERIFY_EXPECT@@"
OWNED="$DATA/@@VERIFY_MANIFEST@@"
RESULT="$DATA/@@VERIFY_RESULT@@"
STAGE2_OWNED="$DATA/@@MANIFEST@@"
STAGE2_RESULT="$DATA/@@RESULT@@"
SELF_UNIT='@@VERIFY_UNIT@@'
MARK_BEGIN='@@VERIFY_MARK_BEGIN@@'
MARK_END='@@VERIFY_MARK_END@@'
R=${OSAM_VERIFY_ROOT:-}
SYS="$R/sys"
PROC="$R/proc"
PATH=${OSAM_VERIFY_PATH:+$OSAM_VERIFY_PATH:}/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH
umask 022
LOG=${OSAM_LOG:-'@@VERIFY_LOG@@'}

# the outcome, filled in by the checks
CHECKS=''
FAILED=''
HYPERVISOR=unknown
GUESTRPC_EV=
STARTED=''

# shellcheck disable=SC2034 # read by log() in log.sh, included below
LOG_TAG=osam-verify
# osam-include: log.sh

# osam-include: console-block.sh

# osam-include: remove-listed.sh

# osam-include: tool.sh

# The commands the checks ask, each the guest's own program (not a busybox applet), or
# missing (status 127, no output): a check without its command reports what it could not see.
run() {
	run_bin=$(tool "$1") || return 127
	shift
	"$run_bin" "$@"
}

has() {
	tool "$1" >/dev/null 2>&1
}

lower() {
	printf '%s\n' "$1" | tr '[:upper:]' '[:lower:]'
}

# The values of every "KEY ..." line of the expectations ($1 KEY), without the key.
expected() {
	sed -n "s/^$1[ 	][ 	]*//p" "$EXPECT" 2>/dev/null | sed 's/[ 	]*$//'
}

# Joins its input lines with ", ".
joined() {
	awk 'NF { printf "%s%s", sep, $0; sep = ", " } END { if (sep != "") print "" }'
}

systemd_running() {
	[ -d "$R/run/systemd/system" ] && has systemctl
}

# The SysV runlevel now ("N 3" -> 3), empty when unknown.
current_runlevel() {
	has runlevel && run runlevel 2>/dev/null | awk '{ print $2; exit }'
}

# 0 while the guest is on its way down (the boot in which stage 2 resumed and powers off).
shutting_down() {
	if systemd_running; then
		[ "$(run systemctl is-system-running 2>/dev/null)" = stopping ] && return 0
		run systemctl list-jobs --no-legend 2>/dev/null | grep -Eq '(poweroff|reboot|halt|shutdown)\.target' && return 0
		return 1
	fi
	case $(current_runlevel) in 0 | 6) return 0 ;; esac
	return 1
}

# Why this boot is not the one to verify (empty when it is): stage 2 has not finished, the
# guest is not in its multi-user target or runlevel, or it is shutting down.
not_now() {
	if [ -f "$STAGE2_OWNED" ]; then
		echo "stage 2 has not finished ($STAGE2_OWNED is there)"
	elif shutting_down; then
		echo "the guest is shutting down"
	elif systemd_running; then
		run systemctl is-active --quiet multi-user.target 2>/dev/null || echo "multi-user.target is not active (rescue or emergency mode)"
	else
		case $(current_runlevel) in S | s | 1) echo "the guest is in single-user mode" ;; esac
	fi
}

# A bounded wait: $1 seconds in steps of 2 s, until the command in the rest succeeds.
wait_for() {
	wf_secs=$1
	shift
	case $wf_secs in '' | *[!0-9]*) wf_secs=60 ;; esac
	wf_tries=$((wf_secs / 2 + 1))
	wf_n=1
	while [ "$wf_n" -le "$wf_tries" ]; do
		"$@" && return 0
		wf_n=$((wf_n + 1))
		[ "$wf_n" -le "$wf_tries" ] && sleep 2
	done
	return 1
}

# 0 when systemd has no job left but this unit's own.
# shellcheck disable=SC2317 # called through wait_for
no_other_jobs() {
	systemd_running || return 0
	[ -z "$(run systemctl list-jobs --no-legend 2>/dev/null | awk -v self="$SELF_UNIT" '$1 ~ /^[0-9]+$/ && $2 != self { print $2 }')" ]
}

# The addresses (CIDR) of interface $1, one per line, lower case.
addresses_of() {
	run ip -o addr show dev "$1" 2>/dev/null | awk '{ for (i = 1; i < NF; i++) if ($i == "inet" || $i == "inet6") print tolower($(i + 1)) }'
}

has_address() {
	addresses_of "$1" | grep -Fxq "$(lower "$2")"
}

# The global addresses of interface $1 in the family of address $2 (IPv4, or IPv6 without the
# link-local ones, which come from the MAC), one per line.
leased_of() {
	case $2 in
	*:*) addresses_of "$1" | grep ':' | grep -v '^fe[89ab][0-9a-f]:' ;;
	*) addresses_of "$1" | grep -v ':' ;;
	esac
}

# shellcheck disable=SC2317 # called from addresses_up, which wait_for calls
has_lease() {
	[ -n "$(leased_of "$1" "$2")" ]
}

# The address and lease expectations, "KIND SOURCE TARGET CIDR" one per line.
address_lines() {
	expected address | sed 's/^/address /'
	expected lease | sed 's/^/lease /'
}

# 0 when every address expected on a target NIC is there.
# shellcheck disable=SC2317 # called through wait_for
addresses_up() {
	au_list=$(address_lines)
	while read -r au_kind _ au_dev au_cidr; do
		[ -n "$au_cidr" ] || continue
		[ "$au_dev" = - ] && continue
		if [ "$au_kind" = lease ]; then
			has_lease "$au_dev" "$au_cidr" || return 1
		else
			has_address "$au_dev" "$au_cidr" || return 1
		fi
	done <<EOF_ADDRESSES
$au_list
EOF_ADDRESSES
	return 0
}

# ---- the result ----

# One entry: $1 check, $2 subject, $3 status, $4 code, $5 expected, $6 actual, $7 detail;
# $8, for a failure, what differs in a few words for the summary.
add_check() {
	# check, status and code are this script's own words: no escaping needed
	ac_entry=$(printf '{"check":"%s","subject":%s,"status":"%s","code":"%s","expected":%s,"actual":%s,"detail":%s}' \
		"$1" "$(json_str "$2")" "$3" "$4" "$(json_str "$5")" "$(json_str "$6")" "$(json_str "$7")")
	CHECKS="$CHECKS${CHECKS:+,}$ac_entry"
	if [ "$3" = failed ]; then
		FAILED="$FAILED${FAILED:+; }${8:-$2: $4}"
		log "FAILED $1 $2 ($4): $7"
	else
		log "$3 $1 $2 ($4): $7"
	fi
}

write_result() {
	if [ -z "$FAILED" ]; then
		wr_verified=true
		wr_summary=verified
	else
		wr_verified=false
		wr_summary="not verified: $FAILED"
	fi
	mkdir -p "$DATA" 2>/dev/null
	if {
		printf '{"version":1,"verified":%s,"summary":%s,"hypervisor":%s,"checks":[%s],' "$wr_verified" "$(json_str "$wr_summary")" "$(json_str "$HYPERVISOR")" "$CHECKS"
		printf '"startedAt":%s,"finishedAt":%s,"log":%s}\n' "$(json_str "$STARTED")" "$(json_str "$(now)")" "$(json_str "$LOG")"
	} >"$RESULT.tmp"; then
		mv -f "$RESULT.tmp" "$RESULT" || log "could not write $RESULT"
	else
		log "could not write $RESULT.tmp"
	fi
	rm -f "$RESULT.tmp"
	sync 2>/dev/null || true
	log "$wr_summary"
}

# ---- facts ----

hypervisor() {
	if has systemd-detect-virt; then
		hv=$(run systemd-detect-virt 2>/dev/null | sed -n '1p')
		if [ "$hv" = vmware ]; then
			# VMware's SMBIOS strings and QEMU's vmport (VMware-like hardware under QEMU) pass the
			# DMI test; the CPU's hypervisor leaf does not lie: on VMware it says vmware too
			hv_cpu=$(run systemd-detect-virt --cpuid 2>/dev/null | sed -n '1p')
			case $hv_cpu in '' | vmware) ;; *) hv=$hv_cpu ;; esac
		fi
		[ -n "$hv" ] && echo "$hv" && return
	fi
	case "$(cat "$SYS/class/dmi/id/sys_vendor" 2>/dev/null) $(cat "$SYS/class/dmi/id/product_name" 2>/dev/null)" in
	*VMware*) echo vmware ;;
	*QEMU* | *KVM*) echo kvm ;;
	*Microsoft*) echo microsoft ;;
	*Xen*) echo xen ;;
	*innotek* | *VirtualBox*) echo oracle ;;
	*) echo unknown ;;
	esac
}

# Whether VMware's GuestRPC channel answers, for a guest that looks like VMware. QEMU's vmport
# answers the backdoor's version query and QEMU can carry VMware's SMBIOS strings, so DMI and
# the backdoor say VMware, but it has no GuestRPC: vmtoolsd then exits 1 right after it starts.
# vmware-rpctool asks for a guestinfo key: VMware answers (the value, or "No value found"); a
# backdoor without GuestRPC gives "Failed sending message to VMware", and open-vm-tools' own VM
# check refuses with "must be run inside a virtual machine on a VMware hypervisor product"
# (exit 255: seen in the deb12-itools e2e on QEMU, where vmtoolsd exits 1 after the same check).
# Sets GUESTRPC (yes, no, unknown) and GUESTRPC_EV, the evidence.
probe_guestrpc() {
	GUESTRPC=unknown
	if ! gr_bin=$(tool vmware-rpctool); then
		GUESTRPC_EV="vmware-rpctool is not installed"
		return
	fi
	if gr_to=$(tool timeout); then
		gr_out=$("$gr_to" 10 "$gr_bin" 'info-get guestinfo.osam.probe' 2>&1)
	else
		gr_out=$("$gr_bin" 'info-get guestinfo.osam.probe' 2>&1)
	fi
	gr_rc=$?
	GUESTRPC_EV="vmware-rpctool info-get: exit $gr_rc: $(printf '%s' "$gr_out" | tr '\n' ' ' | cut -c1-160)"
	case $gr_rc:$gr_out in
	0:* | *"No value found"*) GUESTRPC=yes ;;
	*"Failed sending message"* | *"must be run inside a virtual machine on a VMware hypervisor"*) GUESTRPC=no ;;
	esac
}

# The device mounted at / (a btrfs subvolume's [/path] cut off).
root_source() {
	rs=$(run findmnt -n -o SOURCE / 2>/dev/null | sed -n '1p' | sed 's/\[.*//')
	[ -n "$rs" ] || rs=$(awk '$2 == "/" && $1 != "rootfs" { d = $1 } END { print d }' "$PROC/mounts" 2>/dev/null)
	echo "$rs"
}

root_uuid() {
	ru=$(run findmnt -n -o UUID / 2>/dev/null | sed -n '1p' | tr -d ' ')
	[ -n "$ru" ] || ru=$(run blkid -s UUID -o value "$(root_source)" 2>/dev/null | sed -n '1p')
	if [ -z "$ru" ] && [ -n "$1" ] && [ -L "$R/dev/disk/by-uuid/$1" ]; then
		# no findmnt, no blkid: the by-uuid link of the expected file system names the root's device
		[ "$(readlink -f "$R/dev/disk/by-uuid/$1")" = "$(readlink -f "$R$(root_source)")" ] && ru=$1
	fi
	lower "$ru"
}

# The kernel name of the root's block device (sda2, dm-0, md0): by its device number, else
# by the device mounted (btrfs reports an anonymous device number).
root_block() {
	rb_mm=$(run findmnt -n -o MAJ:MIN / 2>/dev/null | sed -n '1p' | tr -d ' ')
	[ -n "$rb_mm" ] || rb_mm=$(awk '$5 == "/" { m = $3 } END { print m }' "$PROC/self/mountinfo" 2>/dev/null)
	case $rb_mm in
	'' | 0:*) ;;
	*)
		if [ -e "$SYS/dev/block/$rb_mm" ]; then
			rb_dir=$(cd -P "$SYS/dev/block/$rb_mm" 2>/dev/null && pwd) && echo "${rb_dir##*/}" && return
		fi
		;;
	esac
	rb_src=$(root_source)
	rb_real=$(readlink -f "$R$rb_src" 2>/dev/null)
	rb_real=${rb_real:-$rb_src}
	echo "${rb_real##*/}"
}

# The PCI drivers under block device $1, one per line: through dm and md slaves and from a
# partition to its disk, up the device path to the first PCI device that has a driver.
block_drivers() {
	bd_dir=$(cd -P "$SYS/class/block/$1" 2>/dev/null && pwd) || return 0
	bd_slaves=''
	for bd_s in "$bd_dir"/slaves/*; do
		[ -e "$bd_s" ] || [ -L "$bd_s" ] || continue
		bd_slaves="$bd_slaves ${bd_s##*/}"
	done
	if [ -n "$bd_slaves" ]; then
		for bd_s in $bd_slaves; do (block_drivers "$bd_s"); done
		return 0
	fi
	[ -f "$bd_dir/partition" ] && bd_dir=${bd_dir%/*}
	bd_dev=$(cd -P "$bd_dir/device" 2>/dev/null && pwd) || return 0
	while [ -n "$bd_dev" ] && [ "$bd_dev" != "$SYS" ] && [ "$bd_dev" != / ]; do
		if [ -L "$bd_dev/driver" ]; then
			bd_sub=$(readlink "$bd_dev/subsystem" 2>/dev/null)
			if [ "${bd_sub##*/}" = pci ]; then
				bd_drv=$(readlink "$bd_dev/driver")
				echo "${bd_drv##*/}"
				return 0
			fi
		fi
		bd_dev=${bd_dev%/*}
	done
}

# The MAC NIC $1 came with, lower case. A port of a bond or team carries its master's MAC
# (active-backup gives every port the bond's, so "address" names the bond, not the NIC): its
# own is the bonding driver's perm_hwaddr, or the permanent address `ip link` prints.
own_mac() {
	if [ -r "$SYS/class/net/$1/bonding_slave/perm_hwaddr" ]; then
		lower "$(cat "$SYS/class/net/$1/bonding_slave/perm_hwaddr")"
		return
	fi
	om_perm=$(run ip -o link show dev "$1" 2>/dev/null | sed -n 's/.* permaddr \([0-9A-Fa-f:]*\).*/\1/p')
	lower "${om_perm:-$(cat "$SYS/class/net/$1/address" 2>/dev/null)}"
}

# The name of the interface with MAC $1 (its own), if any.
nic_with_mac() {
	for nm_dir in "$SYS"/class/net/*; do
		[ -e "$nm_dir/address" ] || continue
		[ "$(own_mac "${nm_dir##*/}")" = "$1" ] && echo "${nm_dir##*/}" && return 0
	done
	return 1
}

# osam-include: nameservers.sh

# vmtoolsd among the running processes.
vmtoolsd_running() {
	for vr_c in "$PROC"/[0-9]*/comm; do
		[ "$(cat "$vr_c" 2>/dev/null)" = vmtoolsd ] && return 0
	done
	return 1
}

# A string field of stage 2's result file ($1: its key; the last one of that name).
stage2_field() {
	sed -n "s/.*\"$1\":\"\\([^\"]*\\)\".*/\\1/p" "$STAGE2_RESULT" 2>/dev/null | sed -n '1p'
}

# ---- the checks ----

check_root() {
	cr_want=$(lower "$(expected root-uuid | sed -n '1p')")
	if [ -z "$cr_want" ]; then
		add_check root / skipped NOT_APPLICABLE '' "$(root_source)" "stage 1 knew no UUID for the root file system"
		return
	fi
	cr_have=$(root_uuid "$cr_want")
	if [ "$cr_have" = "$cr_want" ]; then
		add_check root / ok OK "$cr_want" "$cr_have" "the root file system is the one stage 1 fixed ($(root_source))"
	else
		add_check root / failed ROOT_UNEXPECTED "$cr_want" "$cr_have" "/ is not the file system stage 1 fixed: the guest booted from another disk or copy ($(root_source))" "/ is ${cr_have:-an unknown file system}, not UUID $cr_want"
	fi
}

check_root_driver() {
	cd_want=$(expected root-driver | sed -n '1p')
	[ -n "$cd_want" ] || return 0
	cd_block=$(root_block)
	cd_have=$(block_drivers "$cd_block" | sort -u | joined)
	if [ -n "$cd_have" ] && [ "$cd_have" = "$cd_want" ]; then
		add_check root-driver "$cd_block" ok OK "$cd_want" "$cd_have" "the root's disk is driven by $cd_have"
	else
		add_check root-driver "$cd_block" failed ROOT_DRIVER "$cd_want" "$cd_have" "the root's disk ($cd_block) is not driven by $cd_want: the target controller is not the one stage 1 prepared the guest for" "the root disk is driven by ${cd_have:-no PCI driver found}, not $cd_want"
	fi
}

check_nics() {
	cn_list=$(expected nic)
	while read -r cn_name cn_mac; do
		[ -n "$cn_name" ] || continue
		cn_mac=$(lower "$cn_mac")
		if [ -e "$SYS/class/net/$cn_name" ]; then
			cn_have=$(own_mac "$cn_name")
			if [ "$cn_have" = "$cn_mac" ]; then
				add_check nic "$cn_name" ok OK "$cn_mac" "$cn_have" "$cn_name is present with its target MAC"
			else
				add_check nic "$cn_name" failed NIC_MAC "$cn_mac" "$cn_have" "$cn_name has another MAC than the target NIC's: the name went to another NIC" "$cn_name has MAC $cn_have, not $cn_mac"
			fi
		else
			cn_other=$(nic_with_mac "$cn_mac")
			add_check nic "$cn_name" failed NIC_MISSING "$cn_mac" "${cn_other:+$cn_mac is $cn_other}" "no interface $cn_name${cn_other:+; the NIC with its MAC is named $cn_other}" "$cn_name ($cn_mac) is missing${cn_other:+ (its MAC is on $cn_other)}"
		fi
	done <<EOF_NICS
$cn_list
EOF_NICS
}

check_addresses() {
	ca_lines=$(address_lines)
	ca_unmapped=''
	while read -r ca_kind ca_src ca_dev ca_cidr; do
		[ -n "$ca_cidr" ] || continue
		if [ "$ca_dev" = - ]; then
			case " $ca_unmapped " in *" $ca_src "*) ;; *) ca_unmapped="$ca_unmapped $ca_src" ;; esac
			continue
		fi
		if [ "$ca_kind" = lease ]; then
			case $ca_cidr in *:*) ca_fam=IPv6 ;; *) ca_fam=IPv4 ;; esac
			ca_have=$(leased_of "$ca_dev" "$ca_cidr" | joined)
			if [ -n "$ca_have" ]; then
				add_check address "$ca_dev $ca_fam lease" ok OK "an $ca_fam address by lease ($ca_src had $ca_cidr)" "$ca_have" "$ca_dev has $ca_have; $ca_src had $ca_cidr from a lease (DHCP or SLAAC), which the target NIC gets anew"
			else
				add_check address "$ca_dev $ca_fam lease" failed ADDRESS_MISSING "an $ca_fam address by lease ($ca_src had $ca_cidr)" "$(addresses_of "$ca_dev" | joined)" "$ca_dev has no $ca_fam address: $ca_src had $ca_cidr from a lease (DHCP or SLAAC), and the target NIC got none" "$ca_dev has no $ca_fam lease"
			fi
			continue
		fi
		if has_address "$ca_dev" "$ca_cidr"; then
			add_check address "$ca_dev $ca_cidr" ok OK "$ca_cidr" "$ca_cidr" "$ca_dev carries $ca_cidr, as $ca_src did on the source"
		else
			add_check address "$ca_dev $ca_cidr" failed ADDRESS_MISSING "$ca_cidr" "$(addresses_of "$ca_dev" | joined)" "$ca_dev lacks $ca_cidr, which $ca_src had on the source" "$ca_dev lacks $ca_cidr"
		fi
	done <<EOF_ADDRESSES
$ca_lines
EOF_ADDRESSES
	for ca_src in $ca_unmapped; do
		ca_list=$(printf '%s\n' "$ca_lines" | awk -v s="$ca_src" '$2 == s && $3 == "-" { print $4 }' | joined)
		add_check address "$ca_src" failed NIC_NOT_MIGRATED "$ca_list" '' "the source NIC $ca_src had $ca_list and is not in network-interface-map.json: no target NIC carries its network" "$ca_src ($ca_list on the source) has no NIC on the target"
	done
}

check_route() {
	cr_gws=$(expected gateway)
	if [ -z "$cr_gws" ]; then
		add_check default-route default skipped NOT_APPLICABLE '' '' "the source's default gateway is not known"
		return
	fi
	for cr_gw in $cr_gws; do
		case $cr_gw in *:*) cr_fam=-6 ;; *) cr_fam=-4 ;; esac
		cr_routes=$(run ip "$cr_fam" route show default 2>/dev/null)
		cr_have=$(printf '%s\n' "$cr_routes" | awk '{ for (i = 1; i < NF; i++) if ($i == "via") print $(i + 1) }' | joined)
		if printf '%s\n' "$cr_routes" | awk -v gw="$(lower "$cr_gw")" '{ for (i = 1; i < NF; i++) if ($i == "via" && tolower($(i + 1)) == gw) f = 1 } END { exit !f }'; then
			add_check default-route "$cr_gw" ok OK "$cr_gw" "$cr_have" "a default route goes via $cr_gw, as on the source"
		else
			add_check default-route "$cr_gw" failed ROUTE_MISSING "$cr_gw" "$cr_have" "no default route via $cr_gw: the guest cannot reach other networks as the source did" "no default route via $cr_gw"
		fi
	done
}

check_dns() {
	cs_want=$(expected dns)
	if [ -z "$cs_want" ]; then
		add_check dns resolv.conf skipped NOT_APPLICABLE '' '' "the source's name servers are not known"
		return
	fi
	# not in $(...): ns_list sets NS_FROM
	ns_list "$R" >"$DATA/.verify-dns.tmp"
	cs_list=$(cat "$DATA/.verify-dns.tmp")
	rm -f "$DATA/.verify-dns.tmp"
	cs_have=$(printf '%s\n' "$cs_list" | sed '/^$/d' | joined)
	cs_missing=''
	for cs_ns in $cs_want; do
		printf '%s\n' "$cs_list" | grep -Fxqi "$cs_ns" || cs_missing="$cs_missing${cs_missing:+, }$cs_ns"
	done
	cs_want=$(printf '%s\n' "$cs_want" | joined)
	if [ -z "$cs_missing" ]; then
		add_check dns resolv.conf ok OK "$cs_want" "$cs_have" "the guest resolves with the source's name servers ($NS_FROM)"
	else
		add_check dns resolv.conf failed DNS_CHANGED "$cs_want" "$cs_have" "$NS_FROM lacks $cs_missing, which the source resolved with" "the name servers are ${cs_have:-none}, not $cs_want"
	fi
}

check_target() {
	ct_unit=$(expected target | sed -n '1p')
	ct_level=$(expected runlevel | sed -n '1p')
	if [ -n "$ct_unit" ] && systemd_running; then
		ct_have=$(run systemctl get-default 2>/dev/null | sed -n '1p')
		if [ "$ct_have" = "$ct_unit" ]; then
			add_check target default.target ok OK "$ct_unit" "$ct_have" "the default target is the source's"
		else
			add_check target default.target failed TARGET_NOT_RESTORED "$ct_unit" "$ct_have" "the default target is not the source's: stage 2 did not restore it" "the default target is ${ct_have:-unknown}, not $ct_unit"
		fi
	elif [ -n "$ct_level" ]; then
		ct_have=$(current_runlevel)
		if [ "$ct_have" = "$ct_level" ]; then
			add_check target runlevel ok OK "$ct_level" "$ct_have" "the runlevel is the source's"
		else
			add_check target runlevel failed TARGET_NOT_RESTORED "$ct_level" "$ct_have" "the runlevel is not the source's: stage 2 did not restore it" "the runlevel is ${ct_have:-unknown}, not $ct_level"
		fi
	else
		add_check target default skipped NOT_APPLICABLE "$ct_unit" '' "the source's default target or runlevel is not known"
	fi
}

# A unit of VMware Tools that cannot run on this hypervisor: on QEMU/KVM and the others the
# backdoor (vmport) has no GuestRPC channel, and vmtoolsd exits 1 right after it starts.
tools_unit() {
	case $1 in open-vm-tools.service | vmtoolsd.service | vmware-tools.service) ;; *) return 1 ;; esac
	case $HYPERVISOR in vmware | none | unknown | '') return 1 ;; esac
	return 0
}

check_failed_units() {
	if ! systemd_running; then
		add_check failed-units systemd skipped NOT_APPLICABLE '' '' "the guest does not run systemd"
		return
	fi
	cf_failed=''
	cf_expected=''
	# --plain (no bullet before a failed unit) is newer than some systemd versions
	cf_list=$(run systemctl --failed --no-legend --plain 2>/dev/null) || cf_list=$(run systemctl --failed --no-legend 2>/dev/null)
	for cf_u in $(printf '%s\n' "$cf_list" | awk '{ u = $1; if (u == "*" || u == "\342\227\217") u = $2; if (u ~ /\./) print u }'); do
		[ "$cf_u" = "$SELF_UNIT" ] && continue
		if tools_unit "$cf_u"; then
			cf_ev=$(run systemctl show -p Result -p ExecMainStatus "$cf_u" 2>/dev/null | tr '\n' ' ' | sed 's/ *$//')
			cf_expected="$cf_expected${cf_expected:+; }$cf_u failed as expected on $HYPERVISOR (no GuestRPC channel: vmtoolsd exits 1; ${cf_ev:-no status})"
			continue
		fi
		cf_failed="$cf_failed${cf_failed:+, }$cf_u"
	done
	if [ -z "$cf_failed" ]; then
		add_check failed-units systemd ok OK '' '' "no failed units${cf_expected:+; $cf_expected}"
	else
		add_check failed-units systemd failed UNITS_FAILED '' "$cf_failed" "failed units: $cf_failed${cf_expected:+; $cf_expected}" "failed units: $cf_failed"
	fi
}

check_tools() {
	ck_policy=$(expected tools | sed -n '1p')
	if [ -f "$STAGE2_RESULT" ] && ! grep -q '"installed":true' "$STAGE2_RESULT"; then
		ck_detail=$(stage2_field detail)
		ck_tcode=$(sed -n 's/.*"tools":{[^}]*"code":"\([A-Z_]*\)".*/\1/p' "$STAGE2_RESULT" | sed -n '1p')
		if [ "$ck_policy" = required ]; then
			add_check tools vmtoolsd failed TOOLS_NOT_RUNNING installed "$ck_tcode" "stage 2 did not install VMware Tools, which are required: ${ck_detail:-see its result}" "VMware Tools were not installed by stage 2"
		else
			add_check tools vmtoolsd skipped NOT_APPLICABLE installed "$ck_tcode" "stage 2 did not install VMware Tools (optional): ${ck_detail:-see its result}"
		fi
		return
	fi
	if [ "$HYPERVISOR" != vmware ]; then
		add_check tools vmtoolsd skipped NOT_APPLICABLE running "$HYPERVISOR" "the guest runs on $HYPERVISOR, not VMware: vmtoolsd has no GuestRPC channel there and is not expected to run${GUESTRPC_EV:+ ($GUESTRPC_EV)}"
		return
	fi
	if vmtoolsd_running; then
		add_check tools vmtoolsd ok OK running running "vmtoolsd is running"
	else
		add_check tools vmtoolsd failed TOOLS_NOT_RUNNING running 'not running' "vmtoolsd is not running on VMware: the guest is not managed by vSphere (no guest info, no clean shutdown)" "vmtoolsd is not running"
	fi
}

main() {
	if [ ! -f "$EXPECT" ]; then
		log "nothing to do: $EXPECT is gone (the verification has run)"
		return 0
	fi
	nn_why=$(not_now)
	if [ -n "$nn_why" ]; then
		log "not verifying in this boot: $nn_why; the verification stays for the next boot"
		return 0
	fi
	STARTED=$(now)
	log "first boot in the restored target: verifying the guest (pid $$)"
	wait_for "${OSAM_VERIFY_SETTLE:-120}" no_other_jobs || log "systemd still has jobs after ${OSAM_VERIFY_SETTLE:-120} s; verifying anyway"
	wait_for "${OSAM_VERIFY_WAIT:-90}" addresses_up || log "not every expected address is up after ${OSAM_VERIFY_WAIT:-90} s"
	if shutting_down; then
		log "the guest is shutting down: the verification stays for the next boot"
		return 0
	fi
	HYPERVISOR=$(hypervisor)
	if [ "$HYPERVISOR" = vmware ]; then
		probe_guestrpc
		# VMware-like hardware under another hypervisor: VMware Tools cannot run there
		[ "$GUESTRPC" = no ] && HYPERVISOR=vmware-like
		log "VMware GuestRPC: $GUESTRPC ($GUESTRPC_EV)"
	fi
	check_root
	check_root_driver
	check_nics
	check_addresses
	check_route
	check_dns
	check_target
	check_failed_units
	check_tools
	write_result
	emit_block "$RESULT" "$MARK_BEGIN" "$MARK_END"
	remove_listed "$OWNED"
	log "the verification removed itself; its result stays in $RESULT"
}

trap 'exit 0' HUP INT TERM
main "$@"
exit 0
