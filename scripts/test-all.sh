#!/usr/bin/env bash
# The one test command (npm test, and CI's): installs what the tests need (Debian packages,
# the pinned npm packages, images on first use), builds the binary, then runs every layer:
# type check, lint, schema check, unit + golden, the built binary, integration in real Debian
# chroots, the vSphere driver against vcsim, and end-to-end boots on emulated VMware hardware.
# Sourced (test/unit/scripts/test-all.test.ts), it only defines stage and finish.
set -euo pipefail
t_all=$(date +%s)
passed=0; failed=0; skipped=0; failures=()
only=${OSAM_TEST_STAGES:-}
log_dir=${OSAM_TEST_LOGS:-/var/tmp/osam-test-logs}

stage() { # stage NAME COMMAND...: runs one layer, keeps its output, sums node:test's counts
  local name=$1; shift
  if [ -n "$only" ] && [[ ",$only," != *",$name,"* ]]; then return 0; fi
  local t0; t0=$(date +%s)
  echo "=== $name: $*"
  set +e
  "$@" 2>&1 | tee "$log_dir/$name.log"
  local rc=${PIPESTATUS[0]}
  set -e
  local p f k
  # one awk pass (and no grep: one that matches nothing, as for the build, would end the run)
  read -r p f k < <(awk '/^(#|ℹ) [a-z]+ [0-9]+$/ {
      if ($2 == "pass") p += $3; else if ($2 == "fail" || $2 == "cancelled") f += $3; else if ($2 == "skipped") k += $3
    } END { print p + 0, f + 0, k + 0 }' "$log_dir/$name.log")
  passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + k))
  if [ "$rc" -ne 0 ]; then failures+=("$name"); [ "$f" -gt 0 ] || failed=$((failed + 1)); fi
  echo "=== $name: exit $rc, $p passed, $f failed, $k skipped, $(( $(date +%s) - t0 )) s"
}

finish() { # the summary; the run fails when any stage did
  echo "=== all stages: $(( $(date +%s) - t_all )) s; logs in $log_dir"
  [ ${#failures[@]} -eq 0 ] || echo "=== failed stages: ${failures[*]}"
  # skipped tests are not passes: they are named in the stage logs (node:test prints "# SKIP" and why)
  echo "tests: $passed passed, $failed failed, $skipped skipped"
  [ ${#failures[@]} -eq 0 ]
}

# Image builds run in the background beside the first layers (below). The job gets its own
# process group (set -m), so that the end of the run stops its builds too; build.sh removes
# what a killed build left half-done the next time it runs. The trap must not fail: under
# set -e a failed kill (the builds long done) in an EXIT trap made a green run exit 1.
background_pid=
stop_background() {
  if [ -n "$background_pid" ]; then kill -- -"$background_pid" 2>/dev/null || true; fi
}
start_background() { # start_background LOG COMMAND...
  local log=$1; shift
  set -m
  "$@" >"$log" 2>&1 &
  background_pid=$!
  set +m
  trap stop_background EXIT
}

[[ "${BASH_SOURCE[0]}" == "$0" ]] || return 0

cd "$(dirname "$0")/.."
# OSAM_TEST_STAGES=unit,binary runs only those layers, with the same summary
known=" build typecheck lint schemas sentinel-embedded unit binary reliability integration vsphere e2e "
for s in ${only//,/ }; do
  [[ "$known" == *" $s "* ]] || { echo "OSAM_TEST_STAGES: unknown stage '$s' (known:$known)" >&2; exit 2; }
done
# a run that rewrites goldens compares none of them: that is done case by case, by hand
if [ -n "${UPDATE_GOLDEN:-}" ]; then
  echo "test-all: UPDATE_GOLDEN=$UPDATE_GOLDEN is set; the test run compares goldens and never rewrites them (run UPDATE_GOLDEN=1 node --test test/golden/<area>/*.test.ts, review git diff)" >&2
  exit 2
fi
bash scripts/install-deps.sh
if [ ! -x node_modules/.bin/node ]; then npm ci --no-audit --no-fund; fi
export PATH="$PWD/node_modules/.bin:$PATH"
mkdir -p "$log_dir"

# A new machine has no test images yet: building them takes about 35 min here (7 trees, 3
# disks with a first boot). They are built in the background from the start, in the order
# the layers ask for them, so that most of that runs beside the first layers. A layer that
# needs an image sooner waits on build.sh's lock and then finds it built; a failed build here
# is only logged (images.log): the layer builds again and reports it. Cached images cost a
# hash each.
prebuild_images() {
  local v
  for v in deb12-itools deb12-dracut-lvm deb12-netplan deb11-itools deb13-itools deb12-xfs deb12-uefi; do
    bash test/images/build.sh "$v" >/dev/null || echo "prebuild: the $v tree failed; its layer will build it again"
  done
  for v in deb12-itools deb12-netplan deb12-dracut-lvm; do
    bash test/images/build.sh "$v" --disk >/dev/null || echo "prebuild: the $v disk failed; its layer will build it again"
  done
}
if [ -z "$only" ] && [ "$(id -u)" = 0 ]; then start_background "$log_dir/images.log" prebuild_images; fi

stage build npm run build
stage typecheck npm run typecheck
stage lint npm run lint
stage schemas npm run schemas:check
stage sentinel-embedded node src/sentinel/generate.ts --check
stage unit npm run test:unit
stage binary npm run test:binary
stage reliability npm run test:reliability
stage integration npm run test:integration
stage vsphere npm run test:vsphere
stage e2e npm run test:e2e
finish
