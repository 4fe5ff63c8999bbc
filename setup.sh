#!/usr/bin/env bash
# Everything a fresh Debian 12 machine with node and npm needs, idempotent:
# system packages (libtorch, OpenBLAS, build tools) with apt, npm packages, the native
# addon and the TypeScript build. Safe to run again: it only does what is missing.
set -euo pipefail
cd "$(dirname "$0")"

packages=(libtorch-dev libgloo-dev libopenblas0-pthread cmake g++ make python3 redis-server chromium zstd)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  # OpenBLAS matters: without it libtorch's matrix products run on the reference BLAS (~30x slower).
  if [ "$(id -u)" = 0 ]; then
    echo "setup: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "setup: missing system packages. Run:" >&2
    echo "  sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
  fi
fi

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  # `npm install` with the lock file, not `npm ci`: npm 11's ci rejects lock files that
  # lack other platforms' optional packages (npm/cli#4828), which rollup's lock entries do.
  npm install --no-audit --no-fund
fi
npm run --silent build
