# Checkpoints: MF with a checkpoint after every epoch; a worker is killed (kill -9) in epoch 3,
# the job exits naming it; relaunched with --resume on a different number of servers, the job
# continues after the last complete checkpoint, the metrics file says where it resumed, and the
# final test RMSE matches an uninterrupted run within 1 %. Corrupted checkpoints are refused.
source "$(dirname "$0")/../cluster_lib.sh" "$@"

"$EMBARK_BIN" gen --kind=ratings --out="$WORK/r" --rows=30000 --seed=7 >/dev/null || fail "gen failed"
common=(train --model=mf --train="$WORK/r.train.tsv" --test="$WORK/r.test.tsv" --epochs=4)
rmse() { tail -1 "$1" | grep -oE '"test_rmse": [0-9.]+' | grep -oE '[0-9.]+$'; }

"$LOCAL" --servers 1 --workers 2 -- "${common[@]}" --metrics_out="$WORK/full.jsonl" >"$WORK/log" 2>&1 || fail "uninterrupted run exited $?"

"$LOCAL" --servers 1 --workers 2 -- "${common[@]}" --checkpoint_dir="$WORK/ck" --checkpoint_every=1epoch \
  --slow_worker=0:5 --heartbeat_timeout=3 --metrics_out="$WORK/cut.jsonl" >"$WORK/log" 2>&1 &
job=$!
pid=$(pid_of_rank 3 "$WORK/log") || { kill -9 $job; fail "worker never started"; }
for _ in $(seq 1 300); do grep -q "checkpoint after epoch 2 written" "$WORK/log" && break; sleep 0.1; done
grep -q "checkpoint after epoch 2 written" "$WORK/log" || { kill_ours; fail "no checkpoint after epoch 2"; }
kill -9 "$pid"
wait_for_exit $job 20; rc=$RC
[ "$rc" != timeout ] && [ "$rc" != 0 ] || { kill_ours; fail "the killed run did not fail promptly (rc $rc)"; }
grep -q "lost rank 3 (worker 1" "$WORK/log" || fail "the killed worker is not named"
[ -f "$WORK/ck/epoch-2/MANIFEST" ] || fail "no complete checkpoint after epoch 2"

cp "$WORK/cut.jsonl" "$WORK/resumed.jsonl"
"$LOCAL" --servers 2 --workers 2 -- "${common[@]}" --checkpoint_dir="$WORK/ck" --checkpoint_every=1epoch --resume \
  --metrics_out="$WORK/resumed.jsonl" >"$WORK/log" 2>&1 || fail "resumed run exited $?"
grep -q '"resumed_from_epoch": [23]' "$WORK/resumed.jsonl" || fail "the metrics file does not say where it resumed"
grep -q '"epoch": 1, ' "$WORK/resumed.jsonl" || fail "the resumed run lost the metrics of the first run"
a=$(rmse "$WORK/full.jsonl"); b=$(rmse "$WORK/resumed.jsonl")
awk -v a="$a" -v b="$b" 'BEGIN { d = (a - b) / a; if (d < 0) d = -d; exit !(d < 0.01) }' \
  || fail "resumed RMSE $b differs from the uninterrupted $a by 1 % or more"

# A corrupted shard is refused, naming the file.
latest=$(ls -d "$WORK"/ck/epoch-* | sort -t- -k2 -n | tail -1)
printf 'X' | dd of="$latest/server-0.shard" bs=1 seek=100 conv=notrunc 2>/dev/null
"$LOCAL" --servers 1 --workers 1 -- "${common[@]}" --checkpoint_dir="$WORK/ck" --checkpoint_every=1epoch --resume \
  >"$WORK/log" 2>&1 && fail "a corrupted checkpoint was accepted"
grep -q "server-0.shard: checksum mismatch" "$WORK/log" || fail "the corrupted shard is not named"
grep -q "earlier complete checkpoints: .*epoch-" "$WORK/log" || fail "the previous checkpoint is not offered"
assert_no_orphans
echo "PASS (uninterrupted $a, resumed $b)"
