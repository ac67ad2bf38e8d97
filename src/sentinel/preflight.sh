#!/bin/sh
# osam-fixup preflight, the POSIX sh fallback: for a source whose glibc is older than 2.28,
# where the binary cannot start. It prints the same report as `osam-fixup preflight --json`
# (src/protocol/preflight.ts): the inventory (collect.sh's, included below), and the checks
# that need no inspection of the guest: the kernels' drivers for the target, LUKS, free space
# for the rebuilt initramfs images, cloud-init's network, SELinux. What only the binary can
# do (the stage-1 plan, the residue audit, ...) is listed under "skipped".
#
# Read-only: it writes no file and runs only commands that read (df, ls, sed, awk, grep and
# collect.sh's lsblk, blkid, ip). POSIX sh: dash, busybox ash, bash as sh.
#
#   sh preflight.sh [--controller pvscsi|lsilogic|lsisas] [--nic-model vmxnet3|e1000e|e1000]
#                   [--firmware bios|uefi]
# The same from the environment: OSAM_PREFLIGHT_CONTROLLER, OSAM_PREFLIGHT_NIC_MODEL,
# OSAM_PREFLIGHT_FIRMWARE. Test hook: OSAM_PREFLIGHT_ROOT, a tree checked instead of / (the
# inventory still describes the running system; collect.sh's own hooks apply to it).
# Exit status: 0 ready or ready with warnings, 1 blocked, 2 bad usage.
#
# src/sentinel/render.ts fills in the @@...@@ values: the drivers from src/initrd/drivers.ts,
# the space floors from src/fixups/preflight.ts, the stage-1 code from src/protocol/codes.ts.

# collect.sh's functions (js, member, and its main, which prints the inventory)
# osam-include-functions: collect.sh

CONTROLLER_DRIVERS='@@CONTROLLER_DRIVERS@@'
NIC_DRIVERS='@@NIC_DRIVERS@@'
MIN_FREE_BOOT='@@MIN_FREE_BOOT@@'
MIN_FREE_ROOT='@@MIN_FREE_ROOT@@'
NO_SPACE_CODE='@@NO_SPACE_CODE@@'
REPORT_VERSION='@@PREFLIGHT_VERSION@@'
PATH=${OSAM_COLLECT_PATH:+$OSAM_COLLECT_PATH:}/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH
LC_ALL=C
export LC_ALL

usage() {
	echo "usage: sh preflight.sh [--controller pvscsi|lsilogic|lsisas] [--nic-model vmxnet3|e1000e|e1000] [--firmware bios|uefi]" >&2
	exit 2
}

# The value of key $1 in a "key=value key=value" list $2; 1 when it has none.
lookup() {
	for lk_pair in $2; do
		[ "${lk_pair%%=*}" = "$1" ] && echo "${lk_pair#*=}" && return 0
	done
	return 1
}

# ---- findings ----

FINDINGS=''
HAS_BLOCKER=no
HAS_WARNING=no

# $1 code, $2 severity, $3 file ('' for none), $4 why, $5 what to do.
finding() {
	case $2 in blocker) HAS_BLOCKER=yes ;; warning) HAS_WARNING=yes ;; esac
	fd_json="{$(member code "$1" 1)$(member severity "$2")"
	[ -n "$3" ] && fd_json="$fd_json$(member file "$3")"
	fd_json="$fd_json$(member why "$4")$(member todo "$5")}"
	FINDINGS="${FINDINGS:+$FINDINGS,}$fd_json"
	printf '  %-7s %s%s\n          %s\n          to do: %s\n' "$2" "$1" "${3:+ $3}" "$4" "$5" >&2
}

# verdictOf (src/protocol/preflight.ts)
verdict() {
	if [ $HAS_BLOCKER = yes ]; then echo blocked; elif [ $HAS_WARNING = yes ]; then echo 'ready with warnings'; else echo ready; fi
}

# ---- kernels (src/guest/inspect.ts listKernels, src/initrd/modules.ts) ----

# The installed kernels, oldest first: a modules dir with a kernel image, or an image in /boot
# with its modules dir (not a rescue image).
kernel_versions() {
	{
		for kv_dir in "$R/lib/modules"/* "$R/usr/lib/modules"/*; do
			[ -d "$kv_dir" ] || continue
			kv=${kv_dir##*/}
			if [ -e "$R/boot/vmlinuz-$kv" ] || [ -e "$kv_dir/vmlinuz" ]; then echo "$kv"; fi
		done
		for kv_img in "$R/boot"/vmlinuz-*; do
			[ -e "$kv_img" ] || continue
			kv=${kv_img##*/vmlinuz-}
			case $kv in *rescue*) continue ;; esac
			[ -e "$R/lib/modules/$kv" ] && echo "$kv"
		done
	} | awk '
		# compareKernelVersions: number with number, a number newer than letters
		function cmp(a, b,   pa, pb, na, nb, i, x, y, nx, ny) {
			na = split(a, pa, /[-._+~]/)
			nb = split(b, pb, /[-._+~]/)
			for (i = 1; i <= na || i <= nb; i++) {
				if (i > na) return -1
				if (i > nb) return 1
				x = pa[i]; y = pb[i]
				nx = x ~ /^[0-9]+$/; ny = y ~ /^[0-9]+$/
				if (nx && ny) { if (x + 0 != y + 0) return x + 0 < y + 0 ? -1 : 1 }
				else if (nx) return 1
				else if (ny) return -1
				else if (x != y) return x < y ? -1 : 1
			}
			return 0
		}
		!seen[$0]++ { v[n++] = $0 }
		END {
			for (i = 1; i < n; i++) { k = v[i]; for (j = i - 1; j >= 0 && cmp(v[j], k) > 0; j--) v[j + 1] = v[j]; v[j + 1] = k }
			for (i = 0; i < n; i++) print v[i]
		}'
}

# The modules kernel $1 has, loadable (modules.dep) or built in (modules.builtin), one name a
# line with "-" as "_"; 1 when neither file is there.
kernel_modules() {
	for km_base in "$R/lib/modules" "$R/usr/lib/modules"; do
		km_dir=$km_base/$1
		if [ -f "$km_dir/modules.dep" ] && [ -f "$km_dir/modules.builtin" ]; then
			set -- "$km_dir/modules.dep" "$km_dir/modules.builtin"
		elif [ -f "$km_dir/modules.dep" ]; then
			set -- "$km_dir/modules.dep"
		elif [ -f "$km_dir/modules.builtin" ]; then
			set -- "$km_dir/modules.builtin"
		else
			continue
		fi
		awk '
			FILENAME ~ /modules\.dep$/ { i = index($0, ":"); if (i <= 1) next; $0 = substr($0, 1, i - 1) }
			{
				sub(/^[ \t]+/, ""); sub(/[ \t\r]+$/, "")
				if ($0 !~ /\.ko(\.(xz|gz|zst))?$/) next
				sub(/\.ko(\.(xz|gz|zst))?$/, ""); sub(/.*\//, ""); gsub(/-/, "_"); print
			}' "$@" 2>/dev/null
		return 0
	done
	return 1
}

# The drivers of $2 (a space-separated list) that kernel $1 lacks; 1 when its list is unknown.
kernel_lacks() {
	kl_mods=$(kernel_modules "$1") || return 1
	kl_out=''
	for kl_d in $2; do
		kl_n=$(echo "$kl_d" | tr '-' '_')
		printf '%s\n' "$kl_mods" | grep -qxF "$kl_n" || kl_out="${kl_out:+$kl_out }$kl_d"
	done
	echo "$kl_out"
}

# "a and b"
and_list() {
	echo "$*" | sed 's/ / and /g'
}

# kernelFindings (src/preflight/preflight.ts): no kernel with the drivers blocks; a default
# (newest) kernel without them is a warning, as stage 1 makes another one the default.
check_kernels() {
	ck_need="$CONTROLLER $NIC"
	ck_fits=''
	ck_known=0
	ck_good=0
	for ck_v in $(kernel_versions); do
		if ck_l=$(kernel_lacks "$ck_v" "$ck_need"); then
			ck_known=$((ck_known + 1))
			[ -z "$ck_l" ] && ck_good=$((ck_good + 1))
			ck_fits="$ck_fits$ck_v:$(echo "$ck_l" | tr ' ' ',')
"
		else
			finding KERNEL_MODULES_UNKNOWN warning "/lib/modules/$ck_v/modules.dep" \
				"the module list of kernel $ck_v could not be read, so whether it has $(and_list "$ck_need") is unknown" \
				"run depmod $ck_v on the source, or check that the kernel has $(and_list "$ck_need")"
			ck_fits="$ck_fits$ck_v:?
"
		fi
	done
	[ -n "$ck_fits" ] || return 0
	if [ $ck_known -gt 0 ] && [ $ck_good = 0 ]; then
		ck_detail=$(printf '%s' "$ck_fits" | awk -F: '$2 != "?" { gsub(/,/, ", ", $2); printf "%s%s lacks %s", (n++ ? "; " : ""), $1, $2 }')
		finding NO_KERNEL_WITH_DRIVERS blocker '' \
			"no installed kernel has $(and_list "$ck_need") ($ck_detail): the guest cannot see its disks or NIC on the target" \
			"install a kernel with $(and_list "$ck_need") on the source (the distribution's standard kernel has them) before replication"
		return 0
	fi
	# bootChoice (src/initrd/modules.ts): the newest kernel, and the one to boot instead
	ck_newest=$(printf '%s' "$ck_fits" | sed -n '$p')
	ck_nv=${ck_newest%%:*}
	ck_nl=${ck_newest#*:}
	case $ck_nl in '' | '?') return 0 ;; esac
	ck_others=$(printf '%s' "$ck_fits" | sed '$d' | grep -v ':?$')
	ck_pick=$(printf '%s\n' "$ck_others" | sed -n 's/^\(.*\):$/\1/p' | sed -n '$p')
	if [ -z "$ck_pick" ]; then
		case ",$ck_nl," in
		*",$CONTROLLER,"*)
			ck_pick=$(printf '%s\n' "$ck_others" | awk -F: -v c="$CONTROLLER" 'NF >= 2 { n = split($2, a, ","); has = 0; for (i = 1; i <= n; i++) if (a[i] == c) has = 1; if (!has) p = $1 } END { if (p != "") print p }')
			;;
		esac
	fi
	[ -n "$ck_pick" ] || return 0
	ck_lacks=$(echo "$ck_nl" | sed 's/,/, /g')
	ck_img=''
	[ -e "$R/boot/vmlinuz-$ck_nv" ] && ck_img="/boot/vmlinuz-$ck_nv"
	finding DEFAULT_KERNEL_LACKS_DRIVERS warning "$ck_img" \
		"the newest kernel $ck_nv, which boots by default, lacks $ck_lacks; stage 1 will make $ck_pick, the newest kernel that has them, the default" \
		"nothing; install $ck_lacks for $ck_nv and make it the default again after the migration if it should boot"
}

# ---- LUKS (luksFindings) ----

check_luks() {
	cl_names=$(awk '$1 !~ /^#/ && NF >= 2 { print $1 }' "$R/etc/crypttab" 2>/dev/null)
	cl_devs=$(awk '$1 !~ /^#/ && NF >= 2 { print $2 }' "$R/etc/crypttab" 2>/dev/null | tr '\n' ' ' | sed 's/ $//')
	cl_root=$(awk '$1 !~ /^#/ && $2 == "/" { print $1; exit }' "$R/etc/fstab" 2>/dev/null)
	cl_on=no
	case $cl_root in /dev/mapper/luks-* | /dev/mapper/crypt*) cl_on=yes ;; esac
	for cl_n in $cl_names; do
		[ "$cl_root" = "/dev/mapper/$cl_n" ] && cl_on=yes
	done
	if [ $cl_on = yes ]; then
		finding LUKS_ROOT blocker /etc/fstab \
			"the root filesystem ($cl_root) is on a LUKS volume: stage 1 must open it to fix the guest, and it has no key" \
			"stage 1 cannot fix an encrypted root yet: decrypt it, or migrate this guest with a method that keeps the source's boot chain"
	elif [ -n "$cl_devs" ]; then
		if [ "$cl_devs" != "${cl_devs#* }" ]; then cl_are=are cl_them=them; else cl_are=is cl_them=it; fi
		finding LUKS_VOLUME warning /etc/crypttab \
			"$(echo "$cl_devs" | sed 's/ /, /g') $cl_are LUKS-encrypted; stage 1 leaves $cl_them closed and rewrites only the references to $cl_them" \
			"have the passphrase ready for the first boot on the target, or a key file that the guest already uses"
	fi
}

# ---- space (src/fixups/preflight.ts: checkPreflight, spaceNeeded) ----

# "free-KiB mount-point" of the filesystem holding $1.
df_of() {
	df -P -k "$1" 2>/dev/null | awk 'NR == 2 { print $4, $6 }'
}

mb() {
	echo $((($1 + 524288) / 1048576)) MB
}

# Each kernel's initramfs is rebuilt beside the old one (the largest, three times, on /boot)
# and every old one is backed up on /, above a floor for each.
check_space() {
	cs_largest=0
	cs_total=0
	cs_n=0
	for cs_v in $(kernel_versions); do
		cs_n=$((cs_n + 1))
		for cs_f in "initrd.img-$cs_v" "initramfs-$cs_v.img" "initrd-$cs_v" "initrd-$cs_v.img"; do
			[ -e "$R/boot/$cs_f" ] || continue
			# ls, not wc -c: busybox's wc reads the whole image; the names here are known
			# shellcheck disable=SC2012
			cs_size=$(ls -lLn "$R/boot/$cs_f" 2>/dev/null | awk '{ print $5 }')
			cs_size=${cs_size:-0}
			cs_total=$((cs_total + cs_size))
			[ "$cs_size" -gt "$cs_largest" ] && cs_largest=$cs_size
			break
		done
	done
	cs_boot_need=$((cs_largest * 3))
	[ $cs_boot_need -lt "$MIN_FREE_BOOT" ] && cs_boot_need=$MIN_FREE_BOOT
	cs_root_need=$((MIN_FREE_ROOT + cs_total))
	cs_boot=$R/boot
	[ -d "$cs_boot" ] || cs_boot=$R/
	cs_r=$(df_of "$R/")
	cs_b=$(df_of "$cs_boot")
	if [ -z "$cs_r" ] || [ -z "$cs_b" ]; then
		skip "the free space on / and /boot (df could not tell)"
		return 0
	fi
	cs_rfree=$((${cs_r%% *} * 1024))
	cs_bfree=$((${cs_b%% *} * 1024))
	cs_msg=''
	if [ "${cs_r#* }" = "${cs_b#* }" ]; then
		cs_sum=$((cs_root_need + cs_boot_need))
		[ "$cs_rfree" -lt $cs_sum ] && cs_msg="/ (with /boot) has $(mb "$cs_rfree") free; rebuilding $cs_n initramfs image(s) with backups needs about $(mb $cs_sum)"
	elif [ "$cs_bfree" -lt $cs_boot_need ]; then
		cs_msg="/boot has $(mb "$cs_bfree") free; a new initramfs needs about $(mb $cs_boot_need) (remove an old kernel)"
	elif [ "$cs_rfree" -lt $cs_root_need ]; then
		cs_msg="/ has $(mb "$cs_rfree") free; the backups of the initramfs images and the configuration need about $(mb $cs_root_need)"
	fi
	[ -n "$cs_msg" ] || return 0
	finding SPACE_LOW blocker '' "stage 1 would stop with code $NO_SPACE_CODE in preflight: $cs_msg" \
		"free space on / and /boot (remove old kernels) before replication"
}

# ---- cloud-init and SELinux ----

# cloud-init's network configuration is off: "network: {config: disabled}", or a network:
# block with "config: disabled", in cloud.cfg or cloud.cfg.d/*.cfg.
cloud_network_disabled() {
	for cn_f in "$R/etc/cloud/cloud.cfg" "$R/etc/cloud/cloud.cfg.d"/*.cfg; do
		[ -f "$cn_f" ] || continue
		awk '
			/^[ \t]*#/ { next }
			/^network:[ \t]*\{[ \t]*config:[ \t]*disabled[ \t]*\}/ { found = 1 }
			/^network:[ \t]*$/ { innet = 1; next }
			/^[^ \t]/ { innet = 0 }
			innet && /^[ \t]+config:[ \t]*disabled[ \t]*$/ { found = 1 }
			END { exit found ? 0 : 1 }' "$cn_f" && return 0
	done
	return 1
}

check_cloud_init() {
	[ -f "$R/etc/cloud/cloud.cfg" ] || return 0
	cloud_network_disabled && return 0
	finding CLOUD_INIT_NETWORK info /etc/cloud/cloud.cfg \
		"cloud-init is installed; it would render the network again on the first boot on new hardware, so stage 1 disables its network configuration" \
		"nothing; remove /etc/cloud/cloud.cfg.d/99-osam-disable-network-config.cfg after the migration if cloud-init should manage the network again"
}

check_selinux() {
	[ "$(os_value SELINUX "$R/etc/selinux/config" | tr '[:upper:]' '[:lower:]')" = enforcing ] || return 0
	finding SELINUX_ENFORCING info /etc/selinux/config \
		"SELinux is enforcing: files written by stage 1 carry no labels, so stage 1 sets permissive for stage 2 and asks for a relabel" \
		"nothing; the first boot on the target takes longer while the filesystem is relabelled, and stage 2 restores enforcing"
}

# ---- the report ----

# What the binary's preflight does and this script cannot (src/preflight/preflight.ts).
SKIPPED=''
skip() {
	SKIPPED="$SKIPPED,$(js "$1")"
}

preflight_main() {
	SCRIPT_STARTED=$(date +%s)
	CHECKED_AT=$(date -u '+%Y-%m-%dT%H:%M:%SZ')
	CONTROLLER_MODEL=${OSAM_PREFLIGHT_CONTROLLER:-pvscsi}
	NIC_MODEL=${OSAM_PREFLIGHT_NIC_MODEL:-vmxnet3}
	FIRMWARE=${OSAM_PREFLIGHT_FIRMWARE:-}
	while [ $# -gt 0 ]; do
		[ $# -ge 2 ] || usage
		case $1 in
		--controller) CONTROLLER_MODEL=$2 ;;
		--nic-model) NIC_MODEL=$2 ;;
		--firmware) FIRMWARE=$2 ;;
		*) usage ;;
		esac
		shift 2
	done
	CONTROLLER=$(lookup "$CONTROLLER_MODEL" "$CONTROLLER_DRIVERS") || usage
	NIC=$(lookup "$NIC_MODEL" "$NIC_DRIVERS") || usage
	ROOT=${OSAM_PREFLIGHT_ROOT:-/}
	R=${ROOT%/}
	[ -d "$ROOT" ] || usage
	if [ -z "$FIRMWARE" ]; then
		# the source's firmware: the running system's, or for a tree its fstab's ESP
		if [ -z "$R" ]; then
			if [ -d /sys/firmware/efi ]; then FIRMWARE=uefi; else FIRMWARE=bios; fi
		elif awk '$1 !~ /^#/ && ($2 == "/boot/efi" || $2 == "/efi") { f = 1 } END { exit !f }' "$R/etc/fstab" 2>/dev/null; then
			FIRMWARE=uefi
		else
			FIRMWARE=bios
		fi
	fi
	case $FIRMWARE in bios | uefi) ;; *) usage ;; esac

	echo "preflight (sh fallback) of $ROOT for $CONTROLLER_MODEL + $NIC_MODEL, $FIRMWARE:" >&2
	if INVENTORY=$(main) && [ "$(printf '%s\n' "$INVENTORY" | wc -l)" -eq 1 ]; then
		case $INVENTORY in '{'*'}') ;; *) INVENTORY='' ;; esac
	else
		INVENTORY=''
	fi
	if [ -z "$INVENTORY" ]; then
		INVENTORY='{}'
		finding INVENTORY_FAILED warning '' \
			"the collect script failed, so block devices and live addresses are not known; the checks used the files alone" \
			"run the collect script (osam-fixup collect --print-script > collect.sh on any host) as root on the source to see why"
	fi
	check_kernels
	check_luks
	check_space
	check_cloud_init
	check_selinux
	skip "the stage-1 plan: what stage 1 would change and whether it would stop (the layouts and filesystems it refuses, the initramfs rebuild and its contents, the boot loader, the fstab and network rewrites; STAGE1_WOULD_FAIL, PLAN_WARNING); it needs the binary's inspection"
	skip "the residue audit: references to source disks and NICs that stage 1 would leave behind (LEFTOVER, LEFTOVER_BLOCKER)"
	skip "the network map: which configuration system configures each NIC with addresses (NIC_NOT_CONFIGURED)"
	skip "whether stage 1 can make another kernel the default (the boot loader's configuration): DEFAULT_KERNEL_LACKS_DRIVERS is reported as a warning, never as the blocker it is where it cannot"
	skip "whether the root is writable (the stage-1 preflight step)"
	V=$(verdict)
	[ -n "$FINDINGS" ] || echo "  no findings" >&2
	echo "preflight: $V (the JSON report is on standard output)" >&2
	printf '{%s%s%s%s' "$(member version "$REPORT_VERSION" 1)" "$(member root "$ROOT")" "$(member checkedAt "$CHECKED_AT")" ",\"durationMs\":$((($(date +%s) - SCRIPT_STARTED) * 1000))"
	printf ',"target":{%s%s%s}' "$(member scsiController "$CONTROLLER_MODEL" 1)" "$(member nicModel "$NIC_MODEL")" "$(member firmware "$FIRMWARE")"
	printf '%s,"findings":[%s],"skipped":[%s],"plan":[],"guest":%s}\n' "$(member verdict "$V")" "$FINDINGS" "${SKIPPED#,}" "$INVENTORY"
	[ "$V" = blocked ] && exit 1
	exit 0
}

preflight_main "$@"
