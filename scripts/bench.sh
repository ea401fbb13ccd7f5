#!/usr/bin/env bash
# The main job: the benchmark suite. On a machine with a CUDA GPU it builds and
# runs perf/gpu_suite.sh (tests, compute-sanitizer, benchmarks, a dated report
# in perf/results/). Without one it says so in one line and checks every
# kernel on the CPU emulation instead.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
. scripts/env.sh
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q GPU; then
  exec perf/gpu_suite.sh
fi
echo "No CUDA GPU on this machine: no speeds to measure; checking the kernels on the CPU emulation instead."
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$JOBS"
ctest --test-dir build -L emu --output-on-failure -j"$JOBS"
