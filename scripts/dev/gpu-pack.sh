#!/usr/bin/env bash
# Packs what a GPU machine without node and network needs into .gpu/ (ignored; named in the
# device call's carry): node itself, the production node_modules, node's N-API headers, and
# optionally a data subset. The built JS (dist/) is carried beside it.
#
#   scripts/dev/gpu-pack.sh                      # node + modules + headers
#   scripts/dev/gpu-pack.sh DATA_DIR N_TRAIN N_TEST_PER_KIND   # plus an MVTec-layout subset
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p .gpu/node-include
[ -f .gpu/node.xz ] || xz -T0 -6 -c "$(command -v node)" > .gpu/node.xz
cp /usr/include/node/node_api.h /usr/include/node/node_api_types.h /usr/include/node/js_native_api.h \
  /usr/include/node/js_native_api_types.h .gpu/node-include/
# Production dependencies only (npm's own list), as one archive.
npm ls --omit=dev --all --parseable 2>/dev/null | grep node_modules | sed 's|.*/node_modules/|node_modules/|' |
  awk -F/ '{ if ($2 ~ /^@/) print $1"/"$2"/"$3; else print $1"/"$2 }' | sort -u > .gpu/modules.txt
tar -cf - -T .gpu/modules.txt package.json | xz -T0 -6 > .gpu/modules.tar.xz
if [ $# -ge 3 ]; then
  src="$1" train="$2" per="$3" dst=.gpu/data
  rm -rf "$dst"
  mkdir -p "$dst/train/good"
  # Every k-th image, so the subset spans the whole folder (the names run by experiment).
  pick() { local n; n=$(ls "$1" | wc -l); ls "$1" | awk -v n="$n" -v k="$2" 'BEGIN{s=n/k} NR==1+int(c*s){print; c++}' ; }
  for f in $(pick "$src/train/good" "$train"); do cp "$src/train/good/$f" "$dst/train/good/"; done
  for kind in $(ls "$src/test"); do
    mkdir -p "$dst/test/$kind"
    for f in $(pick "$src/test/$kind" "$per"); do
      cp "$src/test/$kind/$f" "$dst/test/$kind/"
      if [ "$kind" != good ]; then
        mkdir -p "$dst/ground_truth/$kind"
        cp "$src/ground_truth/$kind/${f%.*}_mask.png" "$dst/ground_truth/$kind/"
      fi
    done
  done
fi
du -sh .gpu/* | sort -h
