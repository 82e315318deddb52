# MF end to end on generated ratings, 1 server + 2 workers: the metrics file follows its
# contract, the printed RMSE equals one recomputed here from the predictions file, and the
# model beats the global-mean predictor clearly.
source "$(dirname "$0")/../cluster_lib.sh" "$@"

"$EMBARK_BIN" gen --kind=ratings --out="$WORK/r" --rows=30000 --seed=7 >/dev/null || fail "gen failed"
"$LOCAL" --servers 1 --workers 2 -- train --model=mf --train="$WORK/r.train.tsv" --test="$WORK/r.test.tsv" \
  --epochs=4 --metrics_out="$WORK/m.jsonl" --predictions_out="$WORK/p.txt" --progress_every=0.05 >"$WORK/log" 2>&1 \
  || fail "train exited $?"
[ "$(wc -l < "$WORK/m.jsonl")" = 5 ] || fail "expected 4 epoch lines + 1 final line in metrics_out"
for key in '"epoch": 4' '"examples": ' '"seconds": ' '"test_rmse": ' '"test_mae": ' '"final": true'; do
  tail -1 "$WORK/m.jsonl" | grep -q "$key" || fail "final metrics line lacks $key"
done
head -1 "$WORK/m.jsonl" | grep -q '"epoch": 1' || fail "first line is not epoch 1"
grep -q "^progress: epoch" "$WORK/log" || fail "no progress line"
grep -q "^training finished" "$WORK/log" || fail "no summary"
[ "$(wc -l < "$WORK/p.txt")" = "$(wc -l < "$WORK/r.test.tsv")" ] || fail "one prediction per test line expected"
printed=$(tail -1 "$WORK/m.jsonl" | grep -oE '"test_rmse": [0-9.]+' | grep -oE '[0-9.]+$')
# Independent check: RMSE from the predictions, and the RMSE of predicting the training mean.
read -r mine baseline < <(awk -F'\t' 'NR==FNR { s += $3; n++; next }
  FILENAME == ARGV[2] { r[FNR] = $3; next }
  { e = $1 - r[FNR]; se += e * e; b = (s / n) - r[FNR]; sb += b * b; m++ }
  END { printf "%.6f %.6f\n", sqrt(se / m), sqrt(sb / m) }' "$WORK/r.train.tsv" "$WORK/r.test.tsv" "$WORK/p.txt")
awk -v a="$printed" -v b="$mine" 'BEGIN { exit !((a - b) < 1e-4 && (b - a) < 1e-4) }' \
  || fail "printed test_rmse $printed but the predictions give $mine"
awk -v a="$mine" -v b="$baseline" 'BEGIN { exit !(a < 0.9 * b) }' \
  || fail "test RMSE $mine is not clearly better than the global mean's $baseline"
assert_no_orphans
echo "PASS (rmse $mine, global mean $baseline)"
