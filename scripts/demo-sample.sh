#!/usr/bin/env bash
# A demo that needs no VM: inspect, plan and apply the sample Debian 12 guest tree shipped
# under examples/, on a scratch copy, then roll it back.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x node_modules/.bin/node ]; then npm ci --no-audit --no-fund; fi
export PATH="$PWD/node_modules/.bin:$PATH"
[ -x dist/osam-fixup ] || npm run build
work=$(mktemp -d /var/tmp/osam-demo-XXXXXX)
cp -a examples/debian12-kvm/root "$work/root"
echo "### osam-fixup inspect --root $work/root"
dist/osam-fixup inspect --root "$work/root"
echo; echo "### osam-fixup plan --root $work/root --inputs examples/debian12-kvm/inputs"
dist/osam-fixup plan --root "$work/root" --inputs examples/debian12-kvm/inputs --out "$work/plan"
echo; echo "### osam-fixup apply --skip initrd,bootloader (the sample tree has no shell to chroot into; npm test runs those steps in real Debian images)"
dist/osam-fixup apply --root "$work/root" --inputs examples/debian12-kvm/inputs --fixup-dir "$work/fixup" --skip initrd,bootloader
echo; echo "### outputs in $work/fixup:"; ls -l "$work/fixup"
echo; echo "### progress.txt"; cat "$work/fixup/progress.txt"
echo; echo "### osam-fixup rollback --root $work/root"
dist/osam-fixup rollback --root "$work/root" -q
if diff -r examples/debian12-kvm/root "$work/root" >/dev/null; then echo "rollback: the guest tree is byte-identical to the original again"; else echo "rollback: the tree differs from the original" >&2; exit 1; fi
echo "demo files kept in $work (result.json: $work/fixup/result.json)"
