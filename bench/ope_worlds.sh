#!/usr/bin/env bash
# Coverage of the off-policy intervals over seeded worlds: for each seed a generated world
# (bench/delivery_world.sh: FM and LR bundles), a day of 20000 arrivals delivered by the FM's
# softmax policy with budgets and pacing (the log), then `embark ope` of the LR bundle's
# softmax policy on that log. Prints per world each estimator's estimate, error against the
# world's true value and whether its 95% interval holds the truth, then how often it did.
# Usage: bench/ope_worlds.sh [OUT_DIR] [WORLDS]      (default build/bench/ope, 20 worlds)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${EMBARK_BIN:-$root/build/bin/embark}"
out="${1:-$root/build/bench/ope}"
worlds="${2:-20}"
mkdir -p "$out"
summary="$out/summary.tsv"
printf "seed\ttruth\tips\tips_err\tips_in\tsnips\tsnips_err\tsnips_in\tdr\tdr_err\tdr_in\n" > "$summary"
for seed in $(seq 1 "$worlds"); do
  dir="$out/world-$seed"
  EMBARK_BIN="$bin" "$root/bench/delivery_world.sh" "$dir" "$seed" 2000 500 50000
  "$bin" simulate --bundle="$dir/fm" --seed="$seed" --users=2000 --items=500 --arrivals=20000 --num_campaigns=30 \
    --policies=model --out="$dir/day" --decision_log="$dir/day.decisions.jsonl" > "$dir/simulate.txt"
  "$bin" ope --log="$dir/day.decisions.jsonl" --bundle="$dir/lr" --campaigns="$dir/day.campaigns.jsonl" \
    --json_out="$dir/ope.json" > "$dir/ope.txt"
  jq -r --arg seed "$seed" '[$seed, .clicks.true_value,
      .clicks.ips.value, .clicks.ips.error, .clicks.ips.covers_truth,
      .clicks.snips.value, .clicks.snips.error, .clicks.snips.covers_truth,
      .clicks.dr.value, .clicks.dr.error, .clicks.dr.covers_truth] | @tsv' "$dir/ope.json" >> "$summary"
  rm -f "$dir/day.decisions.jsonl"
done
column -t "$summary"
awk -F'\t' 'NR > 1 { n++; i += ($5 == "true"); s += ($8 == "true"); d += ($11 == "true");
                      ai += ($4 < 0 ? -$4 : $4); as += ($7 < 0 ? -$7 : $7); ad += ($10 < 0 ? -$10 : $10) }
  END { printf "click rate of the new policy, %d worlds: truth inside the 95%% interval: IPS %d, SNIPS %d, DR %d; mean |error|: IPS %.5f, SNIPS %.5f, DR %.5f\n", n, i, s, d, ai / n, as / n, ad / n }' "$summary"
