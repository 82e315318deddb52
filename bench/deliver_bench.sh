#!/usr/bin/env bash
# The delivery figures of the README, on one generated world (seed 3: 2000 users, 500 items,
# an FM trained on 100k rows of its clicks):
#   1. a day of 20000 arrivals against 50 campaigns, budgets binding (--budget_fraction=0.5):
#      spend vs budget per campaign under pacing, per policy;
#   2. the same day with budgets three times larger, where choices show in revenue: the lift
#      of model-ranked delivery over popularity and random, with 95% intervals;
#   3. deliver latency with 200 campaigns all eligible (budgets that never bind, no pacing):
#      every request scores all 200 campaigns (p50/p99 of Deliverer::Decide, in process);
#   4. off-policy estimates of the LR bundle's softmax policy on day 1's log, with the truth;
#   5. plots of day 1 (bench/plot_delivery.sh) when gnuplot is installed.
# Usage: bench/deliver_bench.sh [OUT_DIR]      (default build/bench/deliver)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${EMBARK_BIN:-$root/build/bin/embark}"
out="${1:-$root/build/bench/deliver}"
world=(--seed=3 --users=2000 --items=500 --arrivals=20000)
EMBARK_BIN="$bin" "$root/bench/delivery_world.sh" "$out" 3
echo "== 1. budgets binding (budget_fraction 0.5), 50 campaigns"
"$bin" simulate --bundle="$out/fm" "${world[@]}" --num_campaigns=50 --out="$out/day" --decision_log="$out/day.decisions.jsonl"
echo "== 2. budgets three times larger"
"$bin" simulate --bundle="$out/fm" "${world[@]}" --num_campaigns=50 --budget_fraction=3 --out="$out/rich"
echo "== 3. latency, 200 campaigns, all eligible"
"$bin" simulate --bundle="$out/fm" "${world[@]}" --num_campaigns=200 --budget_fraction=1000 --frequency_cap=0 \
  --pacing=false --policies=model --out="$out/latency" | grep latency
echo "== 4. off-policy estimate of the LR bundle's policy on day 1's log"
"$bin" ope --log="$out/day.decisions.jsonl" --bundle="$out/lr" --campaigns="$out/day.campaigns.jsonl" --json_out="$out/ope.json"
if command -v gnuplot >/dev/null; then
  echo "== 5. plots"
  "$root/bench/plot_delivery.sh" "$out/day"
fi
