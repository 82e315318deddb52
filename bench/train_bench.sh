#!/usr/bin/env bash
# Training throughput of MF on synthetic ratings: embark on 1+1 and 1+2 servers+workers and in
# one process (train-local, no network), each with the defaults (local updates) and with the
# per-batch reference path (--sync=exact), and a LIBMF-style single-process SGD loop as the
# baseline, all in this one invocation, EPOCHS epochs each (the first epoch reads the files,
# later ones train from memory). Rates are training examples / train_seconds.
# Writes OUT/train_bench.json and OUT/train_bench.md.
# Usage: bench/train_bench.sh [OUT_DIR] [RATINGS] [EPOCHS]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${EMBARK_BIN:-$root/build/bin/embark}"
out="${1:-$root/build/bench}"
rows="${2:-2000000}"
mkdir -p "$out"
data="$out/train_bench_data"
"$bin" gen --kind=ratings --rows="$rows" --out="$data" --seed=1 >/dev/null
epochs="${3:-3}"
base_line=$("$bin" mf-sgd-baseline --train="$data.train.tsv" --test="$data.test.tsv" --epochs=3 --dim=64)
base=$(echo "$base_line" | grep -oE '[0-9]+ ratings/s' | grep -oE '^[0-9]+')
rate() { tail -1 "$1" | awk '{ match($0, /"examples": [0-9]+/); e = substr($0, RSTART + 12, RLENGTH - 12);
                               match($0, /"train_seconds": [0-9.]+/); s = substr($0, RSTART + 17, RLENGTH - 17); printf "%.0f", e / s }'; }
echo "[" > "$out/train_bench.json"
{
  echo "| run | ratings/s | ratio to LIBMF-style SGD |"
  echo "|---|---|---|"
  echo "| LIBMF-style SGD, 1 process, 1 thread (baseline) | $base | 1.00 |"
} > "$out/train_bench.md"
record() {  # name rate
  local ratio
  ratio=$(awk -v a="$2" -v b="$base" 'BEGIN { printf "%.3f", a / b }')
  echo "| $1 | $2 | $ratio |" >> "$out/train_bench.md"
  echo "  {\"run\": \"$1\", \"ratings_per_sec\": $2, \"baseline_ratings_per_sec\": $base, \"ratio\": $ratio}," >> "$out/train_bench.json"
}
for mode in "defaults (local updates)|" "--sync=exact|--sync=exact"; do
  name="${mode%%|*}"; flags="${mode#*|}"
  # shellcheck disable=SC2086
  "$bin" train-local --model=mf --train="$data.train.tsv" --epochs=$epochs --metrics_out="$out/tb.jsonl" --progress_every=1000 $flags >/dev/null 2>&1
  record "embark train-local (1 process), $name" "$(rate "$out/tb.jsonl")"
done
for sw in "1 1" "1 2"; do
  set -- $sw
  for mode in "defaults (local updates)|" "--sync=exact|--sync=exact"; do
    name="${mode%%|*}"; flags="${mode#*|}"
    # shellcheck disable=SC2086
    "$root/launch/local.sh" --servers "$1" --workers "$2" -- train --model=mf --train="$data.train.tsv" \
      --epochs=$epochs --metrics_out="$out/tb.jsonl" --progress_every=1000 $flags >/dev/null 2>&1
    record "embark $1+$2, $name" "$(rate "$out/tb.jsonl")"
  done
done
sed -i '$ s/},$/}/' "$out/train_bench.json"
echo "]" >> "$out/train_bench.json"
cat "$out/train_bench.md"
