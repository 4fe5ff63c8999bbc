#!/usr/bin/env bash
# Fuzzes the model-file reader and the config parser (native/tools/fuzz_checkpoint.cpp) with
# libFuzzer under ASan and UBSan for a fixed budget, seeded with real model files.
# A finding is written to fuzz/findings/ and the run exits non-zero: turn it into a case of
# test/checkpoint-crafted.test.ts, fix, run again.
#
#   scripts/dev/fuzz-checkpoint.sh [seconds]     (default 300)
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds="${1:-300}"
if ! command -v clang++-14 > /dev/null || [ ! -d /usr/lib/llvm-14/lib/clang/14.0.6/lib/linux ]; then
  echo "fuzz: installing clang-14 and its runtimes (libFuzzer, sanitizers)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends clang-14 libclang-rt-14-dev > /dev/null
fi
mkdir -p fuzz/corpus fuzz/findings
# The CMake target intra-fuzz-checkpoint, in a Clang build of its own (the addon's build stays GCC's).
cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++-14 -DINTRA_FUZZ=ON > /dev/null
cmake --build build-fuzz --target intra-fuzz-checkpoint
# Seeds: real files of the tiny and small presets, written by the engine itself.
if [ -z "$(ls -A fuzz/corpus)" ]; then
  node --input-type=module -e "
    import { Engine } from './dist/lib/engine.js';
    for (const preset of ['tiny', 'small']) {
      const e = Engine.create({ preset, channels: 1 }, { seed: 1 }, { threads: 1 });
      await e.save('fuzz/corpus/' + preset + '.intra', { preset });
      e.dispose();
    }"
fi
echo "fuzz: $seconds s of libFuzzer on the model-file reader"
ASAN_OPTIONS=allocator_may_return_null=1:detect_leaks=0 build-fuzz/intra-fuzz-checkpoint fuzz/corpus \
  -max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=512 -artifact_prefix=fuzz/findings/ -print_final_stats=1
