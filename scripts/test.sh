#!/usr/bin/env bash
# The test command: installs what is missing, builds tessera and every test
# suite, and runs them with ctest. Suites labelled gpu skip without a GPU; the
# emu suites run the same kernels on the CPU emulation.
#   scripts/test.sh              build in ./build and run all suites
#   TSR_CMAKE_ARGS="-D..." scripts/test.sh   extra CMake options
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
. scripts/env.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo ${TSR_CMAKE_ARGS:-} >/dev/null
cmake --build build -j"$JOBS"
ctest --test-dir build --output-on-failure -j"$JOBS"
