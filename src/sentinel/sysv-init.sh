#!/bin/sh
### BEGIN INIT INFO
# Provides:          osam-sentinel
# Required-Start:    $local_fs
# Required-Stop:
# Default-Start:     1 2 3 4 5
# Default-Stop:
# X-Start-Before:    single
# Short-Description: osam-fixup stage 2 sentinel
# Description:       Installs VMware Tools, restores the boot runlevel and SELinux mode that
#                    osam-fixup stage 1 recorded, removes itself and powers off.
### END INIT INFO
# SysV fallback for the osam-fixup stage-2 sentinel (installed by stage 1, removed by the
# sentinel). Linked as S00 in rc1.d so that it runs before the single-user shell.
case "$1" in
start | "")
	[ -f '@@SCRIPT@@' ] || exit 0
	exec /bin/sh '@@SCRIPT@@'
	;;
stop | status | restart | force-reload) exit 0 ;;
*)
	echo "usage: $0 start" >&2
	exit 3
	;;
esac
