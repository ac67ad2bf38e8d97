#!/usr/bin/env bash
# Runs shellcheck over every shell script in the tree, the guest-side scripts as POSIX sh.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v shellcheck >/dev/null || { echo "lint-sh: shellcheck is missing (bash scripts/install-deps.sh installs it)" >&2; exit 1; }
mapfile -t posix < <(git ls-files --cached --others --exclude-standard 'src/sentinel/*.sh' 'src/**/*.sh' | sort -u)
mapfile -t bash < <(git ls-files --cached --others --exclude-standard 'scripts/*.sh' 'test/**/*.sh' '.ci/run' | sort -u)
[ ${#posix[@]} -eq 0 ] || shellcheck -s sh "${posix[@]}"
[ ${#bash[@]} -eq 0 ] || shellcheck -s bash -S warning "${bash[@]}"
echo "lint-sh: ${#posix[@]} POSIX sh and ${#bash[@]} bash scripts clean"
