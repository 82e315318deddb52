#!/usr/bin/env bash
# Training throughput of FM and FFM on synthetic clicks (12 one-hot fields, libffm), all in this
# one invocation: the tight single-process trainer of the same model (`embark ctr-baseline`,
# the no-network baseline), `embark train-local` (the parameter-server code in one process), and
# a 1 server + 1 worker cluster with the settings that give it the most throughput (ASP, large
# batches). One epoch each, all at the same batch size; rows/s is training examples over the
# training time (file loading, test loading and evaluation excluded for every run), and every
# run reports the test logloss so a fast-but-wrong run shows. Beside wall-clock rows/s each run
# reports the CPU seconds of the whole command (every process and thread: parsing the train and
# test files, training, evaluation, start-up; bash's `times`), which is what to compare when
# other jobs share the machine: under contention a run with more threads simply gets a larger
# share of the cores, which wall-clock ratios reward (the baseline's figure includes loading
# its files into an index, which its own line reports separately). Writes OUT/ctr_bench.json and
# OUT/ctr_bench.md; the generated data stay in OUT and are reused by the next invocation.
# Usage: bench/ctr_bench.sh [OUT_DIR] [ROWS]
#   env: EMBARK_BIN (default build/bin/embark), CTR_BENCH_BATCH (4096),
#        CTR_BENCH_THREADS (compute threads of the cluster's worker, one run each: "1 2"),
#        CTR_BENCH_MODELS ("fm ffm"), CTR_BENCH_CONSISTENCY (asp; bsp has no stale pulls, so its
#        logloss is the baseline's, at some cost in speed)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export EMBARK_BIN="${EMBARK_BIN:-$root/build/bin/embark}"
bin="$EMBARK_BIN"
out="${1:-$root/build/bench}"
rows="${2:-3000000}"
batch="${CTR_BENCH_BATCH:-4096}"
threads="${CTR_BENCH_THREADS:-1 2}"
models="${CTR_BENCH_MODELS:-fm ffm}"
consistency="${CTR_BENCH_CONSISTENCY:-asp}"
mkdir -p "$out"
data="$out/ctr_bench_data_$rows"
if [ ! -s "$data.test.libffm" ]; then
  "$bin" gen --kind=clicks --rows="$rows" --out="$data" --seed=1 >/dev/null
fi
json_field() { tail -1 "$1" | grep -oE "\"$2\": [0-9.eE+-]+" | grep -oE '[0-9.eE+-]+$'; }
# Sets cpu_now to the CPU seconds (user + sys) of every finished child of this shell so far
# (`times` must run in this shell, not in a $(...) subshell).
measure_cpu() { times > "$out/.ctr_bench_times"; cpu_now=$(tail -1 "$out/.ctr_bench_times" | awk '{ s = 0
  for (i = 1; i <= 2; ++i) { split($i, p, /[ms]/); s += p[1] * 60 + p[2] } printf "%.2f", s }'); }
rate_of() { awk -v e="$(json_field "$1" examples)" -v s="$(json_field "$1" train_seconds)" 'BEGIN { printf "%.0f", e / s }'; }

echo "[" > "$out/ctr_bench.json"
{
  echo "| model | run | rows/s | ratio to baseline | CPU s, whole run | test logloss |"
  echo "|---|---|---|---|---|---|"
} > "$out/ctr_bench.md"
cpu_mark=0
# Sets cpu to the CPU seconds of the children finished since the last call.
cpu_since_mark() { measure_cpu; cpu=$(awk -v a="$cpu_now" -v b="$cpu_mark" 'BEGIN { printf "%.2f", a - b }'); cpu_mark=$cpu_now; }
record() {  # model run rate baseline-rate logloss cpu baseline-cpu
  local ratio
  ratio=$(awk -v a="$3" -v b="$4" 'BEGIN { printf "%.2f", a / b }')
  echo "| $1 | $2 | $3 | $ratio | $6 | $5 |" >> "$out/ctr_bench.md"
  echo "  {\"model\": \"$1\", \"run\": \"$2\", \"rows_per_sec\": $3, \"baseline_rows_per_sec\": $4, \"ratio\": $ratio, \"cpu_seconds\": $6, \"baseline_cpu_seconds\": $7, \"test_logloss\": $5}," >> "$out/ctr_bench.json"
}
for model in $models; do
  flags=(--model="$model" --format=libffm --train="$data.train.libffm" --test="$data.test.libffm" --epochs=1
         --batch_size="$batch")
  [ "$model" = ffm ] && flags+=(--num_fields=12)
  measure_cpu; cpu_mark=$cpu_now
  line=$("$bin" ctr-baseline "${flags[@]}")
  cpu_since_mark; base_cpu=$cpu
  echo "$line" >&2
  base=$(echo "$line" | grep -oE '[0-9]+ rows/s' | grep -oE '^[0-9]+')
  base_ll=$(echo "$line" | grep -oE 'test logloss [0-9.]+' | grep -oE '[0-9.]+$')
  record "$model" "single-process baseline (ctr-baseline)" "$base" "$base" "$base_ll" "$base_cpu" "$base_cpu"

  m="$out/ctr_bench_$model.jsonl"
  "$bin" train-local "${flags[@]}" --consistency="$consistency" --metrics_out="$m" --progress_every=1000 \
    >"$out/ctr_bench.log" 2>&1 || { cat "$out/ctr_bench.log" >&2; exit 1; }
  cpu_since_mark
  record "$model" "embark train-local (1 process, $consistency)" "$(rate_of "$m")" "$base" "$(json_field "$m" test_logloss)" \
    "$cpu" "$base_cpu"

  for t in $threads; do
    "$root/launch/local.sh" --servers 1 --workers 1 -- train "${flags[@]}" --consistency="$consistency" \
      --compute_threads="$t" --metrics_out="$m" --progress_every=1000 >"$out/ctr_bench.log" 2>&1 ||
      { cat "$out/ctr_bench.log" >&2; exit 1; }
    cpu_since_mark
    record "$model" "embark 1 server + 1 worker ($consistency, $t compute thread$([ "$t" = 1 ] || echo s))" "$(rate_of "$m")" \
      "$base" "$(json_field "$m" test_logloss)" "$cpu" "$base_cpu"
  done
done
rm -f "$out/.ctr_bench_times"
sed -i '$ s/},$/}/' "$out/ctr_bench.json"
echo "]" >> "$out/ctr_bench.json"
echo "batch $batch, $(wc -l < "$data.train.libffm") training rows, load average $(cut -d' ' -f1-3 /proc/loadavg)" >> "$out/ctr_bench.md"
cat "$out/ctr_bench.md"
