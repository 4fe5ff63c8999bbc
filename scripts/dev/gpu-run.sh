#!/usr/bin/env bash
# One full GPU run on a machine without node or network (the device machine): unpack what
# scripts/dev/gpu-pack.sh carried in .gpu/, build the kernel tool and the addon against PyTorch's
# CUDA libtorch, then run the stages named (default: all), each under its own time limit.
# Logs go to $OUT/logs.tgz and a short summary is printed last; the bench stages' measurement
# records go to $OUT/records: copy them into records/ and run `npm run docs:performance`.
#
#   scripts/dev/gpu-run.sh [build] [check] [bench] [kernels] [engine] [engine-bf16] [interchange] [magnetic-tile] [cpu-amx]
#   (cpu-amx: the host's CPU on 2 threads, AMX where it has it, recorded as its own machine)
#   (magnetic-tile: MT_MINUTES, MT_PRESET, MT_DEVICE; the data from scripts/dev/gpu-pack.sh DATA 300 24)
set -uo pipefail
cd "$(dirname "$0")/../.."
out="${OUT:-gpu-out}"
log=/tmp/gpu-logs
rm -rf "$log"
mkdir -p "$out" "$log"
stages="${*:-build check bench engine interchange}"
summary="$log/summary.txt"
say() { echo "$*" | tee -a "$summary"; }
finish() { tar -czf "$out/logs.tgz" -C "$log" . ; cat "$summary"; }
trap finish EXIT

{ nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem --format=csv
  nvcc --version | tail -2
  python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)'
  nproc; } > "$log/machine.txt" 2>&1
say "machine: $(tr '\n' ' ' < "$log/machine.txt")"

# node and the production modules
mkdir -p /tmp/node/bin
xz -dc .gpu/node.xz > /tmp/node/bin/node && chmod +x /tmp/node/bin/node
export PATH=/tmp/node/bin:$PATH
[ -d node_modules ] || tar -xJf .gpu/modules.tar.xz
say "node $(node --version)"

prefix="$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')"
export INTRA_ADDON="${INTRA_ADDON:-$PWD/build-gpu/intra.node}"
stage() {  # name seconds command...
  local name=$1 limit=$2; shift 2
  local begin=$SECONDS
  timeout "$limit" "$@" > "$log/$name.log" 2>&1
  local rc=$?
  say "stage $name: rc=$rc in $((SECONDS - begin)) s"
  if [ $rc -ge 128 ] && [ $rc -ne 137 ]; then  # a crash: where, once, under cuda-gdb
    timeout 120 cuda-gdb -batch -ex run -ex bt --args "$@" > "$log/$name.gdb" 2>&1
    grep -E "^#[0-9]+ " "$log/$name.gdb" | head -15 | cut -c1-240 | tee -a "$summary"
  fi
  tail -3 "$log/$name.log" | cut -c1-300 >> "$summary"
  return $rc
}
benchSummary() {  # one line per record of an `intra bench score|train --json` stage
  grep '^{' "$log/$1.log" | node -e '
    const lines=require("fs").readFileSync(0,"utf8").trim().split("\n").filter(Boolean).map(JSON.parse);
    for (const r of lines) console.log(r.bench, r.precision, r.kernels, r.path, r.windows_per_s.toFixed(0)+" win/s", r.images_per_s.toFixed(1)+" img/s", r.gflops_per_s.toFixed(0)+" GF/s", r.percent_of_ceiling.toFixed(1)+"% of "+r.ceiling_gflops_per_s.toFixed(0));' | tee -a "$summary"
}
for s in $stages; do
  case "$s" in
    build)
      stage configure 120 cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix" \
        -DCMAKE_JS_INC="$PWD/.gpu/node-include" -DINTRA_CUDA_ARCHITECTURES="${INTRA_CUDA_ARCHITECTURES:-90-real}" || { tail -30 "$log/configure.log"; exit 2; }
      grep "intra:" "$log/configure.log" | tee -a "$summary"
      stage build 400 cmake --build build-gpu -j "$(nproc)" || { grep -E "error|Error" "$log/build.log" | head -30 | tee -a "$summary"; exit 2; }
      grep -E "spill" "$log/build.log" | sort | uniq -c | head -10 | tee -a "$summary"
      ;;
    check)
      stage check 180 build-gpu/intra-kernel-check --device cuda
      grep -c '"pass":true' "$log/check.log" | sed 's/^/checks passed: /' | tee -a "$summary"
      grep '"pass":false' "$log/check.log" | head -12 | cut -c1-400 | tee -a "$summary"
      grep -v '^{' "$log/check.log" | head -10 | tee -a "$summary"
      ;;
    bench)
      stage bench 200 build-gpu/intra-kernel-check --device cuda --bench
      cut -c1-300 "$log/bench.log" | tee -a "$summary" > /dev/null
      ;;
    kernels)  # the kernels against ATen (and libtorch's fused attention) through the addon, recorded
      stage cuda-kernels 240 node dist/bin/intra.js bench kernels --device cuda --record "$out/records"
      grep -E '^device |^(softmax|linear)_attention +forward(\+backward)? +49 ' "$log/cuda-kernels.log" >> "$summary"
      ;;
    engine)
      stage info 60 node dist/bin/intra.js info
      head -30 "$log/info.log" >> "$summary"
      stage bench-train 150 node dist/bin/intra.js bench train --device cuda --precision bf16,fp32 --kernels fused,reference --batch 256 --steps 4 --json --record "$out/records"
      stage bench-score 120 node dist/bin/intra.js bench score --device cuda --precision bf16,fp32 --kernels fused,reference --images 32 --json --record "$out/records"
      stage bench-train-large 120 node dist/bin/intra.js bench train --device cuda --precision bf16 --kernels fused,reference --batch 2048 --steps 2 --json --record "$out/records"
      for f in bench-train bench-score bench-train-large; do grep -v '^{' "$log/$f.log" | tail -5 >> "$summary"; benchSummary "$f"; done
      ;;
    engine-bf16)  # the bf16 figures alone: scoring, and training at batch 256 and 2048
      stage bench-score 120 node dist/bin/intra.js bench score --device cuda --precision bf16 --kernels fused,reference --images 32 --json --record "$out/records"
      stage bench-train 60 node dist/bin/intra.js bench train --device cuda --precision bf16 --kernels fused,reference --batch 256 --steps 4 --json --record "$out/records"
      stage bench-train-large 90 node dist/bin/intra.js bench train --device cuda --precision bf16 --kernels fused,reference --batch 2048 --steps 2 --json --record "$out/records"
      for f in bench-score bench-train bench-train-large; do benchSummary "$f"; done
      ;;
    magnetic-tile)  # the carried subset (scripts/dev/gpu-pack.sh DATA 300 24): train on a time budget, evaluate
      [ -d .gpu/data/train/good ] || { say "no .gpu/data: run scripts/dev/gpu-pack.sh <magnetic_tile> 300 24 first"; continue; }
      minutes="${MT_MINUTES:-5}"
      stage mt-train $((minutes * 60 + 120)) node dist/bin/intra.js train .gpu/data --out /tmp/mt.intra --overwrite --preset "${MT_PRESET:-paper}" \
        --device "${MT_DEVICE:-cuda}" --train-precision bf16 --minutes "$minutes" --seed 0
      tail -2 "$log/mt-train.log" | tee -a "$summary"
      stage mt-eval 300 node dist/bin/intra.js eval /tmp/mt.intra .gpu/data --device "${MT_DEVICE:-cuda}" --out /tmp/mt-eval
      cp /tmp/mt-eval/report.json "$log/mt-report.json" 2>/dev/null
      grep -E "^\|" "$log/mt-eval.log" | head -10 | tee -a "$summary"
      ;;
    interchange)  # a model trained on the GPU, scored on the CPU and on the GPU (as test/gpu-interchange.test.ts, which needs vitest: not carried), evaluated on the GPU
      intra="node dist/bin/intra.js"
      stage synth 60 $intra synth /tmp/syn --categories weave --train 24 --test-good 8 --test-per-defect 4
      stage train-gpu 120 $intra train /tmp/syn/weave --out /tmp/gpu.intra --preset small --device cuda --epochs 4 --windows-per-image 64 --train-precision bf16 --overwrite
      stage score-on-cpu 60 $intra score /tmp/gpu.intra /tmp/syn/weave/test --device cpu --threads 8 --out /tmp/gpu-on-cpu.jsonl
      stage score-on-gpu 60 $intra score /tmp/gpu.intra /tmp/syn/weave/test --device cuda --out /tmp/gpu-on-gpu.jsonl
      cp /tmp/gpu-on-cpu.jsonl /tmp/gpu-on-gpu.jsonl "$log/" 2>/dev/null
      node -e '
        const fs=require("fs"); const read=(f)=>new Map(fs.readFileSync(f,"utf8").trim().split("\n").map(JSON.parse).map(r=>[r.file,r.score]));
        const a=read("/tmp/gpu-on-cpu.jsonl"), b=read("/tmp/gpu-on-gpu.jsonl"); let worst=0;
        for (const [k,v] of a) worst=Math.max(worst, Math.abs(v-b.get(k))/Math.max(1e-12,Math.abs(v)));
        console.log("GPU-trained model scored on CPU vs GPU:", a.size, "images, largest relative score difference", worst.toExponential(2));' 2>&1 | tee -a "$summary"
      stage eval-gpu 120 $intra eval /tmp/gpu.intra /tmp/syn/weave --device cuda
      ;;
    cpu-amx)  # the host CPU (an Intel Xeon with AMX here) on 2 threads: scoring and training shares, ops
      say "cpu: $(lscpu | grep -m1 'Model name' | sed 's/  */ /g'); amx: $(grep -o 'amx[a-z_0-9]*' /proc/cpuinfo | sort -u | tr '\n' ' ')"
      stage cpu-score 200 node dist/bin/intra.js bench score --threads 2 --kernels fused,reference --json --record "$out/records"
      stage cpu-train 240 node dist/bin/intra.js bench train --threads 2 --ablate --json --record "$out/records"
      for f in cpu-score cpu-train; do benchSummary "$f"; done
      stage cpu-profile 200 node dist/bin/intra.js profile train --preset paper --precision bf16 --windows-per-image 16 --batch 32 --threads 2 --ops --op-rows 20 --record "$out/records"
      grep -A24 '^ops over' "$log/cpu-profile.log" >> "$summary"
      stage cpu-kernels 300 node dist/bin/intra.js bench kernels --threads 2 --record "$out/records"
      stage cpu-kernels-bf16 200 node dist/bin/intra.js bench kernels --threads 2 --dtype bfloat16 --record "$out/records"
      # The table's ceiling line, the attention rows at S = 49 and the row ops (not the progress lines).
      for f in cpu-kernels cpu-kernels-bf16; do
        grep -E '^device |^(softmax|linear)_attention +forward(\+backward)? +49 |^(layer_norm|bias_gelu|bias_residual|adam) ' "$log/$f.log" >> "$summary"
      done
      ;;
    *) say "unknown stage $s";;
  esac
done
