#!/usr/bin/env bash
# Writes the inputs of finding 3 (docs/fuzzing.md): JSON nested DEPTH deep
# (default 100000; 30000 overflows the stack under ASan, a release build
# needs more) where kvstash quotes a value with nlohmann::json::dump() in an
# error message. Too large to keep in the repo; a few hundred KiB each.
# Usage: fuzz/findings/make_deep_json.sh OUTDIR [DEPTH]
set -euo pipefail
out="${1:?usage: $0 OUTDIR [DEPTH]}"
depth="${2:-100000}"
mkdir -p "$out"
open=$(head -c "$depth" /dev/zero | tr '\0' '[')
close=$(head -c "$depth" /dev/zero | tr '\0' ']')

# safetensors (fuzz_safetensors input: control byte 0, then the file):
# a tensor's "shape" is quoted by ParseTensorEntry (engine/safetensors.cc).
header="{\"t\":{\"dtype\":\"F32\",\"shape\":${open}${close},\"data_offsets\":[0,0]}}"
len=${#header}
{
  printf '\x00'
  for i in 0 1 2 3 4 5 6 7; do printf '%b' "\\x$(printf %02x $(((len >> (8 * i)) & 255)))"; done
  printf '%s' "$header"
} >"$out/safetensors-deep-shape"

# config.json: a non-integer field is quoted by PositiveInt (engine/model_config.cc).
printf '{"model_type":"llama","vocab_size":%s%s}' "$open" "$close" >"$out/model_config-deep-vocab-size"

# tokenizer.json: model.dropout is quoted by BpeModel::FromJson (engine/bpe_model.cc).
printf '%s' '{"model":{"type":"BPE","dropout":'"$open$close"',"vocab":{"a":0},"merges":[]},
 "pre_tokenizer":{"type":"ByteLevel","add_prefix_space":false},"decoder":{"type":"ByteLevel"}}' \
  >"$out/tokenizer-deep-dropout"
echo "wrote $out/{safetensors-deep-shape,model_config-deep-vocab-size,tokenizer-deep-dropout}"
