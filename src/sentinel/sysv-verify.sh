#!/bin/sh
### BEGIN INIT INFO
# Provides:          osam-verify
# Required-Start:    $local_fs $network
# Required-Stop:
# Default-Start:     2 3 4 5
# Default-Stop:
# Short-Description: osam-fixup first-boot verification
# Description:       Checks the migrated guest from inside on its first boot after stage 2,
#                    prints the result on the consoles and removes itself.
### END INIT INFO
# SysV fallback for the osam-fixup first-boot verification (installed by stage 1, removed by
# the verification). Linked S99 in rc2-5.d; it runs in the background, as it waits (bounded)
# for the network, so that it does not hold up the end of the boot.
case "$1" in
start | "")
	[ -f '@@VERIFY_SCRIPT@@' ] || exit 0
	(/bin/sh '@@VERIFY_SCRIPT@@' </dev/null >/dev/null 2>&1 &)
	exit 0
	;;
stop | status | restart | force-reload) exit 0 ;;
*)
	echo "usage: $0 start" >&2
	exit 3
	;;
esac
