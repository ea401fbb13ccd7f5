#!/usr/bin/env bash
# Run here, before the GPU suite goes to a machine with no network: fetches
# Debian's cmocka packages into .debs/ (ignored by git) for the suite to unpack.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .debs
cd .debs
apt-get download libcmocka0 libcmocka-dev >/dev/null
ls -1
