#!/usr/bin/env bash
# Runs the push/pull benchmark over ps-lite's matrix (peers.md): 1+1 and 2+2 servers+workers,
# 1 and 64 floats per key, 1e4 and 1e5 keys per request, and writes
#   OUT/kv_bench.json   one JSON array with every phase of every run (with its "shm" mode and "run")
#   OUT/kv_bench.md     a markdown table of medians over the runs, ps-lite's published figures
#                       (not measured here: no ps-lite build in this invocation) beside ours,
#                       and the machine's load average when each cell started
# Usage: bench/kv_bench.sh [OUT_DIR] [SECONDS_PER_PHASE] [RUNS] [SHM_MODES]
#   RUNS       runs per cell and mode (default 1); the table shows medians
#   SHM_MODES  comma-separated --shm values (default "on"); "off,on" alternates them run by run
#              in one invocation, so both see the same machine conditions
#   env KV_BENCH_FLAGS  extra `bench` flags for every run, e.g. --rotating_batches=8 for
#              ps-lite's original 8 reused batches (by default every operation sends a key set
#              the server has not seen recently, as training does)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-$root/build/bench}"
secs="${2:-2}"
runs="${3:-1}"
IFS=, read -r -a modes <<< "${4:-on}"
mkdir -p "$out"
# ps-lite's figures from ../shared/docs/peers.md (Mkeys/s): push pull push+pull fused
declare -A pslite=(
  [1+1/1/10000]="15.06 13.99 6.84 12.48" [1+1/1/100000]="12.98 13.20 6.39 9.44"
  [1+1/64/10000]="2.93 3.64 1.47 1.77"   [1+1/64/100000]="2.74 4.18 1.68 2.03"
  [2+2/1/10000]="18.85 16.27 9.40 13.65" [2+2/1/100000]="19.63 18.82 9.53 15.79"
  [2+2/64/10000]="4.56 4.02 2.04 2.28"   [2+2/64/100000]="4.60 3.66 2.03 2.61")
echo "[" > "$out/kv_bench.json"
{
  echo "| S+W | floats/key | keys/request | shm | push | pull | push+pull | fused | ps-lite push+pull (published) | ratio | load |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|"
} > "$out/kv_bench.md"
get() { grep "\"phase\": \"$1\"" "$2" | grep -oE '"keys_per_sec": [0-9]+' | grep -oE '[0-9]+$'; }
median() { sort -n | awk '{ v[NR] = $1 } END { printf "%.2f", (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) / 1e6 }'; }
first=1
for sw in 1+1 2+2; do
  s=${sw%+*}; w=${sw#*+}
  for L in 1 64; do
    for B in 10000 100000; do
      load=$(cut -d' ' -f1 /proc/loadavg)
      for r in $(seq 1 "$runs"); do
        for mode in "${modes[@]}"; do
          json="$out/kv_${sw}_${L}_${B}_${mode}_${r}.json"
          "$root/launch/local.sh" --servers "$s" --workers "$w" -- bench --val_len="$L" --batch_keys="$B" \
            --seconds="$secs" --shm="$mode" --json_out="$json" ${KV_BENCH_FLAGS:-} > "${json%.json}.log" 2>&1 ||
            { tail -20 "${json%.json}.log" >&2; exit 1; }
          [ $first = 1 ] || sed -i '$ s/}$/},/' "$out/kv_bench.json"
          first=0
          sed '1d;$d' "$json" | sed "s/}\(,\?\)\$/, \"shm\": \"$mode\", \"run\": $r}\1/" >> "$out/kv_bench.json"
        done
      done
      ref=(${pslite[$sw/$L/$B]})
      for mode in "${modes[@]}"; do
        m() { for r in $(seq 1 "$runs"); do get "$1" "$out/kv_${sw}_${L}_${B}_${mode}_${r}.json"; done | median; }
        pp=$(m push+pull)
        ratio=$(awk -v a="$pp" -v b="${ref[2]}" 'BEGIN { printf "%.2fx", a / b }')
        echo "| $sw | $L | $B | $mode | $(m push) | $(m pull) | $pp | $(m fused) | ${ref[2]} | $ratio | $load |" >> "$out/kv_bench.md"
      done
    done
  done
done
echo "]" >> "$out/kv_bench.json"
echo "bench flags: ${KV_BENCH_FLAGS:-(defaults: a fresh key set every operation)}; ps-lite: published figures, not run here" >> "$out/kv_bench.md"
cat "$out/kv_bench.md"
