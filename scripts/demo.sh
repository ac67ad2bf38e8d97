#!/usr/bin/env bash
# npm run demo: one full e2e migration of the default Debian 12 test image (deb12-itools) on
# the embedded QEMU driver, with a readable progress display. Builds what is missing first
# (the binary, the test image, the fixup disk, the tools ISO); the first run takes a while.
# Usage: bash scripts/demo.sh [VARIANT]    (needs root: image builds, loop devices)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PWD/node_modules/.bin:$PATH
if [ "$(id -u)" != 0 ]; then
	echo "demo: needs root (it builds Debian images with mmdebstrap); run: sudo npm run demo" >&2
	exit 1
fi
bash scripts/install-deps.sh
echo "demo: building dist/osam-fixup (npm run build)"
npm run build >/dev/null
exec node test/e2e/demo.ts "${1:-deb12-itools}"
