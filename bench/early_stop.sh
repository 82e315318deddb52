#!/usr/bin/env bash
# Early stopping against a fixed number of epochs, in one invocation on the same machine:
# `embark train-local --compute_threads=2` with the model's defaults (its suggested epochs),
# then with a 5 % validation slice held out of the training lines (--valid_fraction=0.05) and
# --early_stop, and for FFM also a smaller l2 with a larger step (a setting that overfits within
# a few epochs, which only early stopping makes usable). For each: the epochs trained, the
# job's seconds, and the test metric of the job's result (the best epoch's predictions with
# early stopping, the last epoch's without), recomputed here from --predictions_out and the
# test file (RMSE, or logloss and AUC), not read from embark's metrics.
#
#   bench/early_stop.sh OUT [--runs=N]
# Workloads: MovieLens-100K u1 and Frappe (libffm files) when EMBARK_DATA names a directory
# holding ml-100k/ and frappe-dev/; 2M generated ratings (mf) and 1M generated clicks (ffm),
# made with `embark gen --seed=1`.
# Writes OUT/early_stop.md and prints it.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${EMBARK_BIN:-$root/build/bin/embark}"
out="${1:?usage: bench/early_stop.sh OUT [--runs=N]}"
shift
runs=1
for a in "$@"; do
  case "$a" in
    --runs=*) runs="${a#*=}" ;;
    *) echo "early_stop: unknown option $a" >&2; exit 1 ;;
  esac
done
[ -x "$bin" ] || { echo "early_stop: $bin not found; build first" >&2; exit 1; }
mkdir -p "$out"
md="$out/early_stop.md"
{
  echo "| workload | flags | epochs | seconds | test metric of the result |"
  echo "|---|---|---|---|---|"
} > "$md"

score() {  # KIND TEST PRED: the metric, recomputed
  python3 - "$@" <<'PY'
import math, re, sys
kind, test, pred = sys.argv[1:4]
p = [float(x) for x in open(pred).read().split()]
if kind == "ratings":
    y = [float(re.split(r"::|\t|,", l.strip())[2]) for l in open(test) if l.strip()]
    assert len(y) == len(p), (len(y), len(p))
    print("RMSE %.4f" % math.sqrt(sum((a - b) ** 2 for a, b in zip(y, p)) / len(y)))
else:
    y = [1.0 if float(l.split()[0]) > 0 else 0.0 for l in open(test) if l.strip()]
    assert len(y) == len(p), (len(y), len(p))
    eps = 1e-15
    ll = -sum(t * math.log(max(q, eps)) + (1 - t) * math.log(max(1 - q, eps)) for t, q in zip(y, p)) / len(y)
    order = sorted(range(len(p)), key=lambda i: p[i])
    pos = sum(y); neg = len(y) - pos; rank_sum = 0.0; i = 0
    while i < len(order):  # ties share their average rank
        j = i
        while j + 1 < len(order) and p[order[j + 1]] == p[order[i]]: j += 1
        r = (i + j) / 2 + 1
        for k in range(i, j + 1): rank_sum += r * y[order[k]]
        i = j + 1
    auc = (rank_sum - pos * (pos + 1) / 2) / (pos * neg)
    print("logloss %.4f, AUC %.4f" % (ll, auc))
PY
}

run() {  # NAME KIND TRAIN TEST FLAGS...
  local name="$1" kind="$2" train="$3" test="$4"; shift 4
  local r
  for r in $(seq 1 "$runs"); do
    "$bin" train-local --compute_threads=2 --train="$train" --test="$test" --metrics_out="$out/m.jsonl" \
      --predictions_out="$out/p.txt" "$@" >"$out/log" 2>&1 || { tail -20 "$out/log" >&2; echo "early_stop: $name failed" >&2; exit 1; }
    local epochs seconds
    epochs=$(tail -1 "$out/m.jsonl" | grep -oE '"epoch": [0-9]+' | grep -oE '[0-9]+$')
    seconds=$(tail -1 "$out/m.jsonl" | grep -oE '"seconds": [0-9.e+-]+' | sed 's/.*: //')
    local best
    best=$(tail -1 "$out/m.jsonl" | grep -oE '"best_epoch": [0-9.]+' | sed 's/.*: //; s/\.0$//' || true)
    printf '| %s | `%s` | %s%s | %.2f | %s |\n' "$name" "$*" "$epochs" "${best:+ (best $best)}" "$seconds" \
      "$(score "$kind" "$test" "$out/p.txt")" | tee -a "$md"
  done
}

es=(--valid_fraction=0.05 --epochs=100)
if [ -n "${EMBARK_DATA:-}" ] && [ -f "$EMBARK_DATA/ml-100k/u1.base" ]; then
  u1="$EMBARK_DATA/ml-100k"
  run "MovieLens-100K u1, mf" ratings "$u1/u1.base" "$u1/u1.test" --model=mf
  run "MovieLens-100K u1, mf" ratings "$u1/u1.base" "$u1/u1.test" --model=mf "${es[@]}" --early_stop=2
else
  echo "early_stop: EMBARK_DATA/ml-100k not found: skipping MovieLens-100K" >&2
fi
g="$out/ratings_2m"
[ -s "$g.test.tsv" ] || "$bin" gen --kind=ratings --rows=2000000 --out="$g" --seed=1 >/dev/null
run "2M generated ratings, mf" ratings "$g.train.tsv" "$g.test.tsv" --model=mf
run "2M generated ratings, mf" ratings "$g.train.tsv" "$g.test.tsv" --model=mf "${es[@]}" --early_stop=2
c="$out/clicks_1m"
[ -s "$c.test.libffm" ] || "$bin" gen --kind=clicks --rows=1000000 --out="$c" --seed=1 >/dev/null
run "1M generated clicks, ffm" clicks "$c.train.libffm" "$c.test.libffm" --model=ffm --format=libffm
run "1M generated clicks, ffm" clicks "$c.train.libffm" "$c.test.libffm" --model=ffm --format=libffm "${es[@]}" --early_stop=1
run "1M generated clicks, ffm" clicks "$c.train.libffm" "$c.test.libffm" --model=ffm --format=libffm --l2=0.002 --lr=0.1 "${es[@]}" --early_stop=1
if [ -n "${EMBARK_DATA:-}" ] && [ -f "$EMBARK_DATA/frappe-dev/train.libffm" ]; then
  f="$EMBARK_DATA/frappe-dev"
  run "Frappe, ffm" clicks "$f/train.libffm" "$f/test.libffm" --model=ffm --format=libffm
  run "Frappe, ffm" clicks "$f/train.libffm" "$f/test.libffm" --model=ffm --format=libffm "${es[@]}" --early_stop=2
  run "Frappe, ffm" clicks "$f/train.libffm" "$f/test.libffm" --model=ffm --format=libffm --l2=0.002 --lr=0.1 "${es[@]}" --early_stop=1
else
  echo "early_stop: EMBARK_DATA/frappe-dev not found: skipping Frappe" >&2
fi
rm -f "$out/p.txt" "$out/m.jsonl"
echo
cat "$md"
