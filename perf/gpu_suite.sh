#!/usr/bin/env bash
# The GPU suite, for a machine with a CUDA GPU: build, run the gpu and emu
# test suites, run compute-sanitizer memcheck over the gpu suites, run the
# benchmarks (tessera vs cuBLAS, and vs PyTorch's int4 tinygemm when torch is
# there), and write a dated report. Meant to finish within 10 minutes on an H100.
#   perf/gpu_suite.sh                    results in perf/results/<date>-<gpu>/
#   OUT=/some/dir perf/gpu_suite.sh      results in $OUT (the device tool's way)
#   TSR_SUITE_QUICK=1 perf/gpu_suite.sh  fewer samples and shapes (a first look)
#   TSR_SUITE_TUNE=1 perf/gpu_suite.sh   also ktune (TSR_SUITE_TUNE_MODEL, llama3-8b)
#   TSR_SUITE_EMU=1 perf/gpu_suite.sh    also the emulated suites (CI runs them anyway)
#   TSR_SUITE_NO_DF11=1 perf/gpu_suite.sh  without the DFloat11 benchmarks (a W4A16-only rerun)
#   TSR_SUITE_ONLY_DF11=1 perf/gpu_suite.sh  build, tests, sanitizer and the DFloat11 benchmarks alone
#                                        (the two halves as two device calls when one would pass 10 minutes)
#   TSR_SUITE_BASELINE=perf/results/...[:...] perf/gpu_suite.sh  also compare.md:
#                                        every row against those earlier runs (perf/compare_runs.py)
# cmocka: if pkg-config cannot find it and .debs/ holds Debian's libcmocka .debs
# (perf/gpu_suite_prepare.sh fetches them), they are unpacked into /tmp.
set -uo pipefail
cd "$(dirname "$0")/.."
[ -f scripts/env.sh ] && . scripts/env.sh
JOBS=${JOBS:-$(nproc)}
t0=$(date +%s)
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1 | tr ' /' '__')
stamp=$(date -u +%Y-%m-%dT%H%M%SZ)
dest=${OUT:-perf/results/${stamp}-${gpu:-gpu}}
mkdir -p "$dest"
log="$dest/suite.log"
: >"$log"
say() { echo "[gpu_suite +$(( $(date +%s) - t0 ))s] $*" | tee -a "$log"; }

cmake_extra=()
if ! pkg-config --exists cmocka 2>/dev/null && ls .debs/*.deb >/dev/null 2>&1; then
  root=/tmp/tsr_debroot
  for d in .debs/*.deb; do dpkg -x "$d" "$root"; done
  export LD_LIBRARY_PATH="$(dirname "$(find "$root" -name 'libcmocka.so*' | head -1)")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  cmake_extra+=(-DCMOCKA_ROOT="$root/usr")
  say "cmocka unpacked from .debs into $root"
fi

arch=${TSR_CUDA_ARCH:-$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d .)}
[ "$arch" = "90" ] && arch=90a
say "device: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | head -1); building for sm_$arch"
cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES="$arch" "${cmake_extra[@]}" >>"$log" 2>&1 || { say "configure failed"; tail -30 "$log"; exit 1; }
cmake --build build-gpu -j"$JOBS" >>"$log" 2>&1 || { say "build failed"; tail -40 "$log"; exit 1; }
say "built"

status=0
# every step has a time limit of its own, so that one that hangs or crawls
# cannot take the later ones with it (the device gives 10 minutes a call)
lim() { timeout --kill-after=10 "$@"; }
lim 240 ctest --test-dir build-gpu -L gpu --output-on-failure >"$dest/tests_gpu.txt" 2>&1 || status=1
say "gpu tests: $(grep -E 'tests passed|tests failed' "$dest/tests_gpu.txt" | tail -1)"
if [ -n "${TSR_SUITE_EMU:-}" ]; then # CI runs these on every change; here only when asked
  lim 240 ctest --test-dir build-gpu -L emu -j"$JOBS" --output-on-failure >"$dest/tests_emu.txt" 2>&1 || status=1
  say "emu tests: $(grep -E 'tests passed|tests failed' "$dest/tests_emu.txt" | tail -1)"
fi

san="$dest/sanitizer.txt"
: >"$san"
san_runs=0
for t in build-gpu/tests/*_gpu global:build-gpu/tests/test_df11_gpu_gpu; do
  env=()
  # the DF11 decoder that reads codes from global memory is the same suite
  # with the staged decoder (the default) switched off
  case "$t" in global:*) t=${t#global:}; env=(TSR_DF11_STAGE_CODES=0) ;; esac
  if command -v compute-sanitizer >/dev/null 2>&1; then
    env "${env[@]}" TSR_TEST_SEED=1 timeout --kill-after=10 180 compute-sanitizer --tool memcheck --error-exitcode 3 "$t" >>"$san" 2>&1 || status=1
    san_runs=$((san_runs + 1))
  fi
done
say "compute-sanitizer memcheck: $(grep -c 'ERROR SUMMARY: 0 errors' "$san") clean of $san_runs suite runs"

export TSR_COMMIT=${TSR_COMMIT:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)}
b=build-gpu/perf/bench_w4a16
quick=()
[ -n "${TSR_SUITE_QUICK:-}" ] && quick=(--quick --m 1,16,64,1024)
if [ -n "${TSR_SUITE_ONLY_DF11:-}" ]; then
  say "w4a16 benchmarks skipped (TSR_SUITE_ONLY_DF11)"
else
lim 240 $b --dtype f16 "${quick[@]}" --json "$dest/w4a16_f16.json" >"$dest/w4a16_f16.md" 2>>"$log" || status=1
say "w4a16 f16 vs cuBLAS done"
lim 240 $b --dtype bf16 "${quick[@]}" --json "$dest/w4a16_bf16.json" >"$dest/w4a16_bf16.md" 2>>"$log" || status=1
say "w4a16 bf16 vs cuBLAS done"
# the 16-row decode tile (config 0) beside the default 8-row swapped one (6) at m <= 8
lim 120 $b --dtype f16 --models 70b,8b --m 1,4,8 --config 0 --dequant-from 0 --json "$dest/w4a16_cfg0.json" >"$dest/w4a16_cfg0.md" 2>>"$log" || status=1
say "w4a16 decode config 0 done"
# decode back to back (20 calls between two events, as a decode loop or a
# graph runs them) beside the usual one call between events, and back to
# back with programmatic dependent launch (--pdl: "b2b-pdl" rows): the 70B
# layers at m = 1 and 16, the 8B ones (where the fixed cost weighs most) at 1
{ lim 90 $b --dtype f16 --models 70b --m 1,16 --quick --dequant-from 0 --pdl &&
  lim 60 $b --dtype f16 --models 8b --m 1 --quick --dequant-from 0 --pdl | grep -E '^\| w4a16 '; } >"$dest/w4a16_b2b.md" 2>>"$log" || status=1
# the fixed cost of a decode call (launch, pipeline fill, split-column
# reduction): a one-tile layer and a 4 MB one at m = 1, beside cuBLAS; with
# the 70B rows it separates cost per call from cost per byte
{ lim 30 $b --dtype f16 --shape 128,128 --m 1 --dequant-from 0 &&
  lim 30 $b --dtype f16 --shape 8192,512 --m 1 --dequant-from 0 | grep -E '^\| w4a16 '; } >"$dest/w4a16_floor.md" 2>>"$log" || status=1
say "w4a16 decode back to back and floor done"
# tensor-parallel shards (Llama-3-70B over 8 GPUs: qkv, o, gate_up, down) at
# m = 1: the default grid against one block an SM, row by row. Run 20 had the
# 4 MB layer (k 8192, n 512) at 13.1 us with one an SM against 19.8 with
# two: columns split over many blocks (these shards: up to about 26)
: >"$dest/w4a16_tp8.md"
for kn in 8192,1280 1024,8192 8192,7168 3584,8192; do
  for n in 0 1; do
    TSR_W4A16_BLOCKS_PER_SM=$n lim 30 $b --dtype f16 --shape $kn --m 1,16 --dequant-from 0 --json "$dest/w4a16_tp8_$n.json" >/dev/null 2>>"$log" || status=1
  done
  python3 perf/compare_runs.py "$dest/w4a16_tp8_0.json" "$dest/w4a16_tp8_1.json" >>"$dest/w4a16_tp8.md" 2>>"$log" || status=1
  rm -f "$dest/w4a16_tp8_0.json" "$dest/w4a16_tp8_1.json"
done
say "w4a16 tensor-parallel shards (the grid rule) done"
lim 180 $b --dtype f16 --m 128,256,1024,4096 --config 5 --dequant-from 0 --json "$dest/w4a16_cfg5.json" >"$dest/w4a16_cfg5.md" 2>>"$log" || status=1
say "w4a16 prefill config 5 (2x4 warp grid) done"
# the warpgroup (wgmma) tiles forced, sm_90 only: 64 tokens (config 7) and
# 128 (config 8), each at every m from 64 so that either can be compared with
# the heuristic's choice, each checked against dense cuBLAS before it is timed
if [ "${arch}" = "90a" ]; then
  lim 180 $b --dtype f16 --m 64,128,256,1024,4096 --config 7 --dequant-from 0 --json "$dest/w4a16_cfg7.json" >"$dest/w4a16_cfg7.md" 2>>"$log" || status=1
  lim 180 $b --dtype f16 --m 64,128,256,1024,2048,4096 --config 8 --dequant-from 0 --json "$dest/w4a16_cfg8.json" >"$dest/w4a16_cfg8.md" 2>>"$log" || status=1
  # the default route (AUTO: dequantise + cuBLAS from m = 640 on sm_90, in
  # slabs) against the kernel's configuration 8, row by row
  python3 perf/compare_runs.py "$dest/w4a16_cfg8.json" "$dest/w4a16_f16.json" >"$dest/w4a16_prefill_route.md" 2>>"$log" || status=1
  # the route's slab width (64 MB of weight, m columns or two output-tile waves by default) on
  # 70b.gate_up (k 8192): 1024 to 16384 columns (16 to 256 MB), m = 2048 and 4096
  : >"$dest/w4a16_dense_slabs.md"
  for cols in 1024 4096 16384; do
    lim 60 env TSR_W4A16_DENSE_SLAB_COLS=$cols $b --dtype f16 --shape 8192,57344 --m 2048,4096 --dequant-from 0 >"$dest/w4a16_slab$cols.md" 2>>"$log" || status=1
    { echo "### slabs of $cols columns"; grep -E '^\| (w4a16|op) ' "$dest/w4a16_slab$cols.md"; echo; } >>"$dest/w4a16_dense_slabs.md"
    rm -f "$dest/w4a16_slab$cols.md"
  done
  # the warp-specialised 256-token tile (11), the heuristic's choice for some
  # m in 129-639 since run 21, forced at m = 128-4096 (one checked call first:
  # a hang costs 30 s, not its rows)
  if lim 30 $b --dtype f16 --shape 4096,2048 --m 300 --quick --config 11 >>"$log" 2>&1; then
    lim 150 $b --dtype f16 --m 128,256,1024,4096 --config 11 --dequant-from 0 --json "$dest/w4a16_cfg11.json" >"$dest/w4a16_cfg11.md" 2>>"$log" || status=1
  else
    say "w4a16 config 11 failed or hung on a small layer: its rows skipped (see the log)"
    status=1
  fi
  # m = 192-768, where the heuristic picks 8, 11 or the route (from 640): the
  # default rows with the route beside them, and 11 forced, row by row
  lim 120 $b --dtype f16 --m 192,384,512,768 --dequant-from 192 --json "$dest/w4a16_mid.json" >"$dest/w4a16_mid.md" 2>>"$log" || status=1
  lim 120 $b --dtype f16 --m 192,384,512,768 --config 11 --dequant-from 0 --json "$dest/w4a16_mid_cfg11.json" >"$dest/w4a16_mid_cfg11.md" 2>>"$log" || status=1
  python3 perf/compare_runs.py "$dest/w4a16_mid.json" "$dest/w4a16_mid_cfg11.json" >"$dest/w4a16_mid_candidates.md" 2>>"$log" || status=1
  say "w4a16 warpgroup tiles (configs 7, 8, 11) and m = 192-768 done"
fi
# packing a 70B model's GPTQ tensors: the GPU path against one core of the host
lim 120 build-gpu/perf/bench_w4a16_pack --model 70b --host-reps 1 --json "$dest/w4a16_pack.json" >"$dest/w4a16_pack.md" 2>>"$log" || status=1
say "w4a16 packing (device vs host) done"
fi # TSR_SUITE_ONLY_DF11
if [ -z "${TSR_SUITE_NO_DF11:-}" ]; then
  dump=/tmp/tsr_df11_tensors
  mkdir -p "$dump"
  lim 300 build-gpu/perf/bench_df11 ${TSR_SUITE_QUICK:+--quick} --dump "$dump" --json "$dest/df11.json" >"$dest/df11.md" 2>>"$log" || status=1
  say "df11 decode done"
  # the dfloat11 package's decoder on the same tensors (its wheels carried in .wheels/)
  if ls .wheels/dfloat11-*.whl >/dev/null 2>&1 && python3 -c "import cupy" 2>/dev/null; then
    { lim 60 python3 perf/bench_df11_peer.py --selftest --wheels .wheels &&
      lim 240 python3 perf/bench_df11_peer.py --wheels .wheels --dump "$dump" --max-mb "${TSR_PEER_MAX_MB:-256}" \
        --ours "$dest/df11.json" --json "$dest/df11_dfloat11.json" >"$dest/df11_vs_dfloat11.md"; } 2>>"$log" || status=1
    say "df11 vs the dfloat11 package done"
  else
    say "no .wheels/dfloat11-*.whl or no CuPy here: the dfloat11 comparison skipped"
  fi
  rm -rf "$dump"
  lim 120 build-gpu/perf/bench_df11_encode >"$dest/df11_encode.md" 2>>"$log" || status=1
  say "df11 encoder (CPU, one core) done"
else
  say "df11 skipped (TSR_SUITE_NO_DF11)"
fi
if [ -n "${TSR_SUITE_ONLY_DF11:-}" ]; then
  : # tinygemm is a W4A16 peer
elif python3 -c "import torch; assert torch.cuda.is_available()" 2>/dev/null; then
  lim 240 python3 perf/bench_tinygemm.py --json "$dest/tinygemm.json" >>"$log" 2>&1 || status=1
  python3 perf/merge_report.py "$dest/w4a16_bf16.json" "$dest/tinygemm.json" >"$dest/w4a16_vs_tinygemm.md" 2>>"$log" || status=1
  say "tinygemm done"
else
  say "no torch with CUDA here: tinygemm comparison skipped"
fi
if [ -n "${TSR_SUITE_TUNE:-}" ]; then
  # ktune on this GPU: a cache of its own in $dest, then tuned against heuristic
  export TESSERA_CACHE_DIR="$dest/tuning"
  lim 300 build-gpu/tools/ktune tune --model "${TSR_SUITE_TUNE_MODEL:-llama3-8b}" --dtype f16 >"$dest/ktune_tune.txt" 2>&1 || status=1
  lim 120 build-gpu/tools/ktune bench --model "${TSR_SUITE_TUNE_MODEL:-llama3-8b}" --dtype f16 >"$dest/ktune_bench.md" 2>&1 || status=1
  say "ktune tune + bench done (cache in $dest/tuning)"
fi
if [ -n "${TSR_SUITE_BASELINE:-}" ]; then
  # row by row against earlier runs (results folders, e.g. committed under
  # perf/results; several separated by ':', each compared in turn): the
  # speedup of each row and the peers' drift
  : >"$dest/compare.md"
  IFS=: read -r -a bases <<<"$TSR_SUITE_BASELINE"
  for b in "${bases[@]}"; do
    echo "# against $b" >>"$dest/compare.md"
    if python3 perf/compare_runs.py "$b" "$dest" >>"$dest/compare.md" 2>>"$log"; then
      say "compared with $b: $dest/compare.md"
    else
      say "nothing compared with $b (see the log)"
    fi
  done
fi

{
  echo "# GPU suite $stamp"
  echo
  grep -E '^\[gpu_suite' "$log"
  echo
  for f in compare w4a16_f16 w4a16_bf16 w4a16_cfg0 w4a16_cfg5 w4a16_cfg7 w4a16_cfg8 w4a16_cfg11 w4a16_mid w4a16_mid_candidates w4a16_prefill_route w4a16_dense_slabs w4a16_floor w4a16_tp8 w4a16_b2b w4a16_pack w4a16_vs_tinygemm ktune_bench df11 df11_vs_dfloat11 df11_encode; do
    [ -s "$dest/$f.md" ] && { echo "## $f"; echo; cat "$dest/$f.md"; echo; }
  done
} >"$dest/report.md"
say "report: $dest/report.md (status $status)"
exit $status
