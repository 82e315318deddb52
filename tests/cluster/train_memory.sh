# Bounded memory on the servers: FM on generated click logs (1 server + 2 workers, 1 epoch)
# with --min_count=2 and a --server_memory budget small enough to force evictions. Checks the
# start-up and end report lines, that the final metrics line carries the same counters, that
# the rows held stay within the budget, and that the test logloss stays within 0.02 of the
# unbounded run. Also: train-local with admission, and bad flag values rejected with exit 1.
source "$(dirname "$0")/../cluster_lib.sh" "$@"

"$EMBARK_BIN" gen --kind=clicks --out="$WORK/c" --rows=60000 --seed=4 >/dev/null || fail "gen failed"
metric() { tail -1 "$1" | grep -oE "\"$2\": [0-9.e+-]+" | grep -oE '[0-9.e+-]+$'; }
common=(--model=fm --format=libsvm --train="$WORK/c.train.libsvm" --test="$WORK/c.test.libsvm" --epochs=1 --lr=0.05 --sync=exact)

"$LOCAL" --servers 1 --workers 2 -- train "${common[@]}" --metrics_out="$WORK/free.jsonl" >"$WORK/log" 2>&1 \
  || fail "unbounded run exited $?"
budget=1048576
"$LOCAL" --servers 1 --workers 2 -- train "${common[@]}" --min_count=2 --server_memory=1M --admission_sketch_kb=256 \
  --metrics_out="$WORK/bounded.jsonl" >"$WORK/log" 2>&1 || fail "bounded run exited $?"

start=$(grep -oE "server 0 memory start: .*" "$WORK/log") || fail "no start-up memory line"
end=$(grep -oE "server 0 memory end: .*" "$WORK/log") || fail "no end memory line"
echo "$start"
echo "$end"
# FM's v rows: 9 weights + 9 AdaGrad floats + the stamp = 76 bytes, + 26 of index.
echo "$start" | grep -q "budget_bytes=$budget fixed_bytes=" || fail "start line lacks the budget"
echo "$start" | grep -q "| v bytes_per_row=102 weights=36 optimizer=36 stamp=4 index=26..51" || fail "start line: wrong bytes per row"
field() { echo "$1" | grep -oE "(^| )$2=[0-9]+" | head -1 | grep -oE '[0-9]+$'; }
for key in rows_held rows_admitted rejected_pushes rows_evicted_memory peak_bytes held_bytes; do
  [ "$(field "$end" $key)" = "$(metric "$WORK/bounded.jsonl" $key)" ] \
    || fail "$key: end line says $(field "$end" $key), metrics say $(metric "$WORK/bounded.jsonl" $key)"
done
held=$(field "$end" rows_held); admitted=$(field "$end" rows_admitted); evicted=$(field "$end" rows_evicted_memory)
[ "$evicted" -gt 0 ] || fail "the budget evicted nothing (rows_held $held)"
[ $((held + evicted)) -eq "$admitted" ] || fail "rows_held $held + evicted $evicted != admitted $admitted"
[ "$(field "$end" rejected_pushes)" -gt 0 ] || fail "--min_count=2 rejected no push"
[ "$(field "$end" held_bytes)" -le $budget ] || fail "held_bytes $(field "$end" held_bytes) over the budget $budget"
[ "$(metric "$WORK/bounded.jsonl" rows_evicted)" = "$evicted" ] || fail "rows_evicted in the metrics is not ttl + memory"

f=$(metric "$WORK/free.jsonl" test_logloss); b=$(metric "$WORK/bounded.jsonl" test_logloss)
echo "test logloss: unbounded $f, bounded $b (rows held $held, evicted $evicted)"
awk -v a="$f" -v b="$b" 'BEGIN { x = a - b; if (x < 0) x = -x; exit !(x < 0.02) }' \
  || fail "bounded logloss $b is not within 0.02 of the unbounded $f"

# The single-process trainer runs the same policy (the epoch end reaches its server directly).
"$EMBARK_BIN" train-local "${common[@]}" --min_count=2 --ttl=1epoch --metrics_out="$WORK/local.jsonl" >"$WORK/log" 2>&1 \
  || fail "train-local with --min_count exited $?"
grep -q "memory end: rows_held=$(metric "$WORK/local.jsonl" rows_held) " "$WORK/log" || fail "train-local: end line and metrics disagree"
[ "$(metric "$WORK/local.jsonl" rejected_pushes)" -gt 0 ] || fail "train-local: no rejected pushes"

for bad in --min_count=0 --min_count=300 --server_memory=lots --ttl=3days --admit_probability=1.5 --admission_sketch_kb=64; do
  "$EMBARK_BIN" train-local "${common[@]}" $bad >"$WORK/log" 2>&1
  rc=$?
  [ $rc -eq 1 ] || fail "$bad: exit code $rc, expected 1"
  grep -q -- "${bad%%=*}" "$WORK/log" || fail "$bad: the error does not name the flag"
done
# Delta checkpoints cannot record evicted rows: eviction with --full_every > 1 is refused.
"$EMBARK_BIN" train-local "${common[@]}" --ttl=2epochs --checkpoint_dir="$WORK/ck" --checkpoint_every=1epoch --full_every=3 >"$WORK/log" 2>&1
rc=$?
[ $rc -eq 1 ] || fail "--ttl with --full_every=3: exit code $rc, expected 1"
grep -q -- "--full_every=3" "$WORK/log" || fail "--ttl with --full_every=3: the error does not name the flag"
assert_no_orphans
echo PASS
