#!/usr/bin/env bash
# Installs what is missing, builds kvstash (reusing build/) and runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build.sh
cd "${KVSTASH_BUILD_DIR:-build}"
ctest --output-on-failure -j "${JOBS:-$(nproc)}" --timeout 600
