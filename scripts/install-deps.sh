#!/usr/bin/env bash
# Installs, with apt-get, only the Debian packages kvstash needs that are missing,
# and any extra packages named as arguments (scripts/bench.sh: gnuplot-nox, jq).
# Idempotent: a machine that has everything runs no apt command at all.
set -euo pipefail

packages=(
  cmake g++ ninja-build pkg-config
  libtorch-dev          # libtorch 1.13 (CPU) on Debian 12
  libopenblas0-openmp   # without it Debian's libtorch uses generic BLAS: f32 matmul ~30x slower
  librocksdb-dev libzstd-dev libxxhash-dev
  libboost-dev          # Boost.Asio (header-only)
  libgtest-dev
  nlohmann-json3-dev    # JSON output of the CLI and config.json parsing
  libpcre2-dev          # tokenizer pre-tokenizer regexes need Unicode classes (\p{L})
  libutf8proc-dev       # NFC normalization for tokenizers that declare it
  libcli11-dev          # the kvstash command line
  libhiredis-dev        # the Redis Cluster remote tier (store/remote/redis_*)
  redis-server          # tests and scripts/redis-cluster.sh start their own cluster (never the service)
  zstd                  # `zstd -b` baselines in benchmarks
  clang libclang-rt-dev # libFuzzer targets (fuzz/): scripts/test.sh's short run, scripts/fuzz.sh
  llvm-14               # llvm-symbolizer: sanitizer reports with file:line
  pybind11-dev python3-dev python3-torch python3-pytest  # the Python module (python/) and its tests
  python3-setuptools python3-pip                         # `pip install --no-build-isolation .`
  "$@"
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "install-deps: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
