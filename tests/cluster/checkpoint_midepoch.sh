# Mid-epoch checkpoints: MF with a checkpoint every 40 steps (deltas between full ones); a
# worker is killed (kill -9) after a checkpoint inside epoch 2; the job exits naming it. The
# relaunch with --resume on 2 servers and 3 workers continues inside the cut epoch (the
# remaining input re-split over the new workers): the metrics file says where it resumed, the
# examples trained over both runs are exactly epochs x training lines (nothing lost or
# repeated), and the final test RMSE matches an uninterrupted run within 1 %. (Broken
# checkpoints: checkpoint_refused.sh.)
source "$(dirname "$0")/../cluster_lib.sh" "$@"

"$EMBARK_BIN" gen --kind=ratings --out="$WORK/r" --rows=30000 --seed=7 >/dev/null || fail "gen failed"
lines=$(grep -c . "$WORK/r.train.tsv")
common=(train --model=mf --train="$WORK/r.train.tsv" --test="$WORK/r.test.tsv" --epochs=3)
ck=(--checkpoint_dir="$WORK/ck" --checkpoint_every=40steps --full_every=3 --keep_checkpoints=2)
rmse() { tail -1 "$1" | grep -oE '"test_rmse": [0-9.]+' | grep -oE '[0-9.]+$'; }

"$LOCAL" --servers 1 --workers 2 -- "${common[@]}" --metrics_out="$WORK/full.jsonl" >"$WORK/log" 2>&1 || fail "uninterrupted run exited $?"

"$LOCAL" --servers 1 --workers 2 -- "${common[@]}" "${ck[@]}" --slow_worker=0:10 --heartbeat_timeout=3 \
  --metrics_out="$WORK/cut.jsonl" >"$WORK/log" 2>&1 &
job=$!
pid=$(pid_of_rank 3 "$WORK/log") || { kill -9 $job; fail "worker never started"; }
for _ in $(seq 1 300); do grep -q "checkpoint in epoch 2 at step" "$WORK/log" && break; sleep 0.1; done
grep -q "checkpoint in epoch 2 at step" "$WORK/log" || { kill_ours; fail "no checkpoint inside epoch 2"; }
kill -9 "$pid"
wait_for_exit $job 20; rc=$RC
[ "$rc" != timeout ] && [ "$rc" != 0 ] || { kill_ours; fail "the killed run did not fail promptly (rc $rc)"; }
grep -q "lost rank 3 (worker 1" "$WORK/log" || fail "the killed worker is not named"
grep -q "(delta of epoch-" "$WORK/log" || fail "no delta checkpoint was written"
cp "$WORK/log" "$WORK/cut.log"
latest=$(ls -d "$WORK"/ck/epoch-*/ | xargs -n1 basename | while read -r d; do [ -f "$WORK/ck/$d/MANIFEST" ] && echo "$d"; done \
  | awk -F- '{ e=$2; s=($3=="step") ? $4 : 1e18; k=(s==1e18) ? 1 : 0; printf "%012d %d %020.0f %s\n", e, k, (k ? 0 : s), $0 }' | sort | tail -1 | awk '{print $4}')
case "$latest" in epoch-*-step-*) ;; *) fail "the latest complete checkpoint ($latest) is not a mid-epoch one";; esac
grep -q "^position worker-1.position " "$WORK/ck/$latest/MANIFEST" || fail "the MANIFEST of $latest lists no worker positions"
kept=$(ls "$WORK"/ck/*/MANIFEST | wc -l)
[ "$kept" -le 4 ] || fail "$kept checkpoints kept with --keep_checkpoints=2 and chains of at most 3"

cp "$WORK/cut.jsonl" "$WORK/resumed.jsonl"
"$LOCAL" --servers 2 --workers 3 -- "${common[@]}" "${ck[@]}" --resume \
  --metrics_out="$WORK/resumed.jsonl" >"$WORK/log" 2>&1 || fail "resumed run exited $?"
grep -q "\"resumed_from\": {\"epoch\": 2, \"step\": [0-9]*, \"mid_epoch\": true" "$WORK/resumed.jsonl" \
  || fail "the metrics file does not say where it resumed (epoch and step)"
examples=$(tail -1 "$WORK/resumed.jsonl" | grep -oE '"examples": [0-9]+' | grep -oE '[0-9]+$')
[ "$examples" = $((3 * lines)) ] || fail "trained $examples examples over both runs, expected 3 x $lines"
a=$(rmse "$WORK/full.jsonl"); b=$(rmse "$WORK/resumed.jsonl")
awk -v a="$a" -v b="$b" 'BEGIN { d = (a - b) / a; if (d < 0) d = -d; exit !(d < 0.01) }' \
  || fail "resumed RMSE $b differs from the uninterrupted $a by 1 % or more"

assert_no_orphans
echo "PASS (uninterrupted $a, resumed $b; resumed from $latest; $examples examples)"
