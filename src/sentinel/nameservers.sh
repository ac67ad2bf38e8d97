# shellcheck shell=sh
# The name servers a system resolves with, one per line, read from the tree under $1 ('' for
# /): /etc/resolv.conf's, or, when that names only systemd-resolved's stub listener, the
# upstream servers resolved uses (its own resolv.conf under /run, else resolvectl). NS_FROM
# says where they came from. collect.sh records them on the source; verify.sh compares them on
# the target. src/sentinel/generate.ts copies it into each script that has the line
# "# osam-include: nameservers.sh".
# shellcheck disable=SC2034 # NS_FROM is for the script that includes this
ns_list() {
	ns_conf=$(awk '$1 == "nameserver" && $2 != "" { print $2 }' "$1/etc/resolv.conf" 2>/dev/null)
	NS_FROM=/etc/resolv.conf
	if [ -n "$(printf '%s\n' "$ns_conf" | grep -Evx '127\.0\.0\.5[34]' | sed '/^$/d')" ]; then
		printf '%s\n' "$ns_conf"
		return 0
	fi
	NS_FROM="systemd-resolved's upstream servers (/etc/resolv.conf names its stub)"
	if [ -f "$1/run/systemd/resolve/resolv.conf" ]; then
		awk '$1 == "nameserver" && $2 != "" { print $2 }' "$1/run/systemd/resolve/resolv.conf" 2>/dev/null
	elif command -v resolvectl >/dev/null 2>&1; then
		resolvectl dns 2>/dev/null | sed -n 's/^[^:]*:[ ]*//p' | tr ' ' '\n' | sed '/^$/d'
	else
		NS_FROM=/etc/resolv.conf
		printf '%s\n' "$ns_conf" | sed '/^$/d'
	fi
}
