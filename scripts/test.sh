#!/usr/bin/env bash
# Installs what is missing, builds kvstash (reusing build/), fuzzes every
# torch-free parser for a few seconds each (scripts/fuzz.sh --quick, in
# build-fuzz-quick/; KVSTASH_FUZZ_SECONDS per target, default 5, 0 skips it)
# and runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build.sh
# Before ctest, so that ctest's summary stays the last word; a finding still
# fails the run, after the tests.
fuzz_seconds="${KVSTASH_FUZZ_SECONDS:-5}"
fuzz_status=0
if [ "$fuzz_seconds" -gt 0 ]; then
  ./scripts/fuzz.sh --quick --time "$fuzz_seconds" || fuzz_status=$?
fi
cd "${KVSTASH_BUILD_DIR:-build}"
ctest --output-on-failure -j "${JOBS:-$(nproc)}" --timeout 600
if [ "$fuzz_status" -ne 0 ]; then
  echo "test.sh: the short fuzz run failed (its report is above the tests')" >&2
  exit "$fuzz_status"
fi
