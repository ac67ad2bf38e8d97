# shellcheck shell=sh
# The guest's own program, by absolute path, from the directories of PATH: a busybox shell
# would otherwise prefer its own applets (busybox has a dpkg, dpkg-deb, rpm, mount and ip that
# lack what the scripts use). src/sentinel/generate.ts copies it into each script that has the
# line "# osam-include: tool.sh".
tool() {
	t_dirs=$(printf '%s\n' "$PATH" | tr ':' ' ')
	for t_dir in $t_dirs; do
		[ -x "$t_dir/$1" ] || continue
		if [ -L "$t_dir/$1" ]; then
			case $(readlink "$t_dir/$1") in busybox | */busybox) continue ;; esac
		fi
		echo "$t_dir/$1"
		return 0
	done
	command -v "$1"
}
