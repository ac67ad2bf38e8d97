#!/bin/sh
### BEGIN INIT INFO
# Provides:          osam-console-watchdog
# Required-Start:    $local_fs
# Required-Stop:
# Default-Start:     1 2 3 4 5
# Default-Stop:
# Short-Description: osam-fixup stage 2: bound the single-user shell without a password
# Description:       After a bounded time, puts back the SINGLE= line of /etc/sysconfig/init
#                    that osam-fixup stage 1 set to /sbin/sushell, so that single-user mode
#                    asks for the root password again even if the sentinel never ran.
### END INIT INFO
# SysV counterpart of osam-console-watchdog.timer (installed by stage 1, removed by the
# sentinel). It needs no sentinel: the original line is in the state file stage 1 recorded.
STATE='@@DATA_DIR@@/@@ST_SYSCONFIG_SINGLE@@'
CONF=/etc/sysconfig/init

restore_single() {
	[ -f "$STATE" ] && [ -f "$CONF" ] || return 0
	grep -q '^[ 	]*SINGLE[ 	]*=[ 	]*/sbin/sushell' "$CONF" || return 0
	orig=$(sed -n '/^#/d;p' "$STATE" | sed -n '1p')
	[ -n "$orig" ] || return 0
	cp -p "$CONF" "$CONF.osam-new" || return 1
	# shellcheck disable=SC2016 # an awk program, not a shell expansion
	OSAM_LINE=$orig OSAM_NONE='@@NONE@@' awk '
		/^[ \t]*SINGLE[ \t]*=/ { if (ENVIRON["OSAM_LINE"] != ENVIRON["OSAM_NONE"]) print ENVIRON["OSAM_LINE"]; next }
		{ print }' <"$CONF" >"$CONF.osam-new" || {
		rm -f "$CONF.osam-new"
		return 1
	}
	mv -f "$CONF.osam-new" "$CONF" || return 1
	echo "osam-fixup: single-user mode asks for the root password again ($CONF: $orig)" >/dev/console 2>/dev/null
	return 0
}

case "$1" in
start | "")
	[ -f "$STATE" ] || exit 0
	(
		sleep "${OSAM_WATCHDOG_SECONDS:-@@WATCHDOG_SECONDS@@}"
		restore_single
	) </dev/null >/dev/null 2>&1 &
	exit 0
	;;
now) restore_single ;;
stop | status | restart | force-reload) exit 0 ;;
*)
	echo "usage: $0 start|now" >&2
	exit 3
	;;
esac
