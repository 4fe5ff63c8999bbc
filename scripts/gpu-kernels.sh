#!/usr/bin/env bash
# The CUDA kernels on a GPU machine in one go: build against the libtorch of PyTorch's wheel
# (no node needed), check every op against float64, then bench fused vs ATen vs sdpa.
# Logs and JSON lines go to $OUT (or ./gpu-out). Exit status: the check's.
#
#   scripts/gpu-kernels.sh            # check and bench
#   scripts/gpu-kernels.sh check      # check only
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-gpu-out}"
mkdir -p "$out"
what="${1:-all}"
{
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem --format=csv
  nvcc --version | tail -2
  python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)'
} > "$out/machine.txt" 2>&1
cat "$out/machine.txt"
prefix="$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')"
if ! cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix" > "$out/configure.log" 2>&1 ||
   ! cmake --build build-gpu -j "$(nproc)" --target intra-kernel-check > "$out/build.log" 2>&1; then
  echo "build failed: see $out/configure.log and $out/build.log"
  tail -40 "$out/configure.log" "$out/build.log"
  exit 2
fi
grep -E "intra:|spill" "$out/configure.log" "$out/build.log" | head -20
build-gpu/intra-kernel-check --device cuda > "$out/check.jsonl" 2> "$out/check.err"
status=$?
grep '"pass":false' "$out/check.jsonl" | head -20
tail -1 "$out/check.jsonl"
cat "$out/check.err"
if [ "$what" = all ]; then
  build-gpu/intra-kernel-check --device cuda --bench > "$out/bench.jsonl" 2> "$out/bench.err"
  cat "$out/bench.jsonl" "$out/bench.err"
fi
exit $status
