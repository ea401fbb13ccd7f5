#!/usr/bin/env bash
# Run here, before the GPU suite goes to a machine with no network: fetches
# Debian's cmocka packages into .debs/ for the suite to unpack, and the peer
# dfloat11's wheels (with dahuffman and tqdm, pure Python) into .wheels/ for
# perf/bench_df11_peer.py. Both folders are ignored by git; carry them.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .debs
cd .debs
apt-get download libcmocka0 libcmocka-dev >/dev/null
ls -1
cd ..
mkdir -p .wheels
python3 -m pip download --quiet --no-deps -d .wheels dfloat11==0.5.0 dahuffman==0.4.2 tqdm
ls -1 .wheels
