#!/usr/bin/env bash
# Nsight Compute on the launches that matter, for a machine with a CUDA GPU and
# ncu: one W4A16 decode launch (70b.qkv, m=1), one W4A16 prefill launch
# (8b.gate_up, m=1024: configuration 8 on sm_90), and three DF11 decodes (the
# 64 MB stream and the 218M block, 32-step chunks, with the decoder that reads
# codes from global memory; the block also with the staged one, the default). The sections are those that explained the first H100 run
# (perf/results/2026-11-22-h100/run3): speed of light, occupancy, launch,
# warp states, scheduler, memory workload, source counters; then every stall
# reason (raw metrics) for the decode and prefill kernels; the prefill launch
# also with the warp-specialised tile (configuration 10). Eleven text files.
#   OUT=/some/dir perf/gpu_profile.sh   (default perf/results/profile-<stamp>)
# Reuses build-gpu/ when perf/gpu_suite.sh built it; else builds it the same way.
set -uo pipefail
cd "$(dirname "$0")/.."
dest=${OUT:-perf/results/profile-$(date -u +%Y-%m-%dT%H%M%SZ)}
mkdir -p "$dest"
if [ ! -x build-gpu/perf/bench_w4a16 ] || [ ! -x build-gpu/perf/bench_df11 ]; then
  arch=${TSR_CUDA_ARCH:-$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d .)}
  [ "$arch" = "90" ] && arch=90a
  # the benchmarks only: no tests, so no cmocka needed
  cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES="$arch" -DTESSERA_BUILD_TESTS=OFF >/dev/null &&
    cmake --build build-gpu -j"$(nproc)" --target bench_w4a16 bench_df11 >/dev/null || { echo "build failed"; exit 1; }
fi
sections=(--section SpeedOfLight --section Occupancy --section LaunchStats --section WarpStateStats
          --section SchedulerStats --section MemoryWorkloadAnalysis --section SourceCounters)
status=0
# bench_w4a16 times cuBLAS before tessera for each row; -k keeps to our kernel,
# --launch-skip past the warm-ups
timeout 200 ncu "${sections[@]}" -k regex:w4a16_gemm -c 1 --launch-skip 12 \
  build-gpu/perf/bench_w4a16 --dtype f16 --models 70b --m 1 --quick >"$dest/ncu_w4a16_decode.txt" 2>&1 || status=1
timeout 200 ncu "${sections[@]}" -k regex:w4a16_gemm -c 1 --launch-skip 12 \
  build-gpu/perf/bench_w4a16 --dtype f16 --models 8b --m 1024 --quick --dequant-from 0 >"$dest/ncu_w4a16_prefill.txt" 2>&1 || status=1
# bench_df11 --quick --steps 32 decodes each stream with the global-read
# decoder (one check, 3 warm-ups, 10 samples: 14 launches), then with the
# staged one (14 more): the 64 MB stream, the 256 MB stream, then the 218M
# block. Skip 1 for the 64 MB stream's first warm-up, 57 for the block's
# (global reads), 71 for the block's (staged)
timeout 200 ncu "${sections[@]}" -k regex:df11_decode -c 1 --launch-skip 1 \
  build-gpu/perf/bench_df11 --quick --steps 32 >"$dest/ncu_df11_64mb.txt" 2>&1 || status=1
timeout 200 ncu "${sections[@]}" -k regex:df11_decode -c 1 --launch-skip 57 \
  build-gpu/perf/bench_df11 --quick --steps 32 >"$dest/ncu_df11_block.txt" 2>&1 || status=1
timeout 200 ncu "${sections[@]}" -k regex:df11_decode -c 1 --launch-skip 71 \
  build-gpu/perf/bench_df11 --quick --steps 32 >"$dest/ncu_df11_block_staged.txt" 2>&1 || status=1
# the warp-specialised prefill tile (configuration 10) on the same launch as
# configuration 8 above, sm_90 only
timeout 200 ncu "${sections[@]}" -k regex:w4a16_gemm -c 1 --launch-skip 12 \
  build-gpu/perf/bench_w4a16 --dtype f16 --models 8b --m 1024 --quick --dequant-from 0 --config 10 >"$dest/ncu_w4a16_prefill_ws.txt" 2>&1 || status=1
# every stall reason of the warp-state section, as raw metrics
timeout 200 ncu --section WarpStateStats --page raw -k regex:w4a16_gemm -c 1 --launch-skip 12 \
  build-gpu/perf/bench_w4a16 --dtype f16 --models 70b --m 1 --quick >"$dest/ncu_w4a16_decode_stalls.txt" 2>&1 || status=1
timeout 200 ncu --section WarpStateStats --page raw -k regex:w4a16_gemm -c 1 --launch-skip 12 \
  build-gpu/perf/bench_w4a16 --dtype f16 --models 8b --m 1024 --quick --dequant-from 0 >"$dest/ncu_w4a16_prefill_stalls.txt" 2>&1 || status=1
timeout 200 ncu --section WarpStateStats --page raw -k regex:w4a16_gemm -c 1 --launch-skip 12 \
  build-gpu/perf/bench_w4a16 --dtype f16 --models 8b --m 1024 --quick --dequant-from 0 --config 10 >"$dest/ncu_w4a16_prefill_ws_stalls.txt" 2>&1 || status=1
timeout 200 ncu --section WarpStateStats --page raw -k regex:df11_decode -c 1 --launch-skip 57 \
  build-gpu/perf/bench_df11 --quick --steps 32 >"$dest/ncu_df11_block_stalls.txt" 2>&1 || status=1
timeout 200 ncu --section WarpStateStats --page raw -k regex:df11_decode -c 1 --launch-skip 71 \
  build-gpu/perf/bench_df11 --quick --steps 32 >"$dest/ncu_df11_block_staged_stalls.txt" 2>&1 || status=1
echo "profiles in $dest (status $status)"
exit $status
