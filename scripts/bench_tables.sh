#!/usr/bin/env bash
# Renders the tables of docs/benchmarks.md from the --json output in DIR
# (default docs/bench) and replaces each table between its markers in FILE
# (default docs/benchmarks.md):
#   <!-- bench:ttft -->  ... <!-- /bench:ttft -->    from DIR/ttft.json
#   <!-- bench:store --> ... <!-- /bench:store -->   from DIR/store.json
#   <!-- bench:naive --> ... <!-- /bench:naive -->   from DIR/naive.json
#   <!-- bench:load -->  ... <!-- /bench:load -->    from DIR/ttft.json (its limits)
#   <!-- bench:workloads... --> ...                  from DIR/workloads....json, each present
#   <!-- bench:scale --> ... <!-- /bench:scale -->   from DIR/scale.json, if present
# Called by scripts/bench.sh; needs jq.
set -euo pipefail
cd "$(dirname "$0")/.."
DIR="${1:-docs/bench}"
FILE="${2:-docs/benchmarks.md}"

# jq helpers: fixed($n) prints a non-negative number with $n decimals.
# shellcheck disable=SC2016  # jq code, not shell
DEFS='
def fixed($n): pow(10; $n) as $p | (. * $p | round) as $x
  | ($x / $p | floor | tostring) + (if $n > 0 then "." + (($x % $p) + $p | tostring | .[1:]) else "" end);
def ms: if . >= 1000 then "\(. / 1000 | fixed(2)) s" else "\(fixed(1)) ms" end;
def x: "\(fixed(2))x";
'


ttft_table() {
  jq -r "$DEFS"'
    def cell($p): (.[] | select(.path == $p)) as $r
      | "\($r.ttft_ms_median | ms) (\($r.speedup | round)x)";
    def opened($p): ([.[] | select(.path == $p)][0]) as $r
      | if $r != null and ($r.open_ms // 0) > 0 then ($r.open_ms | ms) else "" end;
    "| prompt | cold | device | disk | disk, page cache dropped | disk, KV only | disk, read-only store | remote (loopback peer) | open: read-write / read-only |",
    "|---|---|---|---|---|---|---|---|---|",
    (.results | group_by(.prompt_tokens)[] |
      "| \(.[0].prompt_tokens) | \((.[] | select(.path == "cold")).ttft_ms_median | ms) | \(cell("device")) | \(cell("disk")) | \(cell("disk-cold-cache")) | \(cell("disk-kv-only")) | \(if any(.[]; .path == "disk-read-only") then cell("disk-read-only") else "" end) | \(cell("remote")) | \(opened("disk")) / \(opened("disk-read-only")) |")
  ' "$DIR/ttft.json"
}

store_table() {
  jq -r "$DEFS"'
    def g: fixed(3);
    "| group | case | GB/s (min-max) | ratio | limit | limit GB/s | fraction |",
    "|---|---|---|---|---|---|---|",
    (.results[] | select(.limit != null) |
      "| \(.group) | \(.name) | \(.gbps | g) (\(.gbps_min | g)-\(.gbps_max | g)) | \(if .ratio then (.ratio | fixed(3)) else "" end) | \(.limit) | \(.limit_gbps | g) | \(.fraction | x) |")
  ' "$DIR/store.json"
}

naive_table() {
  jq -r "$DEFS"'
    def mib: "\(. / 1048576 | fixed(1)) MiB";
    "| prompt | method | file | save | load warm | (of which open) | load cold | torch / this, warm | torch / this, cold |",
    "|---|---|---|---|---|---|---|---|---|",
    (.[] |
      "| \(.prompt_tokens) | \(.method) | \(.file_bytes | mib) | \(.save_ms | ms) | \(.load_ms | ms) | \(if (.open_ms // 0) > 0 then (.open_ms | ms) else "" end) | \(.load_cold_ms | ms) | \(.naive_over_this_load | x) | \(.naive_over_this_load_cold | x) |")
  ' "$DIR/naive.json"
}

load_table() {
  jq -r "$DEFS"'
    .results as $r |
    "| prompt | raw KV | Load, page cache warm | raw file read, warm | Load / read | Load, dropped | raw file read, dropped | Load / read |",
    "|---|---|---|---|---|---|---|---|",
    (.limits | sort_by(.prompt_tokens)[] | . as $l
      | ($r[] | select(.path == "disk" and .prompt_tokens == $l.prompt_tokens) | .load_ms) as $w
      | ($r[] | select(.path == "disk-cold-cache" and .prompt_tokens == $l.prompt_tokens) | .load_ms) as $c
      | "| \($l.prompt_tokens) | \($l.raw_bytes / 1048576 | fixed(1)) MiB | \($w | ms) | \($l.file_read_ms | ms) | \($w / $l.file_read_ms | x) | \($c | ms) | \($l.file_read_cold_ms | ms) | \($c / $l.file_read_cold_ms | x) |")
  ' "$DIR/ttft.json"
}

workloads_table() {
  jq -r "$DEFS"'
    "| workload | step | prompt | reused | computed | cold TTFT | warm TTFT | speedup | load (share of warm) | store cost on a miss |",
    "|---|---|---|---|---|---|---|---|---|---|",
    (.results[] |
      "| \(.workload) | \(.step) | \(.prompt_tokens) | \(.reused_tokens) | \(.computed_tokens) | \(.cold_ttft_ms | ms) | \(.warm_ttft_ms | ms) | \(.speedup | x) | \(.load_ms | ms) (\(.load_share * 100 | fixed(1))%) | \(if .store_overhead then "\(if .store_overhead < 0 then "-" else "+" end)\(.store_overhead | fabs * 100 | fixed(1))%" else "" end) |")
  ' "$1"
}

scale_table() {
  jq -r "$DEFS"'
    def us: if . >= 1000 then "\(. / 1000 | fixed(2)) ms" else "\(fixed(1)) us" end;
    .disk[0] as $b |
    def vs($path): (getpath($path)) as $v | (($b | getpath($path))) as $w
      | "\($v | us) (\($v / $w | x))";
    "| blocks stored | match, stored prompt | the same again | match, new prompt | insert | load | open read-write | open read-only | fresh process RSS growth | `stat` | `ls --model` | verify | verify / file read | prune 10% (freed) |",
    "|---:|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    (.disk[] | . as $r |
      "| \(.blocks) | \($r | vs(["requests","match_stored","median_us"])) | \($r | vs(["requests","match_stored_again","median_us"])) | \($r | vs(["requests","match_new","median_us"])) | \($r | vs(["requests","insert","median_us"])) | \($r | vs(["requests","load","median_us"])) | \(.open_ms.read_write | fixed(1)) ms | \(.open_ms.read_only | fixed(1)) ms | \((.fresh_process.rss_end_kb - .fresh_process.rss_start_kb) / 1024 | fixed(1)) MiB | \(.stat.ms | ms) | \(.ls_model.ms | ms) | \(.verify.gb_per_s | fixed(2)) GB/s (\(.verify.blocks_per_s | round) blocks/s) | \(.verify.vs_file_read | x) | \(.prune_10pct.ms | ms) (\(.prune_10pct.freed_bytes / 1048576 | fixed(0)) MiB) |"),
    "",
    "Device tier alone (budget = the blocks held, so every insert evicts):",
    "",
    "| blocks held | match, stored prompt | match, new prompt | insert | load |",
    "|---:|---|---|---|---|",
    (.device[0] as $d | .device[] | . as $r |
      "| \(.blocks) | \(.match_stored.median_us | us) (\(.match_stored.median_us / $d.match_stored.median_us | x)) | \(.match_new.median_us | us) (\(.match_new.median_us / $d.match_new.median_us | x)) | \(.insert.median_us | us) (\(.insert.median_us / $d.insert.median_us | x)) | \(.load.median_us | us) (\(.load.median_us / $d.load.median_us | x)) |")
  ' "$DIR/scale.json"
}

# replace NAME TABLE: the lines between the NAME markers become TABLE.
replace() {
  local name="$1" table="$2" tmp
  grep -q "<!-- bench:$name -->" "$FILE" || { echo "bench_tables: no bench:$name marker in $FILE" >&2; return 1; }
  tmp="$(mktemp)"
  awk -v name="$name" -v table="$table" '
    $0 == "<!-- bench:" name " -->" { print; print table; skip = 1; next }
    $0 == "<!-- /bench:" name " -->" { skip = 0 }
    !skip { print }
  ' "$FILE" > "$tmp"
  mv "$tmp" "$FILE"
}

replace ttft "$(ttft_table)"
replace store "$(store_table)"
replace naive "$(naive_table)"
if jq -e '(.limits // []) | length > 0' "$DIR/ttft.json" >/dev/null; then replace load "$(load_table)"; fi
for w in "$DIR"/workloads*.json; do
  [ -e "$w" ] || continue
  replace "$(basename "$w" .json)" "$(workloads_table "$w")"
done
if [ -e "$DIR/scale.json" ]; then replace scale "$(scale_table)"; fi
echo "bench_tables: updated the tables in $FILE from $DIR"
