# Conflict-free block training of matrix factorisation (--blocks, the default for mf with
# --sync=local):
#  * one process: epochs from memory train in a grid of blocks (2 threads: 4 x 4), within a
#    small tolerance of the exact per-batch path; --blocks=off keeps one shuffled order;
#  * 1 server + 2 workers (the stratified schedule, DSGD): each worker reads the whole input and
#    keeps its users' examples, the kept counts add up to the input, and every example trains
#    once per epoch (the examples counters);
#  * instrumented (--block_log): no row is changed by two workers in the same sub-epoch, while
#    over a whole epoch both workers do change the same items (the negative control: the log
#    would show sharing if there were any);
#  * the servers' byte counters: blocks move several times fewer bytes than one shuffled order
#    exchanging every 32 batches and than the exact path, the same at any batch size, at a test
#    RMSE close to one process;
#  * 3 workers (a 6 x 6 grid), and a checkpoint of a 2-worker block run resumed on 2 servers + 3
#    workers.
source "$(dirname "$0")/../cluster_lib.sh" "$@"

"$EMBARK_BIN" gen --kind=ratings --out="$WORK/r" --rows=30000 --seed=5 >/dev/null || fail "gen failed"
lines=$(wc -l <"$WORK/r.train.tsv")
common=(--model=mf --train="$WORK/r.train.tsv" --test="$WORK/r.test.tsv" --epochs=3 --dim=16)
rmse() { tail -1 "$1" | grep -oE '"test_rmse": [0-9.]+' | grep -oE '[0-9.]+$'; }
close() { awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= t) }'; }
bytes() { grep -oE '[0-9]+ bytes in, [0-9]+ bytes out' "$1" | awk '{ s += $1 + $4 } END { print s + 0 }'; }
examples_after() { grep -v '"final"' "$1" | grep "^{\"epoch\": $2," | grep -oE '"examples": [0-9]+' | grep -oE '[0-9]+$'; }

"$EMBARK_BIN" train-local "${common[@]}" --sync=exact --metrics_out="$WORK/exact.jsonl" >"$WORK/log" 2>&1 || fail "exact exited $?"
e=$(rmse "$WORK/exact.jsonl")

"$EMBARK_BIN" train-local "${common[@]}" --compute_threads=2 --v=1 --metrics_out="$WORK/b1.jsonl" >"$WORK/log" 2>&1 \
  || fail "one process in blocks exited $?"
grep -q "in 4 x 4 blocks for the next epochs" "$WORK/log" || fail "2 compute threads did not train in a 4 x 4 grid"
grep -q "from memory, in 16 blocks" "$WORK/log" || fail "the epochs from memory did not say they train in blocks"
b1=$(rmse "$WORK/b1.jsonl")
close "$e" "$b1" 0.01 || fail "one process in blocks: RMSE $b1 too far from exact $e"
"$EMBARK_BIN" train-local "${common[@]}" --compute_threads=2 --blocks=off --v=1 --metrics_out="$WORK/off.jsonl" >"$WORK/log" 2>&1 \
  || fail "--blocks=off exited $?"
grep -qE "in [0-9]+ blocks|x [0-9]+ blocks" "$WORK/log" && fail "--blocks=off still trained in blocks"
grep -q "threads lock-free" "$WORK/log" || fail "--blocks=off did not train in one shuffled order on lock-free threads"
"$EMBARK_BIN" train-local "${common[@]}" --blocks=7 --metrics_out="$WORK/b7.jsonl" >"$WORK/log" 2>&1 || fail "--blocks=7 exited $?"
grep -q "in 7 x 7 blocks" "$WORK/log" || fail "--blocks=7 did not train in a 7 x 7 grid"
"$EMBARK_BIN" train-local "${common[@]}" --blocks=4 --local_step=batch >"$WORK/log" 2>&1 && fail "--blocks=4 with --local_step=batch was accepted"
grep -q "blocks=4 applies to models that train in blocks (mf) with --local_step=example" "$WORK/log" \
  || fail "no clear error for --blocks=4 with --local_step=batch"
"$EMBARK_BIN" train-local "${common[@]}" --blocks=zero >"$WORK/log" 2>&1 && fail "--blocks=zero was accepted"
grep -q "blocks must be auto, off or a grid side" "$WORK/log" || fail "no clear error for --blocks=zero"

# Two workers, instrumented.
"$LOCAL" --servers 1 --workers 2 -- train "${common[@]}" --block_log="$WORK/rows" --metrics_out="$WORK/b2.jsonl" >"$WORK/log" 2>&1 \
  || fail "1 server + 2 workers in blocks exited $?"
bb=$(bytes "$WORK/log")
for w in 0 1; do
  grep -q "worker $w read all $lines training examples and keeps the" "$WORK/log" || fail "worker $w did not read the whole input"
  grep -q "worker $w holds its .* training examples in memory (.*) in 4 x 4 blocks" "$WORK/log" || fail "worker $w did not train in blocks"
done
kept=$(grep -oE "and keeps the [0-9]+ of its users" "$WORK/log" | grep -oE '[0-9]+' | awk '{ s += $1 } END { print s }')
[ "$kept" = "$lines" ] || fail "the workers kept $kept examples of $lines"
for ep in 1 2 3; do
  got=$(examples_after "$WORK/b2.jsonl" $ep)
  [ "$got" = $((ep * lines)) ] || fail "after epoch $ep: $got examples trained, expected $((ep * lines))"
done
[ -s "$WORK/rows.0" ] && [ -s "$WORK/rows.1" ] || fail "--block_log wrote nothing"
shared=$(cat "$WORK/rows.0" "$WORK/rows.1" | awk '{ k = $2 " " $3 " " $4 " " $5; if (k in w && w[k] != $1) c++; w[k] = $1 } END { print c + 0 }')
[ "$shared" = 0 ] || fail "$shared rows were changed by both workers in one sub-epoch"
across=$(cat "$WORK/rows.0" "$WORK/rows.1" | awk '$4 == "item" { k = $2 " " $5; if (k in w && w[k] != $1) c++; w[k] = $1 } END { print c + 0 }')
[ "$across" -gt 100 ] || fail "only $across items changed by both workers within an epoch: the log cannot show sharing"
users=$(cat "$WORK/rows.0" "$WORK/rows.1" | awk '$4 == "user" { k = $5; if (k in w && w[k] != $1) c++; w[k] = $1 } END { print c + 0 }')
[ "$users" = 0 ] || fail "$users users were changed by both workers: the repartition gives each user one worker"
b2=$(rmse "$WORK/b2.jsonl")
close "$b1" "$b2" 0.01 || fail "2 workers in blocks: RMSE $b2 too far from one process $b1"

# Blocks exchange W times per epoch, whatever the batch size and however long the share; one
# shuffled order exchanges every --sync_every batches (32 here: 6 times per epoch per worker);
# the exact path pushes and pulls every batch.
"$LOCAL" --servers 1 --workers 2 -- train "${common[@]}" --blocks=off --sync_every=32 --metrics_out="$WORK/o2.jsonl" >"$WORK/log" 2>&1 \
  || fail "1 server + 2 workers, --blocks=off exited $?"
bo=$(bytes "$WORK/log")
awk -v b="$bb" -v o="$bo" 'BEGIN { exit !(b > 0 && b * 3 < o) }' || fail "blocks moved $bb bytes, one shuffled order $bo: expected 3x fewer"
"$LOCAL" --servers 1 --workers 2 -- train "${common[@]}" --sync=exact --metrics_out="$WORK/e2.jsonl" >"$WORK/log" 2>&1 \
  || fail "1 server + 2 workers, --sync=exact exited $?"
be=$(bytes "$WORK/log")
awk -v b="$bb" -v e="$be" 'BEGIN { exit !(b * 5 < e) }' || fail "blocks moved $bb bytes, the exact path $be: expected 5x fewer"
"$LOCAL" --servers 1 --workers 2 -- train "${common[@]}" --batch_size=16 --metrics_out="$WORK/b16.jsonl" >"$WORK/log" 2>&1 \
  || fail "1 server + 2 workers in blocks at batch 16 exited $?"
b16=$(bytes "$WORK/log")
awk -v b="$bb" -v c="$b16" 'BEGIN { d = b - c; if (d < 0) d = -d; exit !(d * 20 < b) }' \
  || fail "blocks moved $bb bytes at batch 64 and $b16 at batch 16: the exchanges should not depend on the batch size"

# Three workers, then a resume of a 2-worker checkpoint on 3 workers.
"$LOCAL" --servers 1 --workers 3 -- train "${common[@]}" --metrics_out="$WORK/b3.jsonl" >"$WORK/log" 2>&1 \
  || fail "3 workers in blocks exited $?"
grep -q "in 6 x 6 blocks" "$WORK/log" || fail "3 workers did not train in a 6 x 6 grid"
[ "$(examples_after "$WORK/b3.jsonl" 3)" = $((3 * lines)) ] || fail "3 workers: not every example trained once per epoch"
b3=$(rmse "$WORK/b3.jsonl")
close "$b1" "$b3" 0.01 || fail "3 workers in blocks: RMSE $b3 too far from one process $b1"
"$LOCAL" --servers 1 --workers 2 -- train "${common[@]}" --epochs=2 --checkpoint_dir="$WORK/ck" --checkpoint_every=1epoch \
  --metrics_out="$WORK/ck.jsonl" >"$WORK/log" 2>&1 || fail "checkpointed block run exited $?"
[ -f "$WORK/ck/epoch-2/MANIFEST" ] || fail "no checkpoint after epoch 2"
cp "$WORK/ck.jsonl" "$WORK/res.jsonl"
"$LOCAL" --servers 2 --workers 3 -- train "${common[@]}" --checkpoint_dir="$WORK/ck" --checkpoint_every=1epoch --resume \
  --metrics_out="$WORK/res.jsonl" >"$WORK/log" 2>&1 || fail "resume on 2 servers + 3 workers exited $?"
grep -q '"resumed_from_epoch": 2' "$WORK/res.jsonl" || fail "the metrics do not say it resumed after epoch 2"
grep -q "in 6 x 6 blocks" "$WORK/log" || fail "the resumed run on 3 workers did not train in blocks"
r=$(rmse "$WORK/res.jsonl")
close "$r" "$b2" 0.01 || fail "resumed RMSE $r too far from an uninterrupted 2-worker run's $b2"
assert_no_orphans
echo "PASS (exact $e; one process in blocks $b1; 2 workers $b2, 3 workers $b3, resumed $r; bytes blocks $bb (batch 16: $b16), shuffled $bo, exact $be; items shared across sub-epochs $across)"
