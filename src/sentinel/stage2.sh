#!/bin/sh
# osam-fixup stage 2: the sentinel. Stage 1 installed this script with a systemd unit and a
# SysV fallback; on the guest's first boot on VMware hardware it installs VMware Tools from
# the tools CD-ROM, puts back the boot target, runlevel, SELinux mode and single-user settings
# that stage 1 recorded under the data directory, removes what stage 1 installed for it, and
# powers the guest off.
#
# POSIX sh only (dash, busybox ash, bash as sh): the guest may be RHEL 7 or older. Every step
# is idempotent and a power cut at any point resumes to the same end on the next boot.
# Policy (docs/sentinel.md): the first thing it does, and again on every way out, is to close
# the root shell without a password that stage 1 opened (drop-ins, SINGLE=/sbin/sushell). Tools
# that cannot be installed are a warning unless stage 1 rendered REQUIRE_TOOLS=yes
# (options.requireTools). On a failure the guest stays in single-user mode, whose console asks
# for the root password. However it ends, it writes @@RESULT@@ and prints it on the consoles
# between marker lines, where the manager reads it.
#
# Stage 1 fills in the @@...@@ values when it installs the script (src/sentinel/render.ts).
# Overrides, for tests and for people (environment first, then @@DATA_DIR@@/@@OVERRIDES@@
# with KEY=value lines):
#   OSAM_TOOLS_SOURCE  a directory, an ISO image file or a block device holding the tools,
#                      instead of waiting for a CD-ROM
#   OSAM_CDROM_WAIT    seconds to wait for the CD-ROM (default 600)
#   OSAM_POWEROFF      the command that powers off (default: systemctl poweroff, or poweroff)
#   OSAM_LOG           the log file (default @@LOG_FILE@@)
#   OSAM_CRASH_AT      test hook: kill -9 the sentinel itself at this checkpoint
#   OSAM_FAIL_AT       test hook: fail at this checkpoint
#   OSAM_REQUIRE_TOOLS yes|no: the tools policy, instead of the one stage 1 built in
#   OSAM_CONSOLE       where the result is printed (default: /dev/console /dev/ttyS0)

DATA='@@DATA_DIR@@'
MANIFEST="$DATA/@@MANIFEST@@"
STATUS="$DATA/@@STATUS@@"
ST_TARGET="$DATA/@@ST_DEFAULT_TARGET@@"
ST_INITDEFAULT="$DATA/@@ST_INITDEFAULT@@"
ST_SELINUX="$DATA/@@ST_SELINUX@@"
ST_SINGLE="$DATA/@@ST_SYSCONFIG_SINGLE@@"
NONE='@@NONE@@'
RESULT="$DATA/@@RESULT@@"
DROPINS='@@DROPIN_RESCUE@@ @@DROPIN_EMERGENCY@@'
REQUIRE_TOOLS='@@REQUIRE_TOOLS@@'
MARK_BEGIN='@@MARK_BEGIN@@'
MARK_END='@@MARK_END@@'
SINGLE_RE='^[ \t]*SINGLE[ \t]*='
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH
umask 022

MOUNTED=''
MEDIA=''
# the outcome, filled in as the run goes; write_result turns it into the result file
STARTED=''
FINISHED=''
RES_STATUS=''
RES_CODE=''
RES_REASON=''
FAIL_CODE=''
FAIL_REASON=''
TOOLS_CODE=NOT_ATTEMPTED
TOOLS_DETAIL='the sentinel stopped before it got to VMware Tools'
TARGET_RESTORED=false
CONSOLE_SECURED=false
WARNINGS=''
POWER=not-attempted

# shellcheck disable=SC2034 # read by log() in log.sh, included below
LOG_TAG=osam-sentinel
# osam-include: log.sh

set_status() {
	printf '%s %s\n' "$1" "$(now)" >"$STATUS.tmp" 2>/dev/null &&
		mv -f "$STATUS.tmp" "$STATUS" 2>/dev/null
	sync 2>/dev/null || true
}

# A point where the test suite cuts the power (kill -9) to prove that a rerun converges.
checkpoint() {
	log "checkpoint $1"
	sync 2>/dev/null || true
	if [ "${OSAM_CRASH_AT:-}" = "$1" ]; then
		log "test hook: killing the sentinel at checkpoint $1"
		kill -9 $$
	fi
	[ "${OSAM_FAIL_AT:-}" = "$1" ] && fail_with TEST_HOOK "test hook: failing at checkpoint $1"
	return 0
}

# Ends the run as failed with a stable code ($1) and a reason; the exit trap (on_exit) closes
# the console, writes the result and prints it.
fail_with() {
	FAIL_CODE=$1
	shift
	FAIL_REASON=$*
	log "FAILED: $*"
	exit 1
}

fail() {
	fail_with RESTORE_FAILED "$@"
}

warn() {
	log "WARNING: $*"
	WARNINGS="$WARNINGS$*
"
}

# Closes every way to a root shell without a password that stage 1 opened for stage 2: the
# rescue/emergency drop-ins and RHEL 6's SINGLE=/sbin/sushell. With $1 = reload a running
# systemd forgets the drop-ins too, so that the console shell that opens next asks for the
# root password. 1 when something could not be closed.
secure_console() {
	sc_rc=0
	for sc_f in $DROPINS; do
		[ -f "$sc_f" ] || [ -L "$sc_f" ] || continue
		if rm -f "$sc_f"; then log "removed $sc_f: rescue and emergency mode ask for the root password"; else sc_rc=1; fi
	done
	restore_line "$ST_SINGLE" /etc/sysconfig/init "$SINGLE_RE" "single-user shell (SINGLE=)" || sc_rc=1
	if [ "${1:-}" = reload ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
		systemctl daemon-reload >>"$LOG" 2>&1 || {
			log "systemctl daemon-reload failed: the running systemd may still use the drop-ins"
			sc_rc=1
		}
	fi
	if [ $sc_rc = 0 ]; then CONSOLE_SECURED=true; else CONSOLE_SECURED=false; fi
	return $sc_rc
}

# ---- the result: a file in the data directory, and the same JSON on the consoles ----

# osam-include: console-block.sh

# The WARNINGS lines as a JSON array.
json_warnings() {
	jw_sep=''
	printf '['
	while IFS= read -r jw_l; do
		[ -n "$jw_l" ] || continue
		printf '%s%s' "$jw_sep" "$(json_str "$jw_l")"
		jw_sep=','
	done <<EOF_WARNINGS
$WARNINGS
EOF_WARNINGS
	printf ']'
}

# Writes the result file atomically: $1 status, $2 code, $3 reason, $4 guest state.
write_result() {
	wr_installed=false
	case $TOOLS_CODE in INSTALLED | ALREADY_INSTALLED) wr_installed=true ;; esac
	wr_required=false
	[ "$REQUIRE_TOOLS" = yes ] && wr_required=true
	mkdir -p "$DATA" 2>/dev/null
	{
		printf '{"version":1,"status":%s,"code":%s,"reason":%s,' "$(json_str "$1")" "$(json_str "$2")" "$(json_str "$3")"
		printf '"tools":{"installed":%s,"code":%s,"detail":%s,"required":%s},' "$wr_installed" "$(json_str "$TOOLS_CODE")" "$(json_str "$TOOLS_DETAIL")" "$wr_required"
		printf '"targetRestored":%s,"consoleSecured":%s,"guestState":%s,"powerOff":%s,' "$TARGET_RESTORED" "$CONSOLE_SECURED" "$(json_str "$4")" "$(json_str "$POWER")"
		printf '"warnings":%s,"startedAt":%s,"finishedAt":%s,"log":%s}\n' "$(json_warnings)" "$(json_str "$STARTED")" "$(json_str "$(now)")" "$(json_str "$LOG")"
	} >"$RESULT.tmp" || log "could not write $RESULT.tmp"
	mv -f "$RESULT.tmp" "$RESULT" || {
		log "could not write $RESULT"
		rm -f "$RESULT.tmp"
	}
	sync 2>/dev/null || true
	log "stage 2 result: $1 ($2): $3"
}

emit_result() {
	emit_block "$RESULT" "$MARK_BEGIN" "$MARK_END"
}

# Every way out of a run that did not finish: close the console first, then record and print
# why, and leave the guest in single-user mode, where the console asks for the root password.
on_exit() {
	oe_rc=$1
	trap - EXIT
	[ -n "$FINISHED" ] && [ "$oe_rc" = 0 ] && exit 0
	if [ -n "$FINISHED" ] && [ "$POWER" = requested ] && [ "$oe_rc" -gt 128 ]; then
		# the shutdown that power_off asked for stops this service: that is the power-off itself
		exit 0
	fi
	if [ -n "$FINISHED" ]; then
		# restored and cleaned up, but the power-off did not happen
		POWER=failed
		secure_console reload
		write_result "$RES_STATUS" "$RES_CODE" "$RES_REASON; but the guest did not power itself off (exit status $oe_rc): power it off" restored
		emit_result
		exit "$oe_rc"
	fi
	[ "$oe_rc" = 0 ] && oe_rc=1
	secure_console reload || log "WARNING: the console could not be fully closed (see above)"
	release_media
	if [ -z "$FAIL_CODE" ]; then
		FAIL_CODE=ABORTED
		FAIL_REASON="the sentinel stopped unexpectedly (exit status $1)"
	fi
	set_status "failed: $FAIL_REASON"
	write_result failed "$FAIL_CODE" "$FAIL_REASON; the guest stays in single-user mode and its console asks for the root password: read $LOG, fix the cause, then run sh @@SCRIPT@@ (it resumes)" single-user
	log "the guest stays in single-user mode; its console asks for the root password."
	log "fix the cause, then run: sh @@SCRIPT@@   (it resumes where it stopped)"
	emit_result
	exit "$oe_rc"
}

load_overrides() {
	ov_file="$DATA/@@OVERRIDES@@"
	[ -f "$ov_file" ] || return 0
	while IFS= read -r ov_line || [ -n "$ov_line" ]; do
		ov_val=${ov_line#*=}
		case $ov_line in
		OSAM_TOOLS_SOURCE=*) [ -n "${OSAM_TOOLS_SOURCE:-}" ] || OSAM_TOOLS_SOURCE=$ov_val ;;
		OSAM_CDROM_WAIT=*) [ -n "${OSAM_CDROM_WAIT:-}" ] || OSAM_CDROM_WAIT=$ov_val ;;
		OSAM_POWEROFF=*) [ -n "${OSAM_POWEROFF:-}" ] || OSAM_POWEROFF=$ov_val ;;
		OSAM_LOG=*) [ -n "${OSAM_LOG:-}" ] || OSAM_LOG=$ov_val ;;
		esac
	done <"$ov_file"
}

# The value a state file holds: its first line that is not a comment.
state_value() {
	sed -n '/^#/d;p' "$1" 2>/dev/null | sed -n '1p'
}

# Replaces file $1 with the output of the remaining command run on it, keeping its mode
# and owner, atomically (rename in the same directory).
rewrite() {
	rw_file=$1
	shift
	rw_tmp="$rw_file.osam-new"
	cp -p "$rw_file" "$rw_tmp" || return 1
	"$@" <"$rw_file" >"$rw_tmp" || {
		rm -f "$rw_tmp"
		return 1
	}
	if command -v cmp >/dev/null 2>&1 && cmp -s "$rw_file" "$rw_tmp"; then
		rm -f "$rw_tmp"
		return 0
	fi
	mv -f "$rw_tmp" "$rw_file"
}

# osam-include: tool.sh

# ---- the tools medium ----

has_tools() {
	for ht in "$1"/deb/* "$1"/rpm/* "$1"/VMwareTools-*.tar.gz; do
		[ -e "$ht" ] && return 0
	done
	return 1
}

mount_point() {
	if [ -d /run ]; then echo /run/osam-tools; else echo /tmp/osam-tools; fi
}

# Mounts $1 (a device or an image file) read-only at the mount point; 0 if it holds tools.
try_mount() {
	tm_dir=$(mount_point)
	mkdir -p "$tm_dir" || return 1
	tm_loop=''
	[ -f "$1" ] && tm_loop='-o loop'
	tm_mount=$(tool mount) || return 1
	# shellcheck disable=SC2086 # tm_loop is empty or two words on purpose
	if "$tm_mount" -r $tm_loop -t iso9660 "$1" "$tm_dir" 2>/dev/null || "$tm_mount" -r $tm_loop "$1" "$tm_dir" >>"$LOG" 2>&1; then
		if has_tools "$tm_dir"; then
			MOUNTED=$tm_dir
			MEDIA=$tm_dir
			return 0
		fi
		log "$1 has no VMware Tools packages or installer; ignoring it"
		"$(tool umount)" "$tm_dir" 2>/dev/null
	fi
	return 1
}

cdrom_candidates() {
	for cd in /dev/sr[0-9]* /dev/cdrom /dev/scd[0-9]* /dev/hd[a-d]; do
		[ -b "$cd" ] || continue
		case $cd in /dev/hd?) [ "$(cat "/proc/ide/${cd#/dev/}/media" 2>/dev/null)" = cdrom ] || continue ;; esac
		echo "$cd"
	done
}

find_media() {
	if [ -n "${OSAM_TOOLS_SOURCE:-}" ]; then
		log "tools source given: $OSAM_TOOLS_SOURCE"
		if [ -d "$OSAM_TOOLS_SOURCE" ]; then
			has_tools "$OSAM_TOOLS_SOURCE" || return 1
			MEDIA=$OSAM_TOOLS_SOURCE
			return 0
		fi
		try_mount "$OSAM_TOOLS_SOURCE"
		return
	fi
	modprobe -q sr_mod 2>/dev/null
	modprobe -q isofs 2>/dev/null
	fm_wait=${OSAM_CDROM_WAIT:-600}
	case $fm_wait in '' | *[!0-9]*) fm_wait=600 ;; esac
	fm_step=5
	fm_tries=$((fm_wait / fm_step + 1))
	fm_n=1
	while [ "$fm_n" -le "$fm_tries" ]; do
		fm_seen=''
		for fm_dev in $(cdrom_candidates); do
			fm_seen="$fm_seen $fm_dev"
			try_mount "$fm_dev" && {
				log "tools CD-ROM found at $fm_dev (attempt $fm_n of $fm_tries)"
				return 0
			}
		done
		log "waiting for the tools CD-ROM (attempt $fm_n of $fm_tries; drives:${fm_seen:- none}; no medium with tools yet)"
		fm_n=$((fm_n + 1))
		[ "$fm_n" -le "$fm_tries" ] && sleep "$fm_step"
	done
	return 1
}

release_media() {
	if [ -n "$MOUNTED" ]; then
		rm_umount=$(tool umount)
		"$rm_umount" "$MOUNTED" 2>/dev/null || "$rm_umount" -l "$MOUNTED" 2>/dev/null
		rmdir "$MOUNTED" 2>/dev/null
		MOUNTED=''
	fi
}

# ---- VMware Tools ----

tools_present() {
	for tp in /usr/bin/vmtoolsd /usr/sbin/vmtoolsd /usr/lib/vmware-tools/sbin64/vmtoolsd; do
		[ -x "$tp" ] && return 0
	done
	return 1
}

# osam-include: os-detect.sh

# Directories of the medium to take packages from, most specific first:
# <kind>/<id>-<major>, <kind>/<id>, <kind>/el<major> (rpm), <kind>.
package_dirs() {
	os_detect ''
	pd_id='' pd_ver=''
	if [ -n "$OS_FROM" ]; then
		pd_id=$OS_ID
		pd_ver=$OS_VERSION
	fi
	pd_major=${pd_ver%%.*}
	[ -n "$pd_id" ] && [ -n "$pd_major" ] && echo "$MEDIA/$1/$pd_id-$pd_major"
	[ -n "$pd_id" ] && echo "$MEDIA/$1/$pd_id"
	[ "$1" = rpm ] && [ -n "$pd_major" ] && echo "$MEDIA/$1/el$pd_major"
	echo "$MEDIA/$1"
}

first_dir_with() {
	for fd in $(package_dirs "$1"); do
		for fd_f in "$fd"/*."$1"; do
			[ -f "$fd_f" ] && {
				echo "$fd"
				return 0
			}
		done
	done
	return 1
}

# The .deb files of $1 whose package is not installed, one per line.
debs_missing() {
	for dm_deb in "$1"/*.deb; do
		[ -f "$dm_deb" ] || continue
		dm_pkg=$("$id_deb_tool" -f "$dm_deb" Package 2>>"$LOG") || continue
		# shellcheck disable=SC2016 # ${Status} is dpkg-query's format, not the shell's
		"$id_query" -W -f='${Status}' "$dm_pkg" 2>/dev/null | grep -q ' installed$' && continue
		echo "$dm_deb"
	done
}

install_debs() {
	id_dir=$1
	if ! id_dpkg=$(tool dpkg) || ! id_deb_tool=$(tool dpkg-deb) || ! id_query=$(tool dpkg-query); then
		log "dpkg, dpkg-deb or dpkg-query is missing"
		return 1
	fi
	# a power cut during an earlier dpkg run leaves packages half-configured
	DEBIAN_FRONTEND=noninteractive "$id_dpkg" --configure -a >>"$LOG" 2>&1 || log "dpkg --configure -a reported a problem (continuing)"
	# dpkg -i takes its files in the order given, not in Pre-Depends order: a package whose
	# pre-dependency is in the same batch fails once and goes in on the next pass
	id_pass=1
	id_before=''
	while :; do
		id_missing=$(debs_missing "$id_dir")
		if [ -z "$id_missing" ]; then
			[ "$id_pass" = 1 ] && log "every package in $id_dir is already installed"
			break
		fi
		if [ "$id_missing" = "$id_before" ] || [ "$id_pass" -gt 5 ]; then
			log "dpkg left these packages not installed: $(echo "$id_missing" | sed 's,.*/,,' | tr '\n' ' ')"
			return 1
		fi
		id_before=$id_missing
		set --
		for id_deb in $id_missing; do set -- "$@" "$id_deb"; done
		log "installing $# package(s) from $id_dir with dpkg (pass $id_pass)"
		DEBIAN_FRONTEND=noninteractive "$id_dpkg" -i --force-confdef --force-confold "$@" >>"$LOG" 2>&1 ||
			log "dpkg -i reported problems on pass $id_pass (retrying what is not installed)"
		id_pass=$((id_pass + 1))
	done
	DEBIAN_FRONTEND=noninteractive "$id_dpkg" --configure -a >>"$LOG" 2>&1 || return 1
}

install_rpms() {
	ir_dir=$1
	ir_rpm_tool=$(tool rpm) || return 1
	set --
	for ir_rpm in "$ir_dir"/*.rpm; do
		ir_pkg=$("$ir_rpm_tool" -qp --qf '%{NAME}' "$ir_rpm" 2>>"$LOG") || continue
		"$ir_rpm_tool" -q "$ir_pkg" >/dev/null 2>&1 && continue
		set -- "$@" "$ir_rpm"
	done
	if [ $# -eq 0 ]; then
		log "every package in $ir_dir is already installed"
	else
		log "installing $# package(s) from $ir_dir with rpm"
		"$ir_rpm_tool" -Uvh "$@" >>"$LOG" 2>&1 || return 1
	fi
}

# 0 installed, 1 the installer failed, 2 no usable installer (no tarball, or no perl)
install_tarball() {
	it_tgz=''
	for it_f in "$MEDIA"/VMwareTools-*.tar.gz; do [ -f "$it_f" ] && it_tgz=$it_f; done
	[ -n "$it_tgz" ] || return 2
	command -v perl >/dev/null 2>&1 || {
		log "$it_tgz needs perl, which this guest does not have"
		return 2
	}
	it_tmp=/tmp/osam-vmware-tools
	rm -rf "$it_tmp"
	mkdir -p "$it_tmp" && tar -xzf "$it_tgz" -C "$it_tmp" || return 1
	log "running the VMware Tools installer from $it_tgz"
	(cd "$it_tmp/vmware-tools-distrib" && { ./vmware-install.pl --default --force-install || ./vmware-install.pl --default; }) >>"$LOG" 2>&1
	it_rc=$?
	rm -rf "$it_tmp"
	[ "$it_rc" = 0 ] || return 1
}

enable_tools_service() {
	command -v systemctl >/dev/null 2>&1 || return 0
	for ets in open-vm-tools.service vmtoolsd.service; do
		for ets_dir in /etc/systemd/system /lib/systemd/system /usr/lib/systemd/system; do
			if [ -f "$ets_dir/$ets" ]; then
				if systemctl enable "$ets" >>"$LOG" 2>&1; then
					log "enabled $ets"
				else
					log "could not enable $ets (continuing)"
				fi
				return 0
			fi
		done
	done
}

# What became of the tools: $1 a Stage2ToolsCode, $2 a sentence. 1 unless they are there.
tools_outcome() {
	TOOLS_CODE=$1
	TOOLS_DETAIL=$2
	release_media
	case $1 in INSTALLED | ALREADY_INSTALLED) return 0 ;; esac
	log "VMware Tools not installed: $2"
	return 1
}

# 0 when VMware Tools are there afterwards; otherwise tools_outcome says why, and the policy
# (REQUIRE_TOOLS) decides in main whether that fails stage 2.
install_tools() {
	if tools_present; then
		log "VMware Tools are already installed; leaving them as they are"
		tools_outcome ALREADY_INSTALLED "vmtoolsd was already installed; left as it was"
		return
	fi
	find_media || {
		tools_outcome NO_MEDIUM "no VMware Tools medium found (is the tools ISO connected to the CD-ROM drive?)"
		return
	}
	checkpoint media-ready
	it_done=''
	if tool dpkg >/dev/null && [ -d /var/lib/dpkg ]; then
		if it_dir=$(first_dir_with deb); then
			install_debs "$it_dir" || {
				tools_outcome INSTALL_FAILED "dpkg could not install the packages from $it_dir (see $LOG)"
				return
			}
			it_done=yes
		fi
	elif tool rpm >/dev/null && [ -d /var/lib/rpm ]; then
		if it_dir=$(first_dir_with rpm); then
			install_rpms "$it_dir" || {
				tools_outcome INSTALL_FAILED "rpm could not install the packages from $it_dir (see $LOG)"
				return
			}
			it_done=yes
		fi
	fi
	if [ -z "$it_done" ]; then
		install_tarball
		case $? in
		1)
			tools_outcome INSTALL_FAILED "the VMware Tools installer failed (see $LOG)"
			return
			;;
		2)
			tools_outcome NO_PACKAGE "the medium has no packages for this guest and no usable VMware Tools installer"
			return
			;;
		esac
	fi
	release_media
	tools_present || {
		tools_outcome NOT_RUNNABLE "VMware Tools were installed but vmtoolsd is not there"
		return
	}
	enable_tools_service
	log "VMware Tools installed"
	tools_outcome INSTALLED "installed from the tools medium"
}

# ---- restoring what stage 1 recorded ----

restore_selinux() {
	[ -f "$ST_SELINUX" ] || return 0
	rs_mode=$(state_value "$ST_SELINUX")
	rs_cfg=/etc/selinux/config
	[ -n "$rs_mode" ] && [ "$rs_mode" != "$NONE" ] && [ -f "$rs_cfg" ] || return 0
	# shellcheck disable=SC2016 # an awk program, not a shell expansion
	rewrite "$rs_cfg" env OSAM_MODE="$rs_mode" awk '/^[ \t]*SELINUX[ \t]*=/ { print "SELINUX=" ENVIRON["OSAM_MODE"]; next } { print }' ||
		fail "could not restore SELINUX=$rs_mode in $rs_cfg"
	log "SELinux mode restored to $rs_mode"
	if [ "$rs_mode" != disabled ]; then
		# files written from outside the guest carry no labels: relabel on the next boot
		: >/.autorelabel || fail "could not create /.autorelabel"
		log "SELinux relabel requested for the next boot (/.autorelabel)"
	fi
}

restore_line() {
	# $1 state file, $2 target file, $3 awk regex of the line(s) stage 1 changed, $4 what;
	# 1 when it could not (the caller decides: secure_console runs on the way out)
	[ -f "$1" ] || return 0
	[ -f "$2" ] || return 0
	rl_orig=$(state_value "$1")
	[ -n "$rl_orig" ] || return 0
	# the patterns and lines travel through the environment: awk -v would interpret backslashes
	# shellcheck disable=SC2016 # awk programs, not shell expansions
	if [ "$rl_orig" = "$NONE" ]; then
		rewrite "$2" env OSAM_RE="$3" awk '$0 ~ ENVIRON["OSAM_RE"] { next } { print }' || {
			log "could not restore $4 in $2"
			return 1
		}
		log "$4: removed the line stage 1 added to $2"
	else
		rewrite "$2" env OSAM_RE="$3" OSAM_LINE="$rl_orig" awk '
			$0 ~ ENVIRON["OSAM_RE"] { if (!done) print ENVIRON["OSAM_LINE"]; done = 1; next }
			{ print }' || {
			log "could not restore $4 in $2"
			return 1
		}
		log "$4 restored in $2: $rl_orig"
	fi
}

restore_default_target() {
	[ -f "$ST_TARGET" ] || return 0
	rt_orig=$(state_value "$ST_TARGET")
	[ -n "$rt_orig" ] || return 0
	rt_link=/etc/systemd/system/default.target
	if [ "$rt_orig" = "$NONE" ]; then
		rm -f "$rt_link" || fail "could not remove $rt_link"
		log "default target restored: $rt_link removed (the distribution's default applies)"
		return 0
	fi
	if [ "$(readlink "$rt_link" 2>/dev/null)" != "$rt_orig" ]; then
		ln -sf "$rt_orig" "$rt_link.osam-new" || fail "could not create a link to $rt_orig"
		mv -f "$rt_link.osam-new" "$rt_link" || fail "could not point $rt_link back at $rt_orig"
	fi
	log "default target restored: $rt_link -> $rt_orig"
}

# ---- removing what stage 1 installed for stage 2 ----

# osam-include: remove-listed.sh

remove_owned() {
	remove_listed "$MANIFEST"
}

power_off() {
	log "stage 2 complete; powering off"
	sync 2>/dev/null || true
	if [ -n "${OSAM_POWEROFF:-}" ]; then
		# shellcheck disable=SC2086 # a command with its arguments, split on purpose
		$OSAM_POWEROFF
		return
	fi
	if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
		systemctl --no-block poweroff && return 0
	fi
	poweroff 2>/dev/null || shutdown -h now 2>/dev/null || halt -p
}

main() {
	load_overrides
	LOG=${OSAM_LOG:-'@@LOG_FILE@@'}
	case ${OSAM_REQUIRE_TOOLS:-} in yes | no) REQUIRE_TOOLS=$OSAM_REQUIRE_TOOLS ;; esac
	if [ ! -f "$MANIFEST" ]; then
		log "nothing to do: $MANIFEST is gone (stage 2 already finished)"
		return 0
	fi
	STARTED=$(now)
	trap 'on_exit $?' EXIT
	trap 'exit 129' HUP
	trap 'exit 130' INT
	trap 'exit 143' TERM
	# before anything else: no root shell without a password from here on, whatever happens
	secure_console || fail_with RESTORE_FAILED "could not close the console that opens without a password"
	case $(sed -n '1p' "$STATUS" 2>/dev/null) in
	'') log "stage 2 starting (pid $$)" ;;
	*) log "stage 2 resuming after: $(sed -n '1p' "$STATUS")" ;;
	esac
	set_status running
	checkpoint start
	if ! install_tools; then
		[ "$REQUIRE_TOOLS" = yes ] && fail_with TOOLS_MISSING "VMware Tools are required (options.requireTools) and were not installed: $TOOLS_DETAIL"
		warn "VMware Tools were not installed: $TOOLS_DETAIL. Stage 2 goes on (options.requireTools is false); install open-vm-tools later"
	fi
	checkpoint tools-installed
	restore_selinux
	checkpoint selinux-restored
	restore_line "$ST_INITDEFAULT" /etc/inittab '^[^#:]*:[0-9Ss]*:initdefault:' "initdefault" || fail "could not restore initdefault in /etc/inittab"
	checkpoint runlevel-restored
	restore_default_target
	TARGET_RESTORED=true
	checkpoint target-restored
	# the result and the status before the cleanup: once the script is gone nothing would write them
	if [ "$TOOLS_CODE" = INSTALLED ] || [ "$TOOLS_CODE" = ALREADY_INSTALLED ]; then
		RES_STATUS=succeeded RES_CODE=OK RES_REASON="stage 2 finished: VMware Tools in place, the guest restored"
	else
		RES_STATUS=succeeded-with-warnings RES_CODE=TOOLS_MISSING RES_REASON="stage 2 finished without VMware Tools ($TOOLS_DETAIL); the guest was restored"
	fi
	POWER=requested
	write_result "$RES_STATUS" "$RES_CODE" "$RES_REASON" restored
	set_status "done"
	FINISHED=yes
	remove_owned
	checkpoint cleaned-up
	emit_result
	# The shutdown stops this service with SIGTERM while power_off may still be running: from
	# here a signal means the power-off is under way, and must not rewrite the result.
	trap '' HUP INT
	# a failure from here on is reported by on_exit as a power-off that did not happen
	power_off || exit 1
}

main "$@"
