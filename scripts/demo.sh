#!/usr/bin/env bash
# The kvstash demo: one long prompt, run twice in two processes. The first run
# prefills and stores the prompt's KV; the second loads it from disk and starts
# generating almost at once. Installs what is missing and builds first.
#
# Environment: KVSTASH_DEMO_DIR (default out/demo), DEMO_PRESET (qwen2.5-0.5b),
# DEMO_PROMPT_BYTES (prompt size taken from the GPL-3 text, default 4000:
# about 2000 tokens), DEMO_RUN_FLAGS (more `kvstash run` flags, e.g.
# "--compute-dtype f32", or "--no-onednn" to see a CPU without AVX-512).
#
# Both runs choose how to compute the same way (--compute-dtype auto): bf16
# where this CPU accelerates bf16 matmul, f32 where it does not (AVX2-only
# CPUs); the KV stays bf16 either way.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/build.sh kvstash
KVSTASH="${KVSTASH_BUILD_DIR:-build}/tools/kvstash"

DEMO_DIR="${KVSTASH_DEMO_DIR:-$PWD/out/demo}"
PRESET="${DEMO_PRESET:-qwen2.5-0.5b}"
MODEL="$DEMO_DIR/$PRESET-bf16"
STORE="$DEMO_DIR/store"
mkdir -p "$DEMO_DIR"

if [ ! -f "$MODEL/config.json" ]; then
  echo "== making a $PRESET-shaped model with random weights (once)"
  "$KVSTASH" mkmodel --out "$MODEL" --preset "$PRESET" --dtype bf16
fi

# A long real text that every Debian system has (package base-files).
SOURCE=/usr/share/common-licenses/GPL-3
head -c "${DEMO_PROMPT_BYTES:-4000}" "$SOURCE" > "$DEMO_DIR/prompt.txt"
rm -rf "$STORE"

field() { grep -o "\"$1\":[^,}]*" | head -1 | cut -d: -f2; }

# shellcheck disable=SC2206  # flags are words
RUN_FLAGS=(${DEMO_RUN_FLAGS:-})
echo "== run 1 (cold: nothing stored yet)"
"$KVSTASH" run --model "$MODEL" --store "$STORE" --prompt-file "$DEMO_DIR/prompt.txt" \
  --max-new-tokens 8 --json "${RUN_FLAGS[@]}" > "$DEMO_DIR/cold.json"
echo "== run 2 (a new process: the prompt's KV comes from the store)"
"$KVSTASH" run --model "$MODEL" --store "$STORE" --prompt-file "$DEMO_DIR/prompt.txt" \
  --max-new-tokens 8 --json "${RUN_FLAGS[@]}" > "$DEMO_DIR/warm.json"

prompt_tokens=$(field prompt_tokens < "$DEMO_DIR/cold.json")
cold=$(field ttft_ms < "$DEMO_DIR/cold.json")
warm=$(field ttft_ms < "$DEMO_DIR/warm.json")
reused=$(field reused_tokens < "$DEMO_DIR/warm.json")
computed=$(field computed_tokens < "$DEMO_DIR/warm.json")
compute=$(field compute_dtype < "$DEMO_DIR/warm.json" | tr -d '"')
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
avx512=no
if grep -q ' avx512bw' /proc/cpuinfo; then avx512=yes; fi
same=no
if [ "$(grep -o '"tokens":\[[^]]*\]' "$DEMO_DIR/cold.json")" = \
     "$(grep -o '"tokens":\[[^]]*\]' "$DEMO_DIR/warm.json")" ]; then same=yes; fi

echo
awk -v n="$prompt_tokens" -v c="$cold" -v w="$warm" -v r="$reused" -v k="$computed" \
  -v same="$same" -v compute="$compute" -v cpu="$cpu" -v avx512="$avx512" 'BEGIN {
  printf "machine:    %s (AVX-512: %s), computing in %s, KV in bf16\n", cpu, avx512, compute
  printf "prompt:     %d tokens (%s)\n", n, "GPL-3 text"
  printf "cold TTFT:  %8.1f ms  (prefill of every token)\n", c
  printf "warm TTFT:  %8.1f ms  (%d tokens loaded from the store, %d computed, new process)\n", w, r, k
  printf "speedup:    %8.1fx\n", c / w
  printf "same generated tokens: %s\n", same
}'
echo
echo "== what the store holds ($STORE)"
"$KVSTASH" ls --store "$STORE"
