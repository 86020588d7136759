#!/usr/bin/env bash
# Regenerates the data and plots behind docs/benchmarks.md in one command.
# Installs what is missing (scripts/install-deps.sh, plus gnuplot-nox and jq for
# the plots), builds kvstash as scripts/demo.sh does, makes a Qwen2.5-0.5B-shaped
# bf16 model with random weights once, then writes into the output directory:
#   machine.txt    date, CPU, memory, disk, kernel, library versions, git commit
#   commands.txt   the exact kvstash commands that wrote the JSON below
#   ttft.json      kvstash bench ttft  --json  (cold vs warm TTFT per path)
#   store.json     kvstash bench store --json  (codec/disk/remote GB/s vs limits)
#   naive.json     kvstash bench naive --json  (torch::save vs kvstash)
#   naive-codec-none.json  the same at BENCH_STORE_TOKENS, blobs uncompressed
#   workloads.json kvstash bench workloads --json (document + question, chat,
#                  shared system prompt, a miss: cold vs warm)
#   workloads-no-onednn.json  the same with --no-onednn: the code path of a
#                  CPU without AVX-512 (bf16 matmul unaccelerated, so compute
#                  in f32); only on CPUs with AVX-512, where it differs
#   scale.json     kvstash bench scale --json (request, open, ls/stat, verify
#                  and prune costs at 1e3..1e6 stored blocks; ~10 minutes and
#                  ~5 GB of disk at 1e6)
#   *.png          plots of them, by scripts/plot_bench.sh
# and, when the output directory is docs/bench, rewrites the tables of
# docs/benchmarks.md between their <!-- bench:NAME --> markers
# (scripts/bench_tables.sh); the prose around them is written by hand.
# The benchmarks' stores live in ${TMPDIR:-/tmp}. With the defaults this takes
# several minutes of 2 busy cores; run it on an otherwise idle machine.
#
# Usage: scripts/bench.sh                run everything
#        scripts/bench.sh --plots-only   only re-plot (and re-tabulate) the JSON in the output dir
#
# Environment: KVSTASH_BENCH_OUT (output directory, default docs/bench),
# KVSTASH_BUILD_DIR (default build), BENCH_PRESET (unset: the qwen2.5-0.5b bf16
# model made once in out/bench; set, e.g. to tiny: `--preset $BENCH_PRESET`,
# no model made), BENCH_TTFT_TOKENS (default 512,1024,2048,4096),
# BENCH_STORE_TOKENS (2048), BENCH_NAIVE_TOKENS (512,2048), BENCH_REPEAT (3),
# BENCH_THREADS (2), BENCH_WORKLOADS_FLAGS (extra `bench workloads` flags,
# e.g. "--doc-tokens 128 --users 4" for a quick run), BENCH_NO_ONEDNN (auto:
# the --no-onednn pass where the CPU has AVX-512; 0: never), BENCH_SCALE_BLOCKS
# (1e3,1e4,1e5,1e6; empty: skip bench scale).
set -euo pipefail
cd "$(dirname "$0")/.."

plots_only=0
case "${1:-}" in
  "") ;;
  --plots-only) plots_only=1 ;;
  -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  *) echo "usage: $0 [--plots-only]" >&2; exit 2 ;;
esac

OUT="${KVSTASH_BENCH_OUT:-docs/bench}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"

# gnuplot and jq for the plots, with the build's packages, installed only when
# missing (gnuplot-qt or gnuplot-x11, which conflict with gnuplot-nox, will do
# as well).
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
plot_packages=jq
if ! installed gnuplot-nox && ! installed gnuplot-qt && ! installed gnuplot-x11; then
  plot_packages+=" gnuplot-nox"
fi

# The plots, and the tables of docs/benchmarks.md when the output is docs/bench.
render() {
  echo "== plotting $OUT"
  ./scripts/plot_bench.sh "$OUT"
  if [ "$OUT" = "$PWD/docs/bench" ]; then
    ./scripts/bench_tables.sh "$OUT" docs/benchmarks.md
  else
    echo "== docs/benchmarks.md left as it is (output is not docs/bench)"
  fi
}

if [ "$plots_only" -eq 1 ]; then
  # shellcheck disable=SC2086  # a space-separated package list
  ./scripts/install-deps.sh $plot_packages
  render
  exit 0
fi

KVSTASH_EXTRA_PACKAGES="$plot_packages" ./scripts/build.sh kvstash
KVSTASH="${KVSTASH_BUILD_DIR:-build}/tools/kvstash"

TTFT_TOKENS="${BENCH_TTFT_TOKENS:-512,1024,2048,4096}"
STORE_TOKENS="${BENCH_STORE_TOKENS:-2048}"
NAIVE_TOKENS="${BENCH_NAIVE_TOKENS:-512,2048}"
REPEAT="${BENCH_REPEAT:-3}"
THREADS="${BENCH_THREADS:-2}"

if [ -n "${BENCH_PRESET:-}" ]; then
  model_args=(--preset "$BENCH_PRESET")
else
  # Relative, so that the "model" recorded in the JSON names no local path.
  MODEL=out/bench/qwen2.5-0.5b-bf16
  if [ ! -f "$MODEL/config.json" ]; then
    echo "== making a qwen2.5-0.5b-shaped model with random weights (once)"
    "$KVSTASH" mkmodel --out "$MODEL" --preset qwen2.5-0.5b --dtype bf16
  fi
  model_args=(--model "$MODEL")
fi

# The git commit of the sources, "-dirty" when they differ from it (changes
# under the output directory itself do not count).
commit() {
  local rev exclude=()
  rev=$(git rev-parse --short HEAD 2>/dev/null) || { echo unknown; return; }
  case "$OUT/" in "$PWD"/*) exclude=(":(exclude)${OUT#"$PWD"/}") ;; esac
  if [ -n "$(git status --porcelain -- . "${exclude[@]}" 2>/dev/null)" ]; then rev+="-dirty"; fi
  echo "$rev"
}

echo "== describing this machine -> $OUT/machine.txt"
{
  echo "date:        $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  echo "commit:      $(commit)"
  echo "kernel:      $(uname -r)"
  echo "cpus:        $(nproc)"
  echo "cpu model:   $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)"
  # What decides libtorch's speed here: AVX-512 BW/VL/DQ sends bf16 matmul to
  # oneDNN (else a scalar fallback), avx512_bf16/AMX make it faster still.
  echo "cpu flags:   $(grep -m1 -o -w -E 'avx2|fma|avx512f|avx512bw|avx512vl|avx512dq|avx512_bf16|avx512_vnni|amx_bf16|amx_tile' /proc/cpuinfo | sort -u | tr '\n' ' ')"
  echo "memory:      $(awk '/^MemTotal:/ { printf "%.1f GiB (%s kB)", $2 / 1048576, $2 }' /proc/meminfo)"
  echo "load avg:    $(cut -d' ' -f1-3 /proc/loadavg) (at start)"
  echo
  echo "disk of the work directory (.) and of the benchmarks' stores (${TMPDIR:-/tmp}):"
  df -h . "${TMPDIR:-/tmp}"
  if command -v lsblk >/dev/null; then
    echo
    lsblk -d -o NAME,ROTA,SIZE,MODEL 2>/dev/null || true
  fi
  echo
  echo "packages:"
  dpkg-query -W -f='${Package} ${Version}\n' \
    libtorch-dev librocksdb-dev libzstd-dev libopenblas0-openmp 2>&1 || true
} > "$OUT/machine.txt"

: > "$OUT/commands.txt"
trap 'rm -f "$OUT"/*.json.tmp' EXIT
# bench NAME ARGS...: kvstash bench NAME ARGS --json > OUT/NAME.json (replaced
# only when the command succeeds).
bench() { bench_as "$1" "$@"; }
# bench_as FILE NAME ARGS...: the same, into OUT/FILE.json.
bench_as() {
  local file="$1" name="$2"
  shift 2
  echo "== kvstash bench $name $* --json > $OUT/$file.json"
  echo "$KVSTASH bench $name $* --json" >> "$OUT/commands.txt"
  "$KVSTASH" bench "$name" "$@" --json > "$OUT/$file.json.tmp"
  mv "$OUT/$file.json.tmp" "$OUT/$file.json"
}

bench ttft "${model_args[@]}" --prompt-tokens "$TTFT_TOKENS" --repeat "$REPEAT" --threads "$THREADS"
bench store "${model_args[@]}" --prompt-tokens "$STORE_TOKENS" --threads "$THREADS"
bench naive "${model_args[@]}" --prompt-tokens "$NAIVE_TOKENS" --repeat "$REPEAT" --threads "$THREADS"
# The same with uncompressed blobs: what the load costs without zstd.
bench_as naive-codec-none naive "${model_args[@]}" --prompt-tokens "$STORE_TOKENS" --repeat "$REPEAT" \
  --threads "$THREADS" --codec none
# shellcheck disable=SC2206  # flags are words
WORKLOADS_FLAGS=(${BENCH_WORKLOADS_FLAGS:-})
bench workloads "${model_args[@]}" --repeat "$REPEAT" --threads "$THREADS" "${WORKLOADS_FLAGS[@]}"
rm -f "$OUT/workloads-no-onednn.json"
if [ "${BENCH_NO_ONEDNN:-auto}" != 0 ] && grep -q -w avx512bw /proc/cpuinfo; then
  bench_as workloads-no-onednn workloads "${model_args[@]}" --repeat "$REPEAT" --threads "$THREADS" \
    --no-onednn "${WORKLOADS_FLAGS[@]}"
fi
if [ -n "${BENCH_SCALE_BLOCKS-1e3,1e4,1e5,1e6}" ]; then
  bench scale --blocks "${BENCH_SCALE_BLOCKS-1e3,1e4,1e5,1e6}"
fi
printf '\nload avg:    %s (at end)\n' "$(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/machine.txt"

render
