#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/, docs/fuzzing.md) and runs each in turn
# on its seed corpus, printing executions, exec/s and any finding.
#
# Usage: scripts/fuzz.sh [--quick] [--fresh] [--time S | --runs N] [TARGET...]
#   --quick    the torch-free targets only, built standalone (cmake -S fuzz) in
#              build-fuzz-quick/: what scripts/test.sh runs. Default: the `fuzz`
#              preset in build-fuzz/ (needs libtorch and RocksDB), every target.
#   --fresh    start from the seeds alone, forgetting the inputs earlier runs
#              added to <build>/fuzz-corpus/ (--quick always does).
#   --time S   run each target for S seconds (default: 60).
#   --runs N   run each target for N inputs instead.
#   TARGET     names as in fuzz/corpus/ (default: every target built).
# Environment: JOBS (build jobs, default nproc), KVSTASH_FUZZ_BUILD_DIR (build
# directory), KVSTASH_FUZZ_ARGS (more libFuzzer flags, e.g. -max_len=65536).
# Exit status: 0 if no target found anything; 1 if one did (its report and
# input are printed, the input kept in <build>/fuzz-artifacts/); 2 on bad usage.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
  exit 2
}

quick=0
fresh=0
limit=(-max_total_time=60)
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --fresh) fresh=1 ;;
    --time)
      if ! [[ "${2:-}" =~ ^[0-9]+$ ]]; then usage; fi
      limit=(-max_total_time="$2")
      shift
      ;;
    --runs)
      if ! [[ "${2:-}" =~ ^[0-9]+$ ]]; then usage; fi
      limit=(-runs="$2")
      shift
      ;;
    -h | --help) usage ;;
    -*) usage ;;
    *) targets+=("$1") ;;
  esac
  shift
done

./scripts/install-deps.sh
jobs="${JOBS:-$(nproc)}"
if [ "$quick" -eq 1 ]; then
  build="${KVSTASH_FUZZ_BUILD_DIR:-build-fuzz-quick}"
  fresh=1
  cmake -S fuzz -B "$build" -G Ninja -DCMAKE_CXX_COMPILER=clang++ >/dev/null
else
  build="${KVSTASH_FUZZ_BUILD_DIR:-build-fuzz}"
  cmake --preset fuzz -B "$build" >/dev/null
fi
echo "fuzz: building the fuzzers in $build/" >&2
# Progress lines hidden; errors shown; pipefail keeps the build's status.
cmake --build "$build" --target kvstash_fuzzers -j "$jobs" |
  sed -e '/^\[[0-9]*\/[0-9]*\]/d' -e '/^ninja: no work to do/d'

if [ ${#targets[@]} -eq 0 ]; then
  for bin in "$build"/fuzzers/fuzz_*; do targets+=("${bin##*/fuzz_}"); done
fi
for t in "${targets[@]}"; do
  if [ ! -x "$build/fuzzers/fuzz_$t" ] || [ ! -d "fuzz/corpus/$t" ]; then
    echo "fuzz: no target '$t' in $build/fuzzers/ (with seeds in fuzz/corpus/$t/)" >&2
    exit 2
  fi
done

# Readable sanitizer stacks: llvm-symbolizer (package llvm-14) on the PATH.
for d in /usr/lib/llvm-14/bin /usr/lib/llvm-*/bin; do
  if [ -x "$d/llvm-symbolizer" ]; then
    PATH="$PATH:$d"
    break
  fi
done
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1}"

artifacts="$build/fuzz-artifacts"
logs="$build/fuzz-logs"
mkdir -p "$artifacts" "$logs"
# shellcheck disable=SC2206  # a space-separated flag list
extra=(${KVSTASH_FUZZ_ARGS:-})
failed=()
printf '%-18s %12s %10s %8s  %s\n' target executions exec/s seconds result
for t in "${targets[@]}"; do
  work="$build/fuzz-corpus/$t"
  if [ "$fresh" -eq 1 ]; then rm -rf "$work"; fi
  mkdir -p "$work"
  log="$logs/$t.log"
  start=$(date +%s)
  rc=0
  # New inputs go to $work (the first directory), never into fuzz/corpus/.
  "$build/fuzzers/fuzz_$t" "${limit[@]}" -print_final_stats=1 -timeout=25 -rss_limit_mb=2560 \
    -artifact_prefix="$artifacts/$t-" "${extra[@]}" "$work" "fuzz/corpus/$t" >"$log" 2>&1 || rc=$?
  seconds=$(($(date +%s) - start))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  result="ok"
  if [ "$rc" -ne 0 ]; then
    result="FOUND (exit $rc)"
    failed+=("$t")
  fi
  printf '%-18s %12s %10s %8s  %s\n' "$t" "${execs:-?}" "${rate:-?}" "$seconds" "$result"
  if [ "$rc" -ne 0 ]; then
    echo "---- $t: report (full log: $log)" >&2
    grep -v -E '^#[0-9]+[[:space:]]+(NEW|REDUCE|pulse|INITED|RELOAD)|^[[:space:]]+NEW_(FUNC|PC)' "$log" |
      tail -n 60 >&2
    input=$(sed -n 's/.*Test unit written to //p' "$log" | tail -1)
    if [ -n "$input" ] && [ -f "$input" ]; then
      echo "---- $t: input $input ($(wc -c <"$input") bytes; first 512 shown)" >&2
      head -c 512 "$input" | od -A x -t x1z -v >&2
      echo "---- reproduce: $build/fuzzers/fuzz_$t $input" >&2
    fi
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: ${#failed[@]} of ${#targets[@]} targets found something: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: ${#targets[@]} targets, no finding"
