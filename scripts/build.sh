#!/usr/bin/env bash
# Installs what is missing (scripts/install-deps.sh, plus any packages named
# in KVSTASH_EXTRA_PACKAGES), then configures and builds kvstash in
# $KVSTASH_BUILD_DIR (default build/, reused between runs).
# Usage: scripts/build.sh [TARGET...]   (no target: everything)
# Environment: KVSTASH_BUILD_DIR, CMAKE_BUILD_TYPE (Release), JOBS (nproc).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck disable=SC2086  # a space-separated package list
./scripts/install-deps.sh ${KVSTASH_EXTRA_PACKAGES:-}
BUILD_DIR="${KVSTASH_BUILD_DIR:-build}"
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE="${CMAKE_BUILD_TYPE:-Release}" >/dev/null
targets=()
for t in "$@"; do targets+=(--target "$t"); done
cmake --build "$BUILD_DIR" "${targets[@]}" -j "${JOBS:-$(nproc)}"
