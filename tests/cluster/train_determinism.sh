# BSP, one worker, a fixed seed: two runs produce bit-identical metrics, and so does the
# single-process reference (train-local on one thread; by default it trains lock-free on every
# core): the network changes nothing. A different seed does.
source "$(dirname "$0")/../cluster_lib.sh" "$@"

"$EMBARK_BIN" gen --kind=ratings --out="$WORK/r" --rows=20000 --seed=3 >/dev/null || fail "gen failed"
run() {
  "$LOCAL" --servers 1 --workers 1 -- train --model=mf --train="$WORK/r.train.tsv" --test="$WORK/r.test.tsv" \
    --epochs=2 --consistency=bsp --seed="$1" --metrics_out="$WORK/$2.jsonl" >"$WORK/log" 2>&1 || fail "train exited $?"
  sed -E 's/"(train_|load_)?seconds": [0-9.e+-]+//g' "$WORK/$2.jsonl" > "$WORK/$2.cmp"
}
run 11 a
run 11 b
run 12 c
cmp -s "$WORK/a.cmp" "$WORK/b.cmp" || { diff "$WORK/a.cmp" "$WORK/b.cmp" >&2; fail "same seed, different metrics"; }
"$EMBARK_BIN" train-local --model=mf --train="$WORK/r.train.tsv" --test="$WORK/r.test.tsv" \
  --epochs=2 --consistency=bsp --seed=11 --compute_threads=1 --metrics_out="$WORK/l.jsonl" >"$WORK/log" 2>&1 || fail "train-local exited $?"
sed -E 's/"(train_|load_)?seconds": [0-9.e+-]+//g' "$WORK/l.jsonl" > "$WORK/l.cmp"
cmp -s "$WORK/a.cmp" "$WORK/l.cmp" || { diff "$WORK/a.cmp" "$WORK/l.cmp" >&2; fail "cluster and single-process runs differ"; }
# Two compute threads train lock-free (Hogwild) on epochs from memory: close, not identical.
"$EMBARK_BIN" train-local --model=mf --train="$WORK/r.train.tsv" --test="$WORK/r.test.tsv" \
  --epochs=2 --seed=11 --compute_threads=2 --metrics_out="$WORK/t2.jsonl" >"$WORK/log" 2>&1 || fail "compute_threads=2 exited $?"
one=$(tail -1 "$WORK/l.jsonl" | grep -oE '"test_rmse": [0-9.]+' | grep -oE '[0-9.]+$')
two=$(tail -1 "$WORK/t2.jsonl" | grep -oE '"test_rmse": [0-9.]+' | grep -oE '[0-9.]+$')
awk -v a="$one" -v b="$two" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d < 0.002) }' \
  || fail "2 compute threads give RMSE $two, 1 thread $one"
cmp -s "$WORK/a.cmp" "$WORK/c.cmp" && fail "different seeds gave identical metrics: the seed is not used"
assert_no_orphans
echo PASS
