#!/usr/bin/env bash
# The kvstash demo: one long prompt, run twice in two processes. The first run
# prefills and stores the prompt's KV; the second loads it from disk and starts
# generating almost at once. Installs what is missing and builds first.
#
# Environment: KVSTASH_DEMO_DIR (default out/demo), DEMO_PRESET (qwen2.5-0.5b),
# DEMO_PROMPT_BYTES (prompt size taken from the GPL-3 text, default 4000:
# about 2000 tokens).
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

echo "== run 1 (cold: nothing stored yet)"
"$KVSTASH" run --model "$MODEL" --store "$STORE" --prompt-file "$DEMO_DIR/prompt.txt" \
  --max-new-tokens 8 --json > "$DEMO_DIR/cold.json"
echo "== run 2 (a new process: the prompt's KV comes from the store)"
"$KVSTASH" run --model "$MODEL" --store "$STORE" --prompt-file "$DEMO_DIR/prompt.txt" \
  --max-new-tokens 8 --json > "$DEMO_DIR/warm.json"

prompt_tokens=$(field prompt_tokens < "$DEMO_DIR/cold.json")
cold=$(field ttft_ms < "$DEMO_DIR/cold.json")
warm=$(field ttft_ms < "$DEMO_DIR/warm.json")
reused=$(field reused_tokens < "$DEMO_DIR/warm.json")
computed=$(field computed_tokens < "$DEMO_DIR/warm.json")
same=no
if [ "$(grep -o '"tokens":\[[^]]*\]' "$DEMO_DIR/cold.json")" = \
     "$(grep -o '"tokens":\[[^]]*\]' "$DEMO_DIR/warm.json")" ]; then same=yes; fi

echo
awk -v n="$prompt_tokens" -v c="$cold" -v w="$warm" -v r="$reused" -v k="$computed" \
  -v same="$same" 'BEGIN {
  printf "prompt:     %d tokens (%s)\n", n, "GPL-3 text"
  printf "cold TTFT:  %8.1f ms  (prefill of every token)\n", c
  printf "warm TTFT:  %8.1f ms  (%d tokens loaded from the store, %d computed, new process)\n", w, r, k
  printf "speedup:    %8.1fx\n", c / w
  printf "same generated tokens: %s\n", same
}'
echo
echo "== what the store holds ($STORE)"
"$KVSTASH" ls --store "$STORE"
