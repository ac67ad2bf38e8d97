# shellcheck shell=sh
# Removes what a manifest lists, then the manifest: the stage-2 sentinel (stage2-owned) and the
# first-boot verification (verify-owned) each remove what stage 1 installed for them this way.
# src/sentinel/generate.ts copies it into each script that has the line
# "# osam-include: remove-listed.sh". The script defines log().

# $1: the manifest, absolute paths one per line; a path ending in / is a directory, removed
# only when empty, after the files; comments, relative paths and '..' are ignored.
remove_listed() {
	[ -f "$1" ] || return 0
	rx_dirs=''
	while IFS= read -r rx_p || [ -n "$rx_p" ]; do
		case $rx_p in '' | '#'*) continue ;; esac
		case $rx_p in /*) ;; *) continue ;; esac
		case $rx_p in *..*) continue ;; esac
		case $rx_p in
		*/) rx_dirs="$rx_p $rx_dirs" ;;
		*)
			if [ -f "$rx_p" ] || [ -L "$rx_p" ]; then
				rm -f "$rx_p" && log "removed $rx_p"
			fi
			;;
		esac
	done <"$1"
	for rx_d in $rx_dirs; do
		[ -d "$rx_d" ] && rmdir "$rx_d" 2>/dev/null && log "removed $rx_d"
	done
	rm -f "$1"
	sync 2>/dev/null || true
}
