# shellcheck shell=sh
# The result a guest-side script prints where the manager reads it without guest credentials
# (the stage-2 result, the first-boot verification): one JSON line between a begin and an end
# marker line, the end line carrying "bytes=" and the byte count of the JSON line with its new
# line, so that a block a kernel message cut into is recognised (src/manager/console-blocks.ts).
# src/sentinel/generate.ts copies it into each script that has the line
# "# osam-include: console-block.sh". The script defines log().

# $1 as a JSON string: backslashes and quotes escaped, control characters dropped.
json_str() {
	printf '"%s"' "$(printf '%s' "$1" | tr '\n\t' '  ' | tr -d '[:cntrl:]' | sed 's/\\/\\\\/g; s/"/\\"/g')"
}

# Prints file $1 between the marker lines $2 and $3 on each console (OSAM_CONSOLE: the test
# hook). A write to a serial port can block (no carrier): each one is given a few seconds,
# then abandoned.
emit_block() {
	[ -f "$1" ] || return 0
	eb_bytes=$(wc -c <"$1" | tr -d ' ')
	for eb_dev in ${OSAM_CONSOLE:-/dev/console /dev/ttyS0}; do
		case $eb_dev in /dev/*) [ -c "$eb_dev" ] || continue ;; esac
		(printf '\n%s\n%s\n%s bytes=%s\n' "$2" "$(cat "$1")" "$3" "$eb_bytes" >>"$eb_dev") 2>/dev/null &
		eb_pid=$!
		(sleep 5 && kill -9 "$eb_pid") </dev/null >/dev/null 2>&1 &
		eb_killer=$!
		wait "$eb_pid" 2>/dev/null || log "could not print $1 on $eb_dev"
		kill "$eb_killer" 2>/dev/null
	done
	log "$1 printed between '$2' and '$3' on ${OSAM_CONSOLE:-/dev/console /dev/ttyS0}"
}
