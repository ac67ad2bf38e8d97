# shellcheck shell=sh
# The time and the log lines of a guest-side script: each line on stdout (the journal, or the
# console under SysV) and appended to $LOG, tagged with $LOG_TAG, which the script sets.
# src/sentinel/generate.ts copies it into each script that has the line
# "# osam-include: log.sh".

# Now, in UTC, as the logs and the results carry it.
now() {
	date -u '+%Y-%m-%dT%H:%M:%SZ' 2>/dev/null
}

log() {
	log_line="$(now) $LOG_TAG: $*"
	printf '%s\n' "$log_line"
	printf '%s\n' "$log_line" >>"$LOG" 2>/dev/null || true
}
