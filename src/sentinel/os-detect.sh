# shellcheck shell=sh
# The OS detection of the guest-side scripts, the shell twin of src/distros (the contract test
# test/unit/distros/contract.test.ts runs both on the same release files and expects the same
# family, ID and version). src/sentinel/generate.ts copies it into each script that has the
# line "# osam-include: os-detect.sh". POSIX sh, no tools beyond sed and tr.

# The value of KEY=value in a file (the last one), without its quotes.
os_value() {
	sed -n "s/^$1=//p" "$2" 2>/dev/null | sed -n '$p' | sed -e 's/^"\(.*\)"$/\1/' -e "s/^'\\(.*\\)'\$/\\1/"
}

os_lower() {
	printf '%s\n' "$1" | tr '[:upper:]' '[:lower:]'
}

# The family of the first of the IDs (os-release ID, then the ID_LIKE words) that one claims.
os_family() {
	for of_w in "$@"; do
		case $of_w in
		rhel | centos | rocky | almalinux | ol | fedora | scientific | amzn | cloudlinux | eurolinux) echo rhel && return 0 ;;
		sles | sled | opensuse* | suse | sles_sap) echo suse && return 0 ;;
		debian | raspbian | devuan | kali | ubuntu | linuxmint | pop) echo debian && return 0 ;;
		esac
	done
	echo unknown
}

# Sets OS_FAMILY, OS_ID, OS_VERSION and OS_FROM (the file read; empty when none says anything)
# from the release files under root $1 ('' for /): os-release, /etc/redhat-release,
# /etc/SuSE-release, /etc/lsb-release, /etc/debian_version, in that order.
# shellcheck disable=SC2034 # a script uses the variables it needs
os_detect() {
	OS_FAMILY=unknown OS_ID=unknown OS_VERSION='' OS_FROM=''
	for od_f in /etc/os-release /usr/lib/os-release; do
		[ -f "$1$od_f" ] || continue
		OS_ID=$(os_lower "$(os_value ID "$1$od_f")")
		[ -n "$OS_ID" ] || OS_ID=linux
		OS_VERSION=$(os_value VERSION_ID "$1$od_f")
		# shellcheck disable=SC2046 # ID_LIKE is a list of words
		OS_FAMILY=$(os_family "$OS_ID" $(os_lower "$(os_value ID_LIKE "$1$od_f")"))
		OS_FROM=$od_f
		return 0
	done
	od_f=/etc/redhat-release
	if [ -f "$1$od_f" ]; then
		# "CentOS release 6.10 (Final)", "Red Hat Enterprise Linux Server release 7.9 (Maipo)"
		od_line=$(os_lower "$(sed -n '1p' "$1$od_f" | sed 's/^[ 	]*//')")
		case $od_line in
		centos*) OS_ID=centos ;;
		'red hat'* | rhel*) OS_ID=rhel ;;
		oracle*) OS_ID=ol ;;
		rocky*) OS_ID=rocky ;;
		alma*) OS_ID=almalinux ;;
		fedora*) OS_ID=fedora ;;
		scientific*) OS_ID=scientific ;;
		*) OS_ID=rhel ;;
		esac
		OS_VERSION=$(printf '%s\n' "$od_line" | sed -n 's/^.*release[ 	]\{1,\}\([0-9.]\{1,\}\).*$/\1/p')
		OS_FAMILY=rhel OS_FROM=$od_f
		return 0
	fi
	od_f=/etc/SuSE-release
	if [ -f "$1$od_f" ]; then
		# a title line, then "VERSION = 12" and "PATCHLEVEL = 3"
		case $(os_lower "$(sed -n '1p' "$1$od_f")") in
		*opensuse*) OS_ID=opensuse ;;
		*) OS_ID=sles ;;
		esac
		OS_VERSION=$(sed -n 's/^.*VERSION[ 	]*=[ 	]*\([^ 	]\{1,\}\).*$/\1/p' "$1$od_f" | sed -n '1p')
		od_patch=$(sed -n 's/^.*PATCHLEVEL[ 	]*=[ 	]*\([^ 	]\{1,\}\).*$/\1/p' "$1$od_f" | sed -n '1p')
		[ -n "$od_patch" ] && [ "$od_patch" != 0 ] && OS_VERSION=$OS_VERSION.$od_patch
		OS_FAMILY=suse OS_FROM=$od_f
		return 0
	fi
	od_f=/etc/lsb-release
	if [ -f "$1$od_f" ]; then
		OS_ID=$(os_lower "$(os_value DISTRIB_ID "$1$od_f")")
		if [ -n "$OS_ID" ]; then
			OS_VERSION=$(os_value DISTRIB_RELEASE "$1$od_f")
			OS_FAMILY=$(os_family "$OS_ID") OS_FROM=$od_f
			return 0
		fi
		OS_ID=unknown
	fi
	od_f=/etc/debian_version
	if [ -f "$1$od_f" ]; then
		OS_ID=debian OS_FAMILY=debian OS_FROM=$od_f
		OS_VERSION=$(sed -n '1p' "$1$od_f" | sed -e 's/^[ 	]*//' -e 's/[ 	]*$//')
	fi
}
