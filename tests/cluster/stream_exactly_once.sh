# Exactly once across failures, for streams: the stream positions (dir:// byte offsets,
# kafka:// offsets) are part of every checkpoint, so a job killed with kill -9 and resumed
# (also on other worker and server counts) trains every event exactly once. Counted from the
# workers' --trained_log files, which a resume cuts back to the checkpoint: what they list is
# the committed model's events. The check is that every event id of the input appears in the
# logs once: none lost, none twice, none unknown.
#
# dir://: 1 server + 2 workers, worker 0 killed after a checkpoint, resumed by hand on
# 2 servers + 3 workers until _SUCCESS. Negative control: the logs as the killed run left
# them (not cut back) plus what the resume appended hold duplicates, so the check can fail.
# Then the scheduler is killed (2 servers + 1 worker) and the job resumed on 1 server + 2.
# kafka:// (the mock cluster) under launch/supervise.sh: worker 1 killed, restarted with
# --resume; once every event is trained, SIGTERM to every rank takes a final checkpoint and
# the job exits 0; a resume of that on 3 workers then finds nothing left to train.
source "$(dirname "$0")/../cluster_lib.sh" "$@"
SUP="$ROOT/launch/supervise.sh"

"$EMBARK_BIN" gen --kind=clicks --out="$WORK/c" --rows=4000 --seed=11 >/dev/null || fail "gen failed"
total=$(wc -l < "$WORK/c.train.libsvm")

# Every id once. $1: the expected ids, one a line; the rest: the logs.
check_once() {
  local want="$1"; shift
  cat "$@" | sort > "$WORK/got"
  sort "$want" > "$WORK/want"
  DUPS=$(uniq -d "$WORK/got" | wc -l)
  MISSING=$(sort -u "$WORK/got" | comm -23 "$WORK/want" - | wc -l)
  UNKNOWN=$(sort -u "$WORK/got" | comm -13 "$WORK/want" - | wc -l)
  [ "$DUPS" = 0 ] && [ "$MISSING" = 0 ] && [ "$UNKNOWN" = 0 ]
}
# The pid of rank $1 in the $3-th run logged in $2 (every run lists its ranks at start-up).
pid_in_run() {
  local pid=""
  for _ in $(seq 1 300); do
    pid=$(grep -oE "^  rank $1 \([a-z]+( [0-9]+)?, [^ ]+ pid [0-9]+" "$2" 2>/dev/null | grep -oE '[0-9]+$' | sed -n "$3p")
    [ -n "$pid" ] && { echo "$pid"; return 0; }
    sleep 0.1
  done
  return 1
}
wait_for_line() {  # pattern, file, seconds
  for _ in $(seq 1 $(($3 * 10))); do grep -qE "$1" "$2" 2>/dev/null && return 0; sleep 0.1; done
  return 1
}

# Checkpoint flags that cannot apply to a stream, and a trained log of files, are refused.
"$EMBARK_BIN" train --model=lr --train="dir://$WORK" --checkpoint_dir="$WORK/x" --checkpoint_every=1epoch >"$WORK/log" 2>&1 &&
  fail "--checkpoint_every=1epoch on a stream was accepted"
grep -q "a stream has no epochs to checkpoint after" "$WORK/log" || fail "--checkpoint_every=1epoch on a stream is not explained"
"$EMBARK_BIN" train --model=lr --train="$WORK/c.train.libsvm" --trained_log="$WORK/x" >"$WORK/log" 2>&1 &&
  fail "--trained_log on files was accepted"
grep -q "apply to a stream" "$WORK/log" || fail "--trained_log on files is not explained"

# ---- dir:// ----
mkdir "$WORK/parts"
split -n l/6 -d "$WORK/c.train.libsvm" "$WORK/parts/part-"
touch "$WORK/parts/_SUCCESS"
for f in "$WORK"/parts/part-*; do awk -v p="$(basename "$f")" '{ print p "\t" NR }' "$f"; done > "$WORK/dir.ids"
[ "$(wc -l < "$WORK/dir.ids")" = "$total" ] || fail "the parts do not hold the $total lines"
djob=(train --model=lr --train="dir://$WORK/parts" --batch_size=16 --checkpoint_dir="$WORK/dck" --checkpoint_every=2s
      --trained_log="$WORK/dtl" --heartbeat_timeout=3 --metrics_out="$WORK/dm.jsonl")
"$LOCAL" --servers 1 --workers 2 -- "${djob[@]}" --slow_worker=0:40 >"$WORK/log" 2>&1 &
job=$!
pid=$(pid_in_run 2 "$WORK/log" 1) || { kill_ours; fail "worker 0 never started"; }
wait_for_line "checkpoint in epoch 1 at step [0-9]+ written" "$WORK/log" 30 || { kill_ours; fail "no stream checkpoint was written"; }
sleep 0.6  # worker 0 trains past the cut: those events must not count after the resume
kill -9 "$pid"
wait_for_exit $job 30
[ "$RC" != 0 ] || fail "the job survived the kill of worker 0"
grep -q "written to $WORK/dck/epoch-1-step-" "$WORK/log" || fail "no mid-stream checkpoint directory named"
mkdir "$WORK/killed" && cp "$WORK"/dtl.* "$WORK/killed/"
check_once "$WORK/dir.ids" "$WORK"/dtl.* && fail "the killed run had trained everything: the kill came too late to test a resume"

"$LOCAL" --servers 2 --workers 3 -- "${djob[@]}" --resume >"$WORK/log" 2>&1 || fail "the dir:// resume on 2 servers + 3 workers exited $?"
grep -q '"resumed_from"' "$WORK/dm.jsonl" || fail "the dir:// run did not resume from the checkpoint"
grep -q "the stream continues from 6 saved positions" "$WORK/log" || fail "the resume did not take the six parts' positions"
check_once "$WORK/dir.ids" "$WORK"/dtl.* ||
  fail "dir://: after kill and resume, $DUPS events were trained twice, $MISSING never, $UNKNOWN unknown ids"
# Negative control: without cutting the logs back to the checkpoint, events trained after the
# cut by the killed worker are counted again (the resumed run trained them once more).
for f in "$WORK"/dtl.*; do
  b=$(basename "$f")
  if [ -f "$WORK/killed/$b" ]; then
    # The resumed log is the killed one cut back, then appended: keep the killed one whole.
    keep=$(cmp "$WORK/killed/$b" "$f" 2>/dev/null | grep -oE 'byte [0-9]+' | grep -oE '[0-9]+')
    if [ -z "$keep" ]; then keep=$(( $(stat -c %s "$f") < $(stat -c %s "$WORK/killed/$b") ? $(stat -c %s "$f") + 1 : $(stat -c %s "$WORK/killed/$b") + 1 )); fi
    { cat "$WORK/killed/$b"; tail -c +"$keep" "$f"; } > "$WORK/naive.$b"
  else
    cp "$f" "$WORK/naive.$b"
  fi
done
check_once "$WORK/dir.ids" "$WORK"/naive.* && fail "negative control: the uncut logs show no duplicates, so the check above proves nothing"
[ "$DUPS" -gt 0 ] || fail "negative control: expected duplicates in the uncut logs"
echo "dir://: exactly once after kill -9 and resume on 2 servers + 3 workers ($total events; uncut logs: $DUPS duplicates)"

# The scheduler killed instead (2 servers + 1 worker), resumed on 1 server + 2 workers.
sjob=(train --model=lr --train="dir://$WORK/parts" --batch_size=16 --checkpoint_dir="$WORK/sck" --checkpoint_every=2s
      --trained_log="$WORK/stl" --heartbeat_timeout=3)
"$LOCAL" --servers 2 --workers 1 -- "${sjob[@]}" --slow_worker=0:25 >"$WORK/log" 2>&1 &
job=$!
pid=$(pid_in_run 0 "$WORK/log" 1) || { kill_ours; fail "the scheduler never started"; }
wait_for_line "checkpoint in epoch 1 at step [0-9]+ written" "$WORK/log" 30 || { kill_ours; fail "no stream checkpoint before the scheduler kill"; }
sleep 0.5
kill -9 "$pid"
wait_for_exit $job 30
[ "$RC" != 0 ] || fail "the job survived the kill of the scheduler"
check_once "$WORK/dir.ids" "$WORK"/stl.* && fail "the run had trained everything before the scheduler was killed"
"$LOCAL" --servers 1 --workers 2 -- "${sjob[@]}" --resume >"$WORK/log" 2>&1 || fail "the resume after the scheduler kill exited $?"
check_once "$WORK/dir.ids" "$WORK"/stl.* ||
  fail "dir://: after the scheduler kill and resume, $DUPS events were trained twice, $MISSING never, $UNKNOWN unknown ids"
echo "dir://: exactly once after kill -9 of the scheduler and resume on 1 server + 2 workers"
# Positions of one stream are refused for another.
mkdir "$WORK/other" && touch "$WORK/other/_SUCCESS"
"$LOCAL" --servers 1 --workers 1 -- train --model=lr --train="dir://$WORK/other" --checkpoint_dir="$WORK/sck" --checkpoint_every=2s \
  --resume >"$WORK/log" 2>&1
rc=$?
[ $rc = 1 ] || fail "resuming another stream's checkpoint should exit 1, got $rc"
grep -q "holds positions of 'dir $WORK/parts', not of --train=dir://$WORK/other" "$WORK/log" || fail "the other stream's checkpoint is not refused by name"

# ---- kafka:// under the supervisor ----
start_kafka_mock "$WORK/c.train.libsvm" kafka
awk '{ print (NR - 1) % 3 "\t" int((NR - 1) / 3) }' "$WORK/c.train.libsvm" > "$WORK/kafka.ids"
kjob=(train --model=lr --train="kafka://$brokers/clicks" --batch_size=16 --checkpoint_dir="$WORK/kck" --checkpoint_every=2s
      --trained_log="$WORK/ktl" --heartbeat_timeout=3 --slow_worker=1:40)
"$SUP" --max_restarts 1 --log "$WORK/sup.log" -- "$LOCAL" --servers 1 --workers 2 -- "${kjob[@]}" >"$WORK/sup.out" 2>&1 &
sup=$!
pid=$(pid_in_run 3 "$WORK/sup.log" 1) || { kill $mock; kill_ours; fail "kafka: worker 1 never started"; }
wait_for_line "checkpoint in epoch 1 at step [0-9]+ written" "$WORK/sup.log" 30 || { kill $mock; kill_ours; fail "kafka: no checkpoint"; }
sleep 0.6
kill -9 "$pid"
wait_for_line "supervise: restart 1/1" "$WORK/sup.log" 30 || { kill $mock; kill_ours; cp "$WORK/sup.log" "$WORK/log"; fail "the supervisor did not restart the job"; }
pid_in_run 0 "$WORK/sup.log" 2 >/dev/null || { kill $mock; kill_ours; cp "$WORK/sup.log" "$WORK/log"; fail "the restarted job did not start"; }
# The stream never ends: wait until the logs list as many events as the topic holds.
for _ in $(seq 1 300); do
  [ "$(cat "$WORK"/ktl.* 2>/dev/null | wc -l)" -ge "$total" ] && break
  sleep 0.1
done
# SIGTERM to every rank (as a cluster manager stops a job): a final checkpoint, exit 0.
pids=""
for r in 0 1 2 3; do pids="$pids $(pid_in_run $r "$WORK/sup.log" 2)"; done
start=$(date +%s)
kill -TERM $pids
wait_for_exit $sup 40
rc=$RC
took=$(( $(date +%s) - start ))
cp "$WORK/sup.log" "$WORK/log"
[ "$rc" = 0 ] || { kill $mock; kill_ours; fail "kafka: after SIGTERM the supervised job ended with $rc, not 0"; }
grep -q "final checkpoint $WORK/kck/epoch-1-step-[0-9]* written" "$WORK/sup.log" || { kill $mock; fail "SIGTERM wrote no final checkpoint"; }
[ "$took" -lt 20 ] || { kill $mock; fail "the job took $took s to stop after SIGTERM"; }
check_once "$WORK/kafka.ids" "$WORK"/ktl.* ||
  { kill $mock; fail "kafka: after kill -9, restart and SIGTERM, $DUPS events were trained twice, $MISSING never, $UNKNOWN unknown ids"; }
# The final checkpoint holds the end: a resume on 3 workers finds nothing new to train.
"$LOCAL" --servers 1 --workers 3 -- "${kjob[@]}" --resume --max_seconds=3 >"$WORK/log" 2>&1 ||
  { kill $mock; fail "the kafka resume on 3 workers exited $?"; }
kill $mock; wait $mock
grep -q "training finished: 1 epochs, $total examples" "$WORK/log" || fail "the resume after the final checkpoint trained more (or fewer) events"
check_once "$WORK/kafka.ids" "$WORK"/ktl.* ||
  fail "kafka: after the resume of the final checkpoint, $DUPS events twice, $MISSING never, $UNKNOWN unknown ids"
echo "kafka://: exactly once across kill -9, supervised restart, SIGTERM (final checkpoint, exit 0 in $took s) and a resume on 3 workers"
assert_no_orphans
echo PASS
