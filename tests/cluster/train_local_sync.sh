# Local-update training (--sync=local) against the per-batch reference (--sync=exact):
#  * one process, files read every epoch (--input_cache_mb=0), --local_step=batch: the same
#    optimizer steps on the same rows in the same order, so the test RMSE equals the exact
#    path's (to rounding); MF's default example-at-a-time steps equal the exact path at batch
#    size 1, and differ from it at the default batch (the negative control: the flag acts);
#  * one process with the in-memory epochs (also with 2 lock-free compute threads in one
#    shuffled order, --blocks=off; blocks have their own test, train_blocks.sh), and 1 server
#    + 2 workers: within a small tolerance;
#  * the servers' byte counters: local moves several times fewer bytes per example;
#  * the staleness bound: with one worker slowed, under bsp no worker runs more than
#    --sync_every batches ahead of the slowest; under asp (the negative control) it does;
#  * a checkpoint taken in local mode resumes on another cluster size.
source "$(dirname "$0")/../cluster_lib.sh" "$@"

"$EMBARK_BIN" gen --kind=ratings --out="$WORK/r" --rows=20000 --seed=3 >/dev/null || fail "gen failed"
common=(--model=mf --train="$WORK/r.train.tsv" --test="$WORK/r.test.tsv" --epochs=3 --dim=16)
rmse() { tail -1 "$1" | grep -oE '"test_rmse": [0-9.]+' | grep -oE '[0-9.]+$'; }
close() { awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= t) }'; }

"$EMBARK_BIN" train-local "${common[@]}" --sync=exact --metrics_out="$WORK/exact.jsonl" >"$WORK/log" 2>&1 || fail "exact exited $?"
"$EMBARK_BIN" train-local "${common[@]}" --sync=local --local_step=batch --input_cache_mb=0 --metrics_out="$WORK/stream.jsonl" \
  >"$WORK/log" 2>&1 || fail "local (streaming) exited $?"
"$EMBARK_BIN" train-local "${common[@]}" --sync=local --input_cache_mb=0 --metrics_out="$WORK/stream_ex.jsonl" >"$WORK/log" 2>&1 \
  || fail "local (streaming, example steps) exited $?"
one=(--epochs=1 --batch_size=1 --sync_every=64)
"$EMBARK_BIN" train-local "${common[@]}" "${one[@]:0:2}" --sync=exact --metrics_out="$WORK/exact1.jsonl" >"$WORK/log" 2>&1 \
  || fail "exact at batch 1 exited $?"
"$EMBARK_BIN" train-local "${common[@]}" "${one[@]}" --sync=local --input_cache_mb=0 --metrics_out="$WORK/ex1.jsonl" >"$WORK/log" 2>&1 \
  || fail "example steps at batch 1 exited $?"
e1=$(rmse "$WORK/exact1.jsonl"); x1=$(rmse "$WORK/ex1.jsonl")
close "$e1" "$x1" 0.00002 || fail "batch size 1: example steps RMSE $x1 should equal exact $e1"
"$EMBARK_BIN" train-local "${common[@]}" --sync=local --metrics_out="$WORK/cached.jsonl" >"$WORK/log" 2>&1 \
  || fail "local (cached) exited $?"
grep -q "training examples in memory" "$WORK/log" || fail "the cached run did not keep its share in memory"
e=$(rmse "$WORK/exact.jsonl"); s=$(rmse "$WORK/stream.jsonl"); c=$(rmse "$WORK/cached.jsonl")
close "$e" "$s" 0.00002 || fail "one worker, same order: local RMSE $s should equal exact $e"
sx=$(rmse "$WORK/stream_ex.jsonl")
close "$e" "$sx" 0.00002 && fail "example steps at batch 64 gave exactly the batch steps' RMSE $sx: --local_step had no effect"
close "$e" "$sx" 0.01 || fail "one worker, example steps: RMSE $sx too far from exact $e"
close "$e" "$c" 0.01 || fail "one worker, in-memory epochs: local RMSE $c too far from exact $e"
"$EMBARK_BIN" train-local "${common[@]}" --sync=local --compute_threads=2 --blocks=off --v=1 --metrics_out="$WORK/hog.jsonl" >"$WORK/log" 2>&1 \
  || fail "local (2 threads) exited $?"
grep -q "threads lock-free" "$WORK/log" || fail "epochs from memory with 2 compute threads did not run lock-free"
h=$(rmse "$WORK/hog.jsonl")
close "$e" "$h" 0.01 || fail "one worker, 2 lock-free threads: RMSE $h too far from exact $e"

# Row-wise AdaGrad (one accumulator per row) through both paths: the servers' steps on pushed
# gradients and the worker's on its copies, exchanged as deltas of weights and accumulator.
ra=(--optimizer=rowadagrad --lr=0.01)
"$EMBARK_BIN" train-local "${common[@]}" "${ra[@]}" --sync=exact --metrics_out="$WORK/ra_e.jsonl" >"$WORK/log" 2>&1 \
  || fail "rowadagrad exact exited $?"
"$EMBARK_BIN" train-local "${common[@]}" "${ra[@]}" --sync=local --local_step=batch --input_cache_mb=0 \
  --metrics_out="$WORK/ra_l.jsonl" >"$WORK/log" 2>&1 || fail "rowadagrad local exited $?"
rae=$(rmse "$WORK/ra_e.jsonl"); ral=$(rmse "$WORK/ra_l.jsonl")
close "$rae" "$ral" 0.00002 || fail "rowadagrad: local RMSE $ral should equal exact $rae"
awk -v a="$rae" 'BEGIN { exit !(a > 0.5 && a < 1.2) }' || fail "rowadagrad trained to RMSE $rae"

# Past --replica_rows a worker forgets its rows (and its in-memory epochs) at the next epoch,
# saying so; streaming with the same steps, the model does not change.
"$EMBARK_BIN" train-local "${common[@]}" --sync=local --local_step=batch --replica_rows=100 --metrics_out="$WORK/small.jsonl" >"$WORK/log" 2>&1 \
  || fail "local with --replica_rows=100 exited $?"
grep -q "over --replica_rows=100: forgets them (they are read again as needed) and reads the files every epoch" "$WORK/log" \
  || fail "no message when the rows outgrow --replica_rows"
sm=$(rmse "$WORK/small.jsonl")
close "$e" "$sm" 0.01 || fail "--replica_rows=100: RMSE $sm too far from exact $e"
"$EMBARK_BIN" train-local "${common[@]}" --sync=local --local_step=batch --replica_rows=100 --input_cache_mb=0 \
  --metrics_out="$WORK/small0.jsonl" >"$WORK/log" 2>&1 || fail "local with --replica_rows=100 --input_cache_mb=0 exited $?"
grep -q "over --replica_rows=100: forgets them" "$WORK/log" || fail "no message when the rows outgrow --replica_rows (streaming)"
sm=$(rmse "$WORK/small0.jsonl")
close "$e" "$sm" 0.00002 || fail "--replica_rows=100 (files every epoch): RMSE $sm should equal exact $e"

# A share over --input_cache_mb: the first epoch trains the part it holds from memory, then
# reads the rest; every example is trained once per epoch (the examples counters), and the
# later epochs read the files.
"$EMBARK_BIN" gen --kind=ratings --out="$WORK/big" --rows=80000 --seed=4 >/dev/null || fail "gen (big) failed"
big_lines=$(wc -l <"$WORK/big.train.tsv")
"$EMBARK_BIN" train-local --model=mf --train="$WORK/big.train.tsv" --epochs=2 --dim=8 --input_cache_mb=1 \
  --metrics_out="$WORK/big.jsonl" >"$WORK/log" 2>&1 || fail "local over --input_cache_mb exited $?"
grep -q "exceed --input_cache_mb=1 after [0-9]* examples: trains those from memory, then reads the rest" "$WORK/log" \
  || fail "no message when the share outgrows --input_cache_mb"
for ep in 1 2; do
  got=$(grep -v '"final"' "$WORK/big.jsonl" | grep "^{\"epoch\": $ep," | grep -oE '"examples": [0-9]+' | grep -oE '[0-9]+$')
  [ "$got" = $((ep * big_lines)) ] || fail "after epoch $ep over --input_cache_mb: $got examples trained, expected $((ep * big_lines))"
done
grep -q "holds its .* training examples in memory" "$WORK/log" && fail "a share over --input_cache_mb was called held in memory"

bytes() { grep -oE '[0-9]+ bytes in, [0-9]+ bytes out' "$1" | awk '{ s += $1 + $4 } END { print s + 0 }'; }
"$LOCAL" --servers 1 --workers 2 -- train "${common[@]}" --sync=exact --metrics_out="$WORK/ce.jsonl" >"$WORK/log" 2>&1 \
  || fail "cluster exact exited $?"
be=$(bytes "$WORK/log")
"$LOCAL" --servers 1 --workers 2 -- train "${common[@]}" --sync=local --metrics_out="$WORK/cl.jsonl" >"$WORK/log" 2>&1 \
  || fail "cluster local exited $?"
bl=$(bytes "$WORK/log")
ce=$(rmse "$WORK/ce.jsonl"); cl=$(rmse "$WORK/cl.jsonl")
close "$ce" "$cl" 0.02 || fail "1 server + 2 workers: local RMSE $cl too far from exact $ce"
[ "$be" -gt 0 ] && [ "$bl" -gt 0 ] || fail "servers reported no byte counts ($be, $bl)"
awk -v e="$be" -v l="$bl" 'BEGIN { exit !(l * 4 < e) }' || fail "local moved $bl bytes, exact $be: expected 4x fewer"

spread() {
  "$LOCAL" --servers 1 --workers 3 -- train --model=mf --train="$WORK/r.train.tsv" --epochs=1 --dim=8 --batch_size=16 \
    --sync=local --sync_every=8 --blocks=off --slow_worker=1:10 "$@" --metrics_out="$WORK/s.jsonl" >"$WORK/log" 2>&1 || fail "train $* exited $?"
  tail -1 "$WORK/s.jsonl" | grep -oE '"max_clock_spread": [0-9]+' | grep -oE '[0-9]+$'
}
b=$(spread --consistency=bsp)
[ -n "$b" ] && [ "$b" -le 8 ] || fail "bsp with --sync_every=8: a worker ran $b batches ahead of the slowest"
a=$(spread --consistency=asp)
[ "$a" -gt 24 ] || fail "asp: spread $a; the slowed worker should fall far behind (the bound must be what holds it)"

# FM with --sync=local (CTR models exchange every 16 batches): the cluster stays close to one process.
"$EMBARK_BIN" gen --kind=clicks --out="$WORK/c" --rows=60000 --seed=4 >/dev/null || fail "gen clicks failed"
fm=(--model=fm --format=libsvm --train="$WORK/c.train.libsvm" --test="$WORK/c.test.libsvm" --epochs=1 --lr=0.05 --sync=local)
"$LOCAL" --servers 1 --workers 2 -- train "${fm[@]}" --metrics_out="$WORK/fm.jsonl" >"$WORK/log" 2>&1 || fail "fm cluster exited $?"
"$EMBARK_BIN" train-local "${fm[@]}" --metrics_out="$WORK/fm1.jsonl" >"$WORK/log" 2>&1 || fail "fm train-local exited $?"
ll() { tail -1 "$1" | grep -oE '"test_logloss": [0-9.]+' | grep -oE '[0-9.]+$'; }
f2=$(ll "$WORK/fm.jsonl"); f1=$(ll "$WORK/fm1.jsonl")
close "$f2" "$f1" 0.015 || fail "fm: local cluster logloss $f2 too far from one process $f1"

# A checkpoint of a local-mode run resumes on 2 servers + 3 workers.
"$LOCAL" --servers 1 --workers 2 -- train "${common[@]}" --sync=local --checkpoint_dir="$WORK/ck" --checkpoint_every=1epoch \
  --epochs=2 --metrics_out="$WORK/ck.jsonl" >"$WORK/log" 2>&1 || fail "checkpointed run exited $?"
[ -f "$WORK/ck/epoch-2/MANIFEST" ] || fail "no checkpoint after epoch 2"
cp "$WORK/ck.jsonl" "$WORK/resumed.jsonl"
"$LOCAL" --servers 2 --workers 3 -- train "${common[@]}" --sync=local --checkpoint_dir="$WORK/ck" --checkpoint_every=1epoch \
  --resume --metrics_out="$WORK/resumed.jsonl" >"$WORK/log" 2>&1 || fail "resumed run exited $?"
grep -q '"resumed_from_epoch": 2' "$WORK/resumed.jsonl" || fail "the metrics do not say it resumed after epoch 2"
r=$(rmse "$WORK/resumed.jsonl")
close "$r" "$cl" 0.03 || fail "resumed RMSE $r too far from an uninterrupted local run's $cl"
assert_no_orphans
echo "PASS (2 threads $h; fm cluster $f2 vs one process $f1; exact $e, local streaming $s, cached $c; cluster exact $ce local $cl; bytes $be vs $bl; spread bsp $b asp $a; resumed $r)"
