#!/usr/bin/env bash
# npm run release [-- --no-build] [-- --out DIR]
#
# Makes release/gatehouse-<version>.tgz, what deploy/install.sh installs and the Dockerfile runs: the
# compiled JavaScript (dist/hub, dist/adapters), the built web UI (ui/dist), the cloud .proto, the
# Node-RED nodes (flows/), bin/, docs/, the systemd unit, the commented config and install.sh, listed by
# `files` in package.json and packed by `npm pack`. package-lock.json goes in as npm-shrinkwrap.json
# (npm pack never includes package-lock.json), so `npm ci --omit=dev` on the target installs exactly the
# tested production dependencies. No TypeScript and no build happen on the target.
set -euo pipefail
cd "$(dirname "$0")/.."

out=release
build=1
while [ $# -gt 0 ]; do
  case "$1" in
    --no-build) build=0 ;;
    --out)
      [ $# -ge 2 ] || { echo "--out needs a folder" >&2; exit 2; }
      out="$2"
      shift
      ;;
    *)
      echo "usage: npm run release [-- --no-build] [-- --out DIR]" >&2
      exit 2
      ;;
  esac
  shift
done

version="$(node -p 'require("./package.json").version')"
if [ "$build" = 1 ]; then
  npm run build
fi
for needed in dist/hub/main.js dist/adapters ui/dist/index.html hub/cloud/gatehouse-cloud.proto deploy/config.example.yml; do
  [ -e "$needed" ] || { echo "missing $needed: run npm run build first (or drop --no-build)" >&2; exit 1; }
done

mkdir -p "$out"
out="$(cd "$out" && pwd)"
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT

npm pack --ignore-scripts --loglevel=warn --pack-destination "$stage" >/dev/null
tar -xzf "$stage/gatehouse-$version.tgz" -C "$stage"
cp package-lock.json "$stage/package/npm-shrinkwrap.json"

# Same bytes for the same tree: sorted names, fixed owner and time (the commit's, when there is one).
mtime="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}"
tarball="$out/gatehouse-$version.tgz"
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$mtime" \
  -C "$stage" -cf - package | gzip -n -9 >"$tarball"
(cd "$out" && sha256sum "gatehouse-$version.tgz" >"gatehouse-$version.tgz.sha256")
cp deploy/install.sh "$out/install.sh"
chmod 0755 "$out/install.sh"

echo "$tarball"
