# Online training from streams: a growing directory (dir://) and a Kafka topic (kafka://,
# librdkafka's mock cluster started by `embark kafka-mock`). Every event is trained once
# (the example count equals the events of the stream); the job waits for parts without their
# completion marker and ends at _SUCCESS, --max_seconds or --max_events; a bad event is named
# by file and line or by partition and offset; an unreachable broker fails within
# --startup_timeout, naming it.
source "$(dirname "$0")/../cluster_lib.sh" "$@"

"$EMBARK_BIN" gen --kind=clicks --out="$WORK/c" --rows=3000 --seed=5 >/dev/null || fail "gen failed"
total=$(wc -l < "$WORK/c.train.libsvm")
mkdir "$WORK/parts"
split -n l/4 -d "$WORK/c.train.libsvm" "$WORK/parts/part-"
finished_examples() { grep -oE "training finished: 1 epochs, [0-9]+ examples" "$WORK/log" | grep -oE "[0-9]+ examples" | grep -oE "[0-9]+"; }

# Parts without a marker are not read: the job trains nothing until --max_seconds ends it.
"$LOCAL" --servers 1 --workers 2 -- train --model=lr --train="dir://$WORK/parts" --max_seconds=2 >"$WORK/log" 2>&1 \
  || fail "dir:// with --max_seconds exited $?"
[ "$(finished_examples)" = 0 ] || fail "parts without a completion marker were trained: $(finished_examples) examples"

# Markers for the first three parts: exactly their lines are trained.
for p in 00 01 02; do touch "$WORK/parts/part-$p.done"; done
three=$(cat "$WORK/parts/part-0"[012] | wc -l)
"$LOCAL" --servers 1 --workers 2 -- train --model=lr --train="dir://$WORK/parts" --max_seconds=3 >"$WORK/log" 2>&1 \
  || fail "dir:// with three marked parts exited $?"
[ "$(finished_examples)" = "$three" ] || fail "expected $three examples from three marked parts, got $(finished_examples)"

# _SUCCESS: every part, then the job ends by itself (no limit given).
touch "$WORK/parts/_SUCCESS"
"$LOCAL" --servers 1 --workers 2 -- train --model=lr --train="dir://$WORK/parts" --test="$WORK/c.test.libsvm" \
  --metrics_out="$WORK/m.jsonl" >"$WORK/log" 2>&1 || fail "dir:// with _SUCCESS exited $?"
[ "$(finished_examples)" = "$total" ] || fail "expected all $total examples, got $(finished_examples)"
grep -q '"test_auc"' "$WORK/m.jsonl" || fail "no test metrics after the stream"

# A directory that grows while the job runs: parts and markers arrive one by one, then
# _SUCCESS ends the job long before --max_seconds.
mkdir "$WORK/live"
"$LOCAL" --servers 1 --workers 2 -- train --model=lr --train="dir://$WORK/live" --max_seconds=40 >"$WORK/log" 2>&1 &
job=$!
for p in 00 01 02 03; do
  sleep 0.7
  cp "$WORK/parts/part-$p" "$WORK/live/.part-$p.tmp"; mv "$WORK/live/.part-$p.tmp" "$WORK/live/part-$p"
  touch "$WORK/live/part-$p.done"
done
touch "$WORK/live/_SUCCESS"
wait_for_exit $job 40
[ "$RC" = 0 ] || fail "the growing-directory job ended with $RC"
[ "$(finished_examples)" = "$total" ] || fail "expected all $total examples from the growing directory, got $(finished_examples)"

# A bad line in a part is named by its file and line.
mkdir "$WORK/bad"
cp "$WORK/parts/part-00" "$WORK/bad/part-00"
awk 'NR == 5 { print "1 notafeature"; next } { print }' "$WORK/parts/part-01" > "$WORK/bad/part-01"
touch "$WORK/bad/_SUCCESS"
"$LOCAL" --servers 1 --workers 2 -- train --model=lr --train="dir://$WORK/bad" >"$WORK/log" 2>&1
rc=$?
[ $rc = 1 ] || fail "a bad line in dir:// should exit 1, got $rc"
grep -q "dir://$WORK/bad/part-01:5: " "$WORK/log" || fail "the bad line is not named as dir://.../part-01:5"

# Flags that do not fit a stream are refused before anything starts.
"$EMBARK_BIN" train --model=lr --train="dir://$WORK/parts" --epochs=3 >"$WORK/log" 2>&1 && fail "--epochs=3 on a stream was accepted"
grep -q "a stream is read once" "$WORK/log" || fail "--epochs on a stream is not explained"
"$EMBARK_BIN" train --model=lr --train="$WORK/c.train.libsvm" --max_events=5 >"$WORK/log" 2>&1 && fail "--max_events on files was accepted"
grep -q "apply to a stream" "$WORK/log" || fail "--max_events on files is not explained"

# Kafka: the mock cluster holds the training lines in 3 partitions (line i in partition i % 3).
awk 'NR == 100 { print "1 3:x"; next } { print }' "$WORK/c.train.libsvm" > "$WORK/kbad.libsvm"
start_kafka_mock "$WORK/c.train.libsvm" kafka
# Two workers: worker 0 reads partitions 0 and 2, worker 1 partition 1. Each stops after
# --max_events, which partition 1 alone holds, so exactly 2 x that many are trained.
per=$((total / 3))
"$LOCAL" --servers 1 --workers 2 -- train --model=lr --train="kafka://$brokers/clicks" --max_events=$per \
  --max_seconds=40 >"$WORK/log" 2>&1 || { kill $mock; fail "kafka:// training exited $?"; }
[ "$(finished_examples)" = $((2 * per)) ] || { kill $mock; fail "expected $((2 * per)) examples from kafka, got $(finished_examples)"; }
# Without limits on events, both workers train everything they have within --max_seconds:
# streams default to asp, so worker 1 (one partition) running dry does not hold worker 0 (two).
"$LOCAL" --servers 1 --workers 2 -- train --model=lr --batch_size=16 --train="kafka://$brokers/clicks" --max_seconds=4 >"$WORK/log" 2>&1 \
  || { kill $mock; fail "kafka:// training with --max_seconds exited $?"; }
[ "$(finished_examples)" = "$total" ] || { kill $mock; fail "expected all $total examples within --max_seconds, got $(finished_examples)"; }
# Negative control: under an explicit bsp the dry worker holds the other at the next clock
# (small batches, so the held worker has far more than its read-ahead left to train).
"$LOCAL" --servers 1 --workers 2 -- train --model=lr --batch_size=16 --consistency=bsp --train="kafka://$brokers/clicks" --max_seconds=4 \
  >"$WORK/log" 2>&1 || { kill $mock; fail "kafka:// training under bsp exited $?"; }
[ "$(finished_examples)" -lt "$total" ] || { kill $mock; fail "bsp trained all $total examples: the asp check above proves nothing"; }
# One worker reads all three partitions: all lines, none twice (--max_events = the total),
# with progressive-validation windows of 500 events in the metrics file.
"$LOCAL" --servers 1 --workers 1 -- train --model=lr --train="kafka://$brokers/clicks" --max_events=$total \
  --max_seconds=40 --metrics_out="$WORK/k.jsonl" --window=500 >"$WORK/log" 2>&1 || { kill $mock; fail "kafka:// training on one worker exited $?"; }
[ "$(finished_examples)" = "$total" ] || { kill $mock; fail "expected $total examples from kafka, got $(finished_examples)"; }
grep -q "training examples in memory" "$WORK/log" && { kill $mock; fail "the stream was cached in memory (local updates) instead of trained in event order"; }
windows=$(grep -c '"window":' "$WORK/k.jsonl")
# Windows close at the first batch boundary past 500 events: 4 windows of 512 and the rest.
[ "$windows" = 5 ] || { kill $mock; fail "expected 5 windows of about 500 of $total events, got $windows"; }
summed=$(grep -oE '"events":[0-9]+' "$WORK/k.jsonl" | awk -F: '{ s += $2 } END { print s }')
[ "$summed" = "$total" ] || { kill $mock; fail "the windows hold $summed events, not $total"; }
[ "$(grep '"window":' "$WORK/k.jsonl" | grep -c '"logloss":[0-9.]*,')" = 5 ] || { kill $mock; fail "a window has no logloss: $(cat "$WORK/k.jsonl")"; }
grep '"window":4' "$WORK/k.jsonl" | grep -q '"last":true' || { kill $mock; fail "the last window is not marked"; }
grep -q '"lag":0' "$WORK/k.jsonl" || { kill $mock; fail "the last window does not report the stream caught up (lag 0)"; }
kill $mock; wait $mock
"$EMBARK_BIN" plot --input="$WORK/k.jsonl" --out="$WORK/k.png" >"$WORK/log" 2>&1 || fail "plot of the stream's metrics failed: $(cat "$WORK/log")"
[ "$(head -c 4 "$WORK/k.png" | tail -c 3)" = PNG ] || fail "plot wrote no PNG"

# A bad message is named by topic, partition and offset: line 100 is partition 0, offset 33.
start_kafka_mock "$WORK/kbad.libsvm" kbad
"$LOCAL" --servers 1 --workers 1 -- train --model=lr --train="kafka://$brokers/clicks" --max_seconds=30 >"$WORK/log" 2>&1
rc=$?
[ $rc = 1 ] || { kill $mock; fail "a bad kafka message should exit 1, got $rc"; }
grep -q "kafka://$brokers/clicks partition 0 offset 33: " "$WORK/log" || { kill $mock; fail "the bad message is not named by partition and offset"; }
# --bad_lines=skip: the message is counted and every other one trained.
"$LOCAL" --servers 1 --workers 1 -- train --model=lr --train="kafka://$brokers/clicks" --max_events=$total --bad_lines=skip \
  --max_seconds=40 >"$WORK/log" 2>&1
rc=$?
kill $mock; wait $mock
[ $rc = 0 ] || fail "--bad_lines=skip on kafka exited $rc"
grep -q "skipped lines: non_numeric=1" "$WORK/log" || fail "the skipped message is not counted: $(grep -i skip "$WORK/log")"
[ "$(finished_examples)" = $((total - 1)) ] || fail "expected $((total - 1)) examples with one bad message skipped, got $(finished_examples)"

# Nothing listens on 127.0.0.1:1: an error naming the broker within --startup_timeout.
start=$(date +%s)
"$LOCAL" --servers 1 --workers 1 -- train --model=lr --train="kafka://127.0.0.1:1/clicks" --startup_timeout=3 >"$WORK/log" 2>&1 \
  && fail "an unreachable broker did not fail"
took=$(( $(date +%s) - start ))
grep -q "no Kafka broker of 127.0.0.1:1 answered within 3" "$WORK/log" || fail "the unreachable broker is not named"
[ $took -lt 30 ] || fail "the unreachable broker took $took s to be reported"
assert_no_orphans
echo PASS
