# Early stopping on a held-out slice, 1 server + 2 workers: MF with a large step overfits a
# small rating set within a few epochs; with --valid_fraction and --early_stop=2 the job ends
# two epochs after its best validation RMSE, says so in its log and metrics, writes the test
# predictions of the best epoch, checkpoints the best epoch and the last (a --resume then trains
# nothing). The held-out lines are recomputed here from the documented hash (an independent
# oracle): their count is the validation set's, and training saw exactly the rest. Without a
# validation set, --early_stop is refused; so are contradictory flags.
source "$(dirname "$0")/../cluster_lib.sh" "$@"

"$EMBARK_BIN" gen --kind=ratings --out="$WORK/r" --rows=30000 --seed=7 >/dev/null || fail "gen failed"
common=(train --model=mf --train="$WORK/r.train.tsv" --test="$WORK/r.test.tsv" --lr=0.2 --l2=0 --epochs=40
        --valid_fraction=0.1 --early_stop=2 --seed=3)
"$LOCAL" --servers 1 --workers 2 -- "${common[@]}" --metrics_out="$WORK/m.jsonl" --predictions_out="$WORK/p.txt" \
  --checkpoint_dir="$WORK/ck" --checkpoint_every=25epochs --keep_checkpoints=1 --full_every=1 --publish_dir="$WORK/pub" >"$WORK/log" 2>&1 || fail "train exited $?"
cp "$WORK/log" "$WORK/first.log"
stopped=$(grep -oE '^early stopping after epoch [0-9]+' "$WORK/log" | grep -oE '[0-9]+$') || fail "no early stop in the log"
[ "$stopped" -lt 40 ] || fail "stopped at $stopped"
final=$(tail -1 "$WORK/m.jsonl")
num() { grep -oE "\"$1\": [0-9.e+-]+" | head -1 | sed 's/.*: //' | awk '{ print $1 + 0 }'; }
[ "$(echo "$final" | num early_stopped)" = "$stopped" ] || fail "final metrics line: early_stopped is not $stopped: $final"
[ "$(echo "$final" | num epoch)" = "$stopped" ] || fail "final metrics line is not of epoch $stopped: $final"
best=$(echo "$final" | num best_epoch)
[ "$best" = $((stopped - 2)) ] || fail "best_epoch $best is not 2 epochs before the stop at $stopped"
[ "$(wc -l < "$WORK/m.jsonl")" = $((stopped + 1)) ] || fail "expected $stopped epoch lines + 1 final line"
# The best epoch's valid_rmse is the best; the two after it are not below it.
python3 - "$WORK/m.jsonl" "$best" <<'PY' || fail "the validation curve does not support the stop"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if '"valid_rmse"' in l and '"final"' not in l]
best = int(sys.argv[2])
v = {l["epoch"]: l["valid_rmse"] for l in lines}
assert abs(lines[-1]["best_valid_rmse"] - v[best]) < 1e-12, (lines[-1], v[best])
assert all(v[e] > v[best] for e in v if e != best), v
assert v[1] > v[best]
PY
# The held-out slice, recomputed: HashBytes(line, seed) of core/hash.h, top 53 bits < 0.1.
read -r held rest < <(python3 - "$WORK/r.train.tsv" 3 0.1 <<'PY'
import sys
M = (1 << 64) - 1
def mix(x):
    x = (x + 0x9e3779b97f4a7c15) & M
    x = ((x ^ (x >> 30)) * 0xbf58476d1ce4e5b9) & M
    x = ((x ^ (x >> 27)) * 0x94d049bb133111eb) & M
    return x ^ (x >> 31)
seed, frac = int(sys.argv[2]), float(sys.argv[3])
held = rest = 0
for line in open(sys.argv[1], 'rb'):
    line = line.rstrip(b'\n')
    if not line: continue
    h = 0xcbf29ce484222325 ^ seed
    for c in line:
        h = ((h ^ c) * 0x100000001b3) & M
    if (mix(h) >> 11) * 2.0 ** -53 < frac: held += 1
    else: rest += 1
print(held, rest)
PY
)
[ "$(echo "$final" | num valid_examples)" = "$held" ] || fail "valid_examples is not the $held held-out lines: $final"
[ "$(head -1 "$WORK/m.jsonl" | num examples)" = "$rest" ] || fail "epoch 1 did not train on exactly the $rest other lines: $(head -1 "$WORK/m.jsonl")"
# The predictions are the best epoch's, whose test metrics the final line repeats as best_test_*.
[ "$(wc -l < "$WORK/p.txt")" = "$(wc -l < "$WORK/r.test.tsv")" ] || fail "one prediction per test line expected"
mine=$(awk -F'\t' 'NR==FNR { r[FNR] = $3; next } { e = $1 - r[FNR]; se += e * e; m++ } END { printf "%.6f", sqrt(se / m) }' \
  "$WORK/r.test.tsv" "$WORK/p.txt")
printed=$(echo "$final" | num best_test_rmse)
at_best=$(grep "\"epoch\": $best," "$WORK/m.jsonl" | head -1 | num test_rmse)
[ "$printed" = "$at_best" ] || fail "best_test_rmse $printed is not epoch $best's test_rmse $at_best"
[ "$printed" != "$(echo "$final" | num test_rmse)" ] || fail "the best and the last epoch have the same test RMSE: the check below would not tell them apart"
awk -v a="$printed" -v b="$mine" 'BEGIN { exit !((a - b) < 1e-4 && (b - a) < 1e-4) }' \
  || fail "best_test_rmse $printed but the predictions give $mine"
# Serving gets the best epoch: the newest version published is its checkpoint, and the stop's
# checkpoint is not published.
grep "publisher.cc.*published " "$WORK/first.log" | tail -1 | grep -q "from $WORK/ck/epoch-$best$" \
  || fail "the newest published version is not the best epoch's: $(grep "publisher.cc.*published " "$WORK/first.log" | tail -1)"
grep -q "not publishing $WORK/ck/epoch-$stopped: with --early_stop only a new best epoch is published" "$WORK/first.log" \
  || fail "the stop's checkpoint was published"
# The stop and the best epoch are checkpointed although 25 epochs were asked for, and the best
# survives --keep_checkpoints=1 (all full: no delta chain keeps a base); its MANIFEST holds the best validation RMSE. A resume trains
# nothing.
[ -f "$WORK/ck/epoch-$stopped/MANIFEST" ] || fail "no checkpoint of the stopped epoch: $(ls "$WORK/ck")"
[ -f "$WORK/ck/epoch-$best/MANIFEST" ] || fail "the best epoch's checkpoint is missing: $(ls "$WORK/ck")"
[ "$(ls -d "$WORK"/ck/epoch-* | wc -l)" = 2 ] || fail "expected the stopped and the best checkpoints only: $(ls "$WORK/ck")"
grep -q "^the best epoch's model (epoch $best): checkpoint .*/ck/epoch-$best$" "$WORK/log" || fail "the log does not name the best checkpoint"
want=$(echo "$final" | grep -oE '"best_valid_rmse": [0-9.e+-]+' | sed 's/.*: //')
got=$(grep -E '^metric valid_rmse ' "$WORK/ck/epoch-$best/MANIFEST" | awk '{ print $3 }')
awk -v a="$want" -v b="$got" 'BEGIN { exit !((a - b) < 1e-9 && (b - a) < 1e-9) }' \
  || fail "the best checkpoint's valid_rmse $got is not the best $want"
"$LOCAL" --servers 1 --workers 1 -- "${common[@]}" --checkpoint_dir="$WORK/ck" --checkpoint_every=25epochs --keep_checkpoints=1 --resume \
  >"$WORK/log" 2>&1 || fail "the resume exited $?"
grep -q "done: train loss" "$WORK/log" && fail "the resume of a stopped job trained again"
grep -q "^training finished: $stopped epochs (stopped early)" "$WORK/log" || fail "the resume does not say the job stopped at $stopped"
grep -q "^the best epoch's model (epoch $best)" "$WORK/log" || fail "the resume lost the best checkpoint"

# Negative control: the same job without --early_stop trains all 40 epochs (so the stop above
# came from the validation curve, not from something else ending the job).
"$LOCAL" --servers 1 --workers 1 -- "${common[@]}" --early_stop=0 --epochs=12 --metrics_out="$WORK/n.jsonl" >"$WORK/log" 2>&1 \
  || fail "train without early stopping exited $?"
[ "$(tail -1 "$WORK/n.jsonl" | num epoch)" = 12 ] || fail "without --early_stop the job did not train its 12 epochs"
grep -q '"valid_rmse"' "$WORK/n.jsonl" || fail "--valid_fraction without --early_stop reports no valid_rmse"

# --valid=FILES: validating on the test file itself gives the test metrics every epoch, and
# training reads every line (nothing held out).
"$LOCAL" --servers 1 --workers 2 -- train --model=mf --train="$WORK/r.train.tsv" --test="$WORK/r.test.tsv" --epochs=3 \
  --valid="$WORK/r.test.tsv" --metrics_out="$WORK/v.jsonl" >"$WORK/log" 2>&1 || fail "train --valid exited $?"
python3 - "$WORK/v.jsonl" "$(grep -c . "$WORK/r.train.tsv")" <<'PY' || fail "--valid on the test file does not give the test metrics"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if '"final"' not in l]
assert len(lines) == 3 and lines[0]["examples"] == int(sys.argv[2]), lines[0]
for l in lines:
    assert l["valid_examples"] == l["test_examples"] and abs(l["valid_rmse"] - l["test_rmse"]) < 1e-9, l
PY

# Refusals (exit 1, the usage error, before any rank starts training).
refused() {  # MESSAGE_PART ARGS...
  local want="$1"; shift
  "$EMBARK_BIN" train-local "$@" >"$WORK/log" 2>&1; local rc=$?
  [ "$rc" = 1 ] || fail "exit $rc, not 1, for: $*"
  grep -q -- "$want" "$WORK/log" || fail "no '$want' for: $*"
}
base=(--model=mf --train="$WORK/r.train.tsv")
refused "needs a validation set" "${base[@]}" --early_stop=2
refused "not both" "${base[@]}" --valid="$WORK/r.test.tsv" --valid_fraction=0.1
refused "valid_fraction must be in" "${base[@]}" --valid_fraction=1
head -n 30 "$WORK/r.train.tsv" > "$WORK/small.tsv"
refused "the validation set is empty" --model=mf --train="$WORK/small.tsv" --valid_fraction=0.001 --early_stop=1
refused "not to the ranking models" --model=imf --train="$WORK/r.train.tsv" --valid_fraction=0.1
assert_no_orphans
echo "PASS (stopped after epoch $stopped, best $best; $held held out)"
