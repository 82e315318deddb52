# The supervisor restarts a job that lost a worker from its latest checkpoint and the job then
# finishes; bad input is not retried; a job that cannot checkpoint is refused.
source "$(dirname "$0")/../cluster_lib.sh" "$@"
SUP="$ROOT/launch/supervise.sh"

"$EMBARK_BIN" gen --kind=ratings --out="$WORK/r" --rows=30000 --seed=7 >/dev/null || fail "gen failed"
job=(train --model=mf --train="$WORK/r.train.tsv" --test="$WORK/r.test.tsv" --epochs=4 --heartbeat_timeout=3
     --checkpoint_dir="$WORK/ck" --checkpoint_every=1epoch --slow_worker=0:5 --metrics_out="$WORK/m.jsonl")
"$SUP" --max_restarts 2 --log "$WORK/sup.log" -- "$LOCAL" --servers 1 --workers 2 -- "${job[@]}" >"$WORK/out" 2>&1 &
sup=$!
pid=$(pid_of_rank 3 "$WORK/sup.log") || { kill_ours; fail "worker never started"; }
for _ in $(seq 1 300); do grep -q "checkpoint after epoch 2 written" "$WORK/sup.log" && break; sleep 0.1; done
kill -9 "$pid"
wait_for_exit $sup 120; rc=$RC
[ "$rc" = 0 ] || { kill_ours; cp "$WORK/sup.log" "$WORK/log"; fail "supervised job ended with $rc"; }
grep -q "supervise: restart 1/2 after exit code .*lost rank 3 (worker 1" "$WORK/sup.log" || { cp "$WORK/sup.log" "$WORK/log"; fail "the restart and its cause are not logged"; }
grep -q '"resumed_from_epoch"' "$WORK/m.jsonl" || fail "the restarted job did not resume"
tail -1 "$WORK/m.jsonl" | grep -q '"final": true' || fail "the restarted job did not finish"

"$SUP" -- "$LOCAL" --servers 1 --workers 1 -- train --model=mf --train="$WORK/missing.tsv" \
  --checkpoint_dir="$WORK/ck2" --checkpoint_every=1epoch >"$WORK/log" 2>&1
[ $? = 1 ] || fail "bad input should end the supervisor with exit code 1"
grep -q "not restarting" "$WORK/log" || fail "no message about not retrying bad input"
"$SUP" -- "$LOCAL" --servers 1 --workers 1 -- train --model=mf --train="$WORK/r.train.tsv" >"$WORK/log" 2>&1 \
  && fail "a job without checkpoints was supervised"
assert_no_orphans
echo PASS
