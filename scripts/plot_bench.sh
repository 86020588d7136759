#!/usr/bin/env bash
# Turns the --json output of `kvstash bench ttft|store|naive` in DIR into PNG
# plots made with gnuplot (data files made with jq):
#   DIR/ttft.json  -> DIR/ttft.png   TTFT vs prompt tokens, one line per path
#   DIR/store.json -> DIR/store.png  GB/s of every row that has a limit, next to it
#   DIR/naive.json -> DIR/naive.png  torch::save vs kvstash: file size, load time
#   DIR/ttft.json  -> DIR/load.png   Load time vs prompt tokens against a plain file read
#   DIR/workloads*.json -> DIR/workloads*.png  cold vs warm TTFT per workload step
#   DIR/scale.json -> DIR/scale.png  request cost vs blocks stored (log-log)
# A missing or unreadable JSON file skips its plot (with a message) and the
# others are still made; the exit status is then 1. scripts/bench.sh writes the
# JSON and calls this; `scripts/bench.sh --plots-only` re-plots.
#
# Usage: scripts/plot_bench.sh DIR
# Needs: gnuplot (Debian: gnuplot-nox) and jq.
set -euo pipefail

if [ $# -ne 1 ] || [ "$1" = -h ] || [ "$1" = --help ]; then
  echo "usage: $0 DIR   (DIR holds ttft.json, store.json, naive.json)" >&2
  exit 2
fi
DIR="$1"
if [ ! -d "$DIR" ]; then
  echo "plot_bench: $DIR is not a directory" >&2
  exit 1
fi
for tool in gnuplot jq; do
  if ! command -v "$tool" >/dev/null; then
    echo "plot_bench: $tool not found (apt-get install gnuplot-nox jq, or run scripts/bench.sh --plots-only)" >&2
    exit 1
  fi
done

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

# pngcairo (antialiased) where this gnuplot has it, else libgd's png.
if gnuplot -e 'set terminal' 2>&1 | grep -qw pngcairo; then
  TERMINAL='set terminal pngcairo size 900,560 font ",11" noenhanced'
else
  TERMINAL='set terminal png size 900,560 font ",11" noenhanced'
fi

# Tics for a log axis: 1, 2, 5 of every decade (gnuplot ignores those outside the range).
LOGTICS="($(for e in -3 -2 -1 0 1 2 3 4 5 6; do for m in 1 2 5; do printf '%s,' "${m}e$e"; done; done | sed 's/,$//'))"

# A gnuplot single-quoted string literal (no escapes inside; ' is doubled).
gpstr() { printf "'%s'" "${1//\'/\'\'}"; }
# A gnuplot double-quoted string literal of lines joined by \n (title lines).
gplines() {
  local out="" line
  for line in "$@"; do
    line="${line//\\/\\\\}"
    line="${line//\"/\\\"}"
    out+="${out:+\\n}$line"
  done
  printf '"%s"' "$out"
}

# Checks that DIR/NAME.json exists and is JSON; says why not otherwise.
have_json() {
  local f="$DIR/$1.json"
  if [ ! -f "$f" ]; then
    echo "plot_bench: $f is missing: skipping $1.png" >&2
    return 1
  fi
  if ! jq empty "$f" 2>/dev/null; then
    echo "plot_bench: $f is not valid JSON: skipping $1.png" >&2
    return 1
  fi
}

# Runs the gnuplot script $TMP/NAME.gp, writing DIR/PNG.png (PNG: NAME unless given).
run_gnuplot() {
  local png="${2:-$1}"
  if ! gnuplot "$TMP/$1.gp"; then
    echo "plot_bench: gnuplot failed for $DIR/$png.png (script kept in $DIR/$1.gp.failed)" >&2
    cp "$TMP/$1.gp" "$DIR/$1.gp.failed" || true
    return 1
  fi
  echo "plot_bench: wrote $DIR/$png.png"
}

# ttft.json: {model, dtype, repeat, threads, results: [{path, prompt_tokens,
# ttft_ms_median, ttft_ms_min, ttft_ms_max, speedup, ...}]}
plot_ttft() {
  have_json ttft || return 1
  local json="$DIR/ttft.json" paths=() p i=0 title xtics plots=()
  mapfile -t paths < <(jq -r '[.results[].path] | reduce .[] as $p ([]; if index([$p]) then . else . + [$p] end) | .[]' "$json") || return 1
  if [ ${#paths[@]} -eq 0 ]; then
    echo "plot_bench: $json has no results: skipping ttft.png" >&2
    return 1
  fi
  # Fixed colors and points for the known paths, so every run looks the same.
  local color pt
  for p in "${paths[@]}"; do
    i=$((i + 1))
    case "$p" in
      cold) color='#c53a32' pt=5 ;;
      device) color='#519e3e' pt=7 ;;
      disk) color='#3b75af' pt=9 ;;
      disk-cold-cache) color='#8d69b8' pt=11 ;;
      remote) color='#d9822b' pt=13 ;;
      *) color='#555555' pt=$((i + 1)) ;;
    esac
    jq -r --arg p "$p" '.results | map(select(.path == $p)) | sort_by(.prompt_tokens)[]
      | [.prompt_tokens, .ttft_ms_median, .ttft_ms_min, .ttft_ms_max] | @tsv' "$json" > "$TMP/ttft_$i.dat" || return 1
    plots+=("'$TMP/ttft_$i.dat' using 1:2:3:4 with yerrorlines lw 2 lc rgb '$color' pt $pt ps 1.3 title $(gpstr "$p")")
  done
  title=$(jq -r '"kvstash bench ttft: \(.model | tostring | split("/") | last), \(.dtype), "
    + (if (.threads // 0) == 0 then "all cores" else "\(.threads) thread\(if .threads == 1 then "" else "s" end)" end)
    + ", median of \(.repeat // "?")"' "$json") || return 1
  xtics=$(jq -r '[.results[].prompt_tokens] | unique | map("\"\(.)\" \(.)") | join(", ")' "$json") || return 1
  # x: the measured lengths, a little padded; y: min..max of every point,
  # with room above for the key.
  local lo hi ylo yhi
  read -r lo hi ylo yhi < <(jq -r '[.results[].prompt_tokens] as $n
    | [.results[] | .ttft_ms_min // .ttft_ms_median] as $lo
    | [.results[] | .ttft_ms_max // .ttft_ms_median] as $hi
    | "\($n | min) \($n | max) \($lo | min) \($hi | max)"' "$json") || return 1
  local IFS=,
  cat > "$TMP/ttft.gp" <<EOF
$TERMINAL
set output $(gpstr "$DIR/ttft.png")
set title $(gplines "$title")
set xlabel 'prompt tokens'
set ylabel 'time to first token, ms (median; bars: min..max)'
set logscale x 2
set logscale y 10
set xrange [$lo / 1.25 : $hi * 1.25]
set yrange [$ylo / 1.6 : $yhi * 8]
set xtics ($xtics)
set ytics $LOGTICS
set format y '%g'
set mytics 10
set grid xtics ytics lc rgb '#dddddd'
set key top left box opaque
plot ${plots[*]}
EOF
  unset IFS
  run_gnuplot ttft
}

# store.json: {model, dtype, threads, prompt_tokens, block_tokens, blocks,
# raw_bytes, rounds, results: [{group, name, gbps, gbps_min, gbps_max, and on
# rows measured against a limit: limit, limit_gbps, fraction}]}. The limit's
# min..max come from the row named .limit when there is one. Horizontal bars,
# one pair per row (measured, its limit), so that long names stay readable.
plot_store() {
  have_json store || return 1
  local json="$DIR/store.json"
  jq -r '.results as $all | $all[] | select(.limit_gbps != null)
    | (.limit // "limit") as $ln
    | ([$all[] | select(.name == $ln)][0] // {gbps_min: .limit_gbps, gbps_max: .limit_gbps}) as $l
    | [.name, .gbps, (.gbps_min // .gbps), (.gbps_max // .gbps),
       $ln, .limit_gbps, ($l.gbps_min // .limit_gbps), ($l.gbps_max // .limit_gbps),
       (.fraction // (.gbps / .limit_gbps)), (.group // "")] | @tsv' "$json" > "$TMP/store.dat" || return 1
  local rows
  rows=$(wc -l < "$TMP/store.dat")
  if [ "$rows" -eq 0 ]; then
    echo "plot_bench: $json has no rows with limit_gbps: skipping store.png" >&2
    return 1
  fi
  local title1 title2
  title1=$(jq -r '"kvstash bench store: \(.model | tostring | split("/") | last), \(.dtype)"
    + (if .threads then ", \(.threads) thread\(if .threads == 1 then "" else "s" end)" else "" end)
    + (if .rounds then ", median of \(.rounds) rounds" else "" end)' "$json") || return 1
  title2=$(jq -r '"\(.prompt_tokens) tokens"
    + (if .blocks then " = \(.blocks) blocks of \(.block_tokens // "?")" else "" end)
    + (if .raw_bytes then ", \(.raw_bytes / 1048576 * 10 | round / 10) MiB raw" else "" end)
    + (if .blob_bytes then ", \(.blob_bytes / 1048576 * 10 | round / 10) MiB stored" else "" end)
    + "; labels: GB/s, measured / limit"' "$json") || return 1
  # Row i (0-based, top down) is at y = -i: the measured bar above, its limit
  # below. y tics name the rows; dashed lines separate the groups.
  local ytics seps
  ytics=$(awk -F'\t' '{ gsub(/\047/, "\047\047", $1); printf "%s\047%s\047 %d", (NR > 1 ? ", " : ""), $1, -(NR - 1) }' "$TMP/store.dat")
  seps=$(awk -F'\t' 'NR > 1 && $10 != prev { printf "set arrow from graph 0, first %g to graph 1, first %g nohead dt 2 lc rgb \"#999999\"\n", -(NR - 1) + 0.5, -(NR - 1) + 0.5 } { prev = $10 }' "$TMP/store.dat")
  # x: log when the values span more than a factor of 20; room on the right
  # for the labels. Bars start at the left edge (xmin).
  local xscale xmin
  read -r xscale xmin < <(jq -r '([.results[] | select(.limit_gbps != null) | .gbps_max // .gbps, .limit_gbps] | map(select(. > 0))) as $hi
    | ([.results[] | select(.limit_gbps != null) | .gbps_min // .gbps, .limit_gbps] | map(select(. > 0))) as $lo
    | if ($hi | length) > 0 and (($hi | max) / ($lo | min)) > 20
      then "log \(($lo | min) / 1.6) \($hi | max)" else "lin 0 \(($hi | max) // 1)" end' "$json") || return 1
  local xmax="${xmin#* }"
  xmin="${xmin%% *}"
  local xsetup="set xrange [0 : $xmax * 1.9]"
  if [ "$xscale" = log ]; then
    # Tics only under the data: the rest of the axis holds the labels.
    xsetup="set logscale x 10
set xtics ($(tr -d '()' <<< "$LOGTICS" | tr , '\n' | awk -v m="$xmax" '$1 + 0 <= m * 2.5' | paste -sd, -))
set format x '%g'
set xrange [$xmin : $xmax * 40]"
  fi
  # Taller with more rows; the title and the key above the plot, centered
  # on the whole image (the row names make the left margin wide).
  local height=$((rows * 46 + 170))
  [ "$height" -ge 560 ] || height=560
  cat > "$TMP/store.gp" <<EOF
${TERMINAL/size 900,560/size 900,$height}
set output $(gpstr "$DIR/store.png")
set datafile separator '\t'
set label $(gplines "$title1" "$title2") at screen 0.5, screen 1 - 14.0 / $height center front
set tmargin at screen 1 - 92.0 / $height
set key at screen 0.5, screen 1 - 58.0 / $height center top horizontal
set xlabel 'GB/s (median; bars: min..max)'
$xsetup
set yrange [-($rows - 1) - 0.6 : 0.6]
set ytics ($ytics) nomirror
set grid xtics lc rgb '#dddddd'
set style fill solid 0.85 border -1
$seps
plot '$TMP/store.dat' using 2:(-\$0 + 0.2):($xmin):2:(-\$0 + 0.03):(-\$0 + 0.37) with boxxyerror lc rgb '#3b75af' title 'measured', \
     '' using 6:(-\$0 - 0.2):($xmin):6:(-\$0 - 0.37):(-\$0 - 0.03) with boxxyerror lc rgb '#bbbbbb' title 'its limit, measured in the same run', \
     '' using 2:(-\$0 + 0.2):3:4 with xerrorbars lc rgb 'black' ps 0 notitle, \
     '' using 6:(-\$0 - 0.2):7:8 with xerrorbars lc rgb 'black' ps 0 notitle, \
     '' using 4:(-\$0 + 0.2):(sprintf('%.3g  (%.2fx)', \$2, \$9)) with labels left offset 0.6,0 notitle, \
     '' using 8:(-\$0 - 0.2):(sprintf('%.3g  %s', \$6, strcol(5))) with labels left offset 0.6,0 tc rgb '#555555' notitle
EOF
  run_gnuplot store
}

# naive.json: [{method, prompt_tokens, file_bytes, save_ms, load_ms,
# load_cold_ms, ...}] (or an object with that array as .results).
plot_naive() {
  have_json naive || return 1
  local json="$DIR/naive.json" methods=() m i k sizes=() loads=() labels=()
  local rows='(if type == "array" then . else .results end)'
  mapfile -t methods < <(jq -r "[${rows}[].method] | reduce .[] as \$m ([]; if index([\$m]) then . else . + [\$m] end) | .[]" "$json") || return 1
  if [ ${#methods[@]} -eq 0 ]; then
    echo "plot_bench: $json has no rows: skipping naive.png" >&2
    return 1
  fi
  # One line per prompt length: tokens, then per method size MiB (size.dat) or
  # load warm ms, load cold ms (load.dat); "-" where a method has no row.
  jq -r --argjson ms "$(printf '%s\n' "${methods[@]}" | jq -R . | jq -s .)" "$rows"' | group_by(.prompt_tokens)[]
    | . as $g | [$g[0].prompt_tokens]
      + [$ms[] as $m | ($g | map(select(.method == $m))[0]) | if . then .file_bytes / 1048576 else "-" end] | @tsv' \
    "$json" > "$TMP/size.dat" || return 1
  jq -r --argjson ms "$(printf '%s\n' "${methods[@]}" | jq -R . | jq -s .)" "$rows"' | group_by(.prompt_tokens)[]
    | . as $g | [$g[0].prompt_tokens]
      + [$ms[] as $m | ($g | map(select(.method == $m))[0]) | if . then .load_ms, .load_cold_ms else "-", "-" end] | @tsv' \
    "$json" > "$TMP/load.dat" || return 1
  # The array has no model; an object around it ({model, dtype, threads,
  # results}) would put them in the title.
  local title
  title="kvstash bench naive"
  title+=$(jq -r 'if type == "object" and .model then " (\(.model | tostring | split("/") | last)"
    + (if .dtype then ", \(.dtype)" else "" end)
    + (if .threads then ", \(.threads) thread\(if .threads == 1 then "" else "s" end)" else "" end) + ")" else "" end' "$json") || return 1
  title+=": torch::save/torch::load of a prompt's KV vs a kvstash store"
  # y: room above the bars for the value labels and the key.
  local size_max load_max
  read -r size_max load_max < <(jq -r "[${rows}[].file_bytes / 1048576] as \$s | [${rows}[] | .load_ms, .load_cold_ms] as \$l
    | \"\\(\$s | max) \\(\$l | max)\"" "$json") || return 1
  local colors=('#d9822b' '#3b75af' '#519e3e' '#c53a32' '#8d69b8' '#84584e')
  local n=${#methods[@]} w
  # Bar j (0-based) of k in a clustered histogram with gap 1 sits at x + (j - (k-1)/2) / (k+1).
  w="1.0 / $((n + 1))"
  for ((i = 0; i < n; i++)); do
    m="${methods[$i]}"
    sizes+=("'$TMP/size.dat' using $((i + 2))$([ "$i" -eq 0 ] && echo ':xticlabels(1)') lc rgb '${colors[$((i % 6))]}' title $(gpstr "$m")")
    labels+=("'$TMP/size.dat' using (\$0 + ($i - ($n - 1) / 2.0) * $w):$((i + 2)):(num(column($((i + 2))))) with labels offset 0,0.7 notitle")
  done
  w="1.0 / $((2 * n + 1))"
  local loadlabels=()
  for ((i = 0; i < n; i++)); do
    m="${methods[$i]}"
    for k in 0 1; do
      local col=$((2 + 2 * i + k)) j=$((2 * i + k)) fs
      if [ "$k" -eq 0 ]; then fs='fs solid 0.85'; else fs='fs pattern 4'; fi
      loads+=("'$TMP/load.dat' using $col$([ "$j" -eq 0 ] && echo ':xticlabels(1)') lc rgb '${colors[$((i % 6))]}' $fs title $(gpstr "$m, $([ "$k" -eq 0 ] && echo warm || echo cold)")")
      loadlabels+=("'$TMP/load.dat' using (\$0 + ($j - ($((2 * n)) - 1) / 2.0) * $w):$col:(num(column($col))) with labels offset 0,0.7 notitle")
    done
  done
  local IFS=,
  cat > "$TMP/naive.gp" <<EOF
$TERMINAL
set output $(gpstr "$DIR/naive.png")
set datafile separator '\t'
set datafile missing '-'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set xlabel 'prompt tokens'
set grid ytics lc rgb '#dddddd'
set key top left box opaque
num(v) = v >= 100 ? sprintf('%.0f', v) : sprintf('%.3g', v)
set multiplot title $(gplines "$title")
set origin 0, 0
set size 0.38, 0.95
set title 'file size'
set ylabel 'MiB'
set yrange [0 : $size_max * 1.35]
plot ${sizes[*]}, ${labels[*]}
set origin 0.38, 0
set size 0.62, 0.95
set title 'load (warm: in page cache; cold: dropped from it)'
set ylabel 'ms (median)'
set yrange [0 : $load_max * 1.5]
plot ${loads[*]}, ${loadlabels[*]}
unset multiplot
EOF
  unset IFS
  run_gnuplot naive
}

# ttft.json's disk paths again: the time the store's Load took (matching,
# reading, verifying and decoding into the KV cache) against the floor of the
# same prompt's raw KV read from one plain file (.limits), page cache warm
# and dropped.
plot_load() {
  have_json ttft || return 1
  local json="$DIR/ttft.json"
  if ! jq -e '(.limits // []) | length > 0' "$json" >/dev/null; then
    echo "plot_bench: $json has no limits (an older kvstash): skipping load.png" >&2
    return 1
  fi
  jq -r '.results as $r | .limits | sort_by(.prompt_tokens)[] | . as $l
    | [$l.prompt_tokens,
       ($r[] | select(.path == "disk" and .prompt_tokens == $l.prompt_tokens) | .load_ms),
       ($r[] | select(.path == "disk-cold-cache" and .prompt_tokens == $l.prompt_tokens) | .load_ms),
       $l.file_read_ms, $l.file_read_cold_ms] | @tsv' "$json" > "$TMP/load_time.dat" || return 1
  local title xtics lo hi
  title=$(jq -r '"kvstash Load vs reading the raw KV from a plain file: \(.model | tostring | split("/") | last), KV \(.dtype), "
    + (if (.threads // 0) == 0 then "all cores" else "\(.threads) thread\(if .threads == 1 then "" else "s" end)" end)' "$json") || return 1
  xtics=$(jq -r '[.limits[].prompt_tokens] | unique | map("\"\(.)\" \(.)") | join(", ")' "$json") || return 1
  read -r lo hi < <(jq -r '[.limits[].prompt_tokens] | "\(min) \(max)"' "$json") || return 1
  cat > "$TMP/load_time.gp" <<GP
$TERMINAL
set output $(gpstr "$DIR/load.png")
set datafile separator '\t'
set title $(gplines "$title" "Load on a freshly opened store (no device tier), median; file: one pread into a touched buffer")
set xlabel 'prompt tokens'
set ylabel 'ms'
set logscale x 2
set logscale y 10
set xrange [$lo / 1.25 : $hi * 1.25]
set xtics ($xtics)
set ytics $LOGTICS
set format y '%g'
set grid xtics ytics lc rgb '#dddddd'
set key bottom right box opaque
plot '$TMP/load_time.dat' using 1:2 with linespoints lw 2 lc rgb '#3b75af' pt 9 title 'kvstash Load, page cache warm', \
     '' using 1:3 with linespoints lw 2 lc rgb '#8d69b8' pt 11 title 'kvstash Load, page cache dropped', \
     '' using 1:4 with linespoints lw 2 dt 2 lc rgb '#3b75af' pt 8 title 'raw KV file read, warm (the floor)', \
     '' using 1:5 with linespoints lw 2 dt 2 lc rgb '#8d69b8' pt 10 title 'raw KV file read, dropped'
GP
  run_gnuplot load_time load
}

# workloads*.json ({model, compute_dtype, kv_dtype, threads, repeat, results:
# [{workload, step, cold_ttft_ms, warm_ttft_ms, load_ms, ...}]}): one pair of
# bars per workload step, cold and warm, on a log scale.
plot_workloads() {
  local name="$1" json="$DIR/$1.json"
  have_json "$name" || return 1
  jq -r '.results[] | [(.workload + " / " + .step), .cold_ttft_ms, .warm_ttft_ms] | @tsv' \
    "$json" > "$TMP/$name.dat" || return 1
  local title hi lo
  title=$(jq -r '"kvstash bench workloads: \(.model | tostring | split("/") | last), compute \(.compute_dtype), KV \(.kv_dtype), "
    + (if (.threads // 0) == 0 then "all cores" else "\(.threads) thread\(if .threads == 1 then "" else "s" end)" end)
    + ", median of \(.repeat)"' "$json") || return 1
  read -r lo hi < <(jq -r '[.results[] | .cold_ttft_ms, .warm_ttft_ms] | "\(min) \(max)"' "$json") || return 1
  cat > "$TMP/$name.gp" <<GP
${TERMINAL/size 900,560/size 1000,620}
set output $(gpstr "$DIR/$name.png")
set datafile separator '\t'
set title $(gplines "$title" "warm: a fresh engine on a disk store holding what earlier requests stored; labels: cold / warm")
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set logscale y 10
set yrange [$lo / 3 : $hi * 6]
set ytics $LOGTICS
set format y '%g'
set ylabel 'time to first token, ms (median)'
set xtics rotate by -35 left
set bmargin 9
set grid ytics lc rgb '#dddddd'
set key top left box opaque
plot '$TMP/$name.dat' using 2:xticlabels(1) lc rgb '#c53a32' title 'cold (no store)', \
     '' using 3 lc rgb '#3b75af' title 'warm (with the store)', \
     '' using (\$0 + 0.17):3:(sprintf('%.1fx', \$2 / \$3)) with labels offset 0,0.8 notitle
GP
  run_gnuplot "$name"
}

# scale.json: {machine, shape, disk: [{blocks, requests: {match_stored,
# match_new, insert, load: {median_us}}, open_ms: {read_write, read_only}}],
# device: [{blocks, match_stored, match_new, insert, load: {median_us}}]}
plot_scale() {
  have_json scale || return 1
  local json="$DIR/scale.json" title machine
  jq -r '.disk[] | [.blocks, .requests.match_stored.median_us, .requests.match_new.median_us,
      .requests.insert.median_us, .requests.load.median_us, .open_ms.read_write * 1000,
      .open_ms.read_only * 1000, .requests.match_stored_again.median_us] | @tsv' "$json" > "$TMP/scale_disk.dat" || return 1
  jq -r '.device[] | [.blocks, .match_stored.median_us, .match_new.median_us,
      .insert.median_us, .load.median_us] | @tsv' "$json" > "$TMP/scale_device.dat" || return 1
  if [ ! -s "$TMP/scale_disk.dat" ]; then
    echo "plot_bench: $json has no sizes: skipping scale.png" >&2
    return 1
  fi
  title=$(jq -r '"kvstash bench scale: \(.shape), \(.codec)"' "$json") || return 1
  machine=$(jq -r '.machine' "$json") || return 1
  cat > "$TMP/scale.gp" <<GP
$TERMINAL
set output $(gpstr "$DIR/scale.png")
set title $(gplines "$title" "$machine")
set xlabel 'blocks stored'
set ylabel 'median microseconds per request'
set logscale xy 10
set format x '%g'
set format y '%g'
set ytics $LOGTICS
set grid xtics ytics lc rgb '#dddddd'
set key outside right top
plot '$TMP/scale_disk.dat' using 1:2 with linespoints lw 2 pt 7 title 'disk: match stored', \\
     '' using 1:8 with linespoints lw 2 pt 6 title 'disk: match stored, again', \\
     '' using 1:3 with linespoints lw 2 pt 9 title 'disk: match new', \\
     '' using 1:4 with linespoints lw 2 pt 5 title 'disk: insert', \\
     '' using 1:5 with linespoints lw 2 pt 11 title 'disk: load', \\
     '' using 1:6 with linespoints lw 2 dt 2 pt 13 title 'open read-write', \\
     '' using 1:7 with linespoints lw 2 dt 2 pt 15 title 'open read-only', \\
     '$TMP/scale_device.dat' using 1:2 with linespoints lw 1 dt 3 pt 6 title 'device: match stored', \\
     '' using 1:3 with linespoints lw 1 dt 3 pt 8 title 'device: match new', \\
     '' using 1:4 with linespoints lw 1 dt 3 pt 4 title 'device: insert (evicts)', \\
     '' using 1:5 with linespoints lw 1 dt 3 pt 10 title 'device: load'
GP
  run_gnuplot scale
}

skipped=()
plot_ttft || skipped+=(ttft.png)
plot_store || skipped+=(store.png)
plot_naive || skipped+=(naive.png)
plot_load || skipped+=(load.png)
if [ -e "$DIR/scale.json" ]; then plot_scale || skipped+=(scale.png); fi
for w in "$DIR"/workloads*.json; do
  [ -e "$w" ] || continue
  w="$(basename "$w" .json)"
  plot_workloads "$w" || skipped+=("$w.png")
done
if [ ${#skipped[@]} -gt 0 ]; then
  echo "plot_bench: not made: ${skipped[*]}" >&2
  exit 1
fi
