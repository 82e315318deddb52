# Bad input: --bad_lines=fail stops the job naming file, line and reason; --bad_lines=skip
# trains on the rest and reports the count per reason; a missing file is named.
source "$(dirname "$0")/../cluster_lib.sh" "$@"

"$EMBARK_BIN" gen --kind=ratings --out="$WORK/r" --rows=3000 --seed=2 >/dev/null || fail "gen failed"
awk 'NR == 7 { print "12\t34\tfive\t0"; next } NR == 9 { print "1\t2"; next } { print }' "$WORK/r.train.tsv" > "$WORK/bad.tsv"

"$LOCAL" --servers 1 --workers 2 -- train --model=mf --train="$WORK/bad.tsv" --epochs=1 >"$WORK/log" 2>&1
rc=$?
[ $rc = 1 ] || fail "a bad line should fail the job with exit code 1 (input error), got $rc"
grep -q "bad.tsv:7: non_numeric" "$WORK/log" || fail "the bad line is not named as bad.tsv:7: non_numeric"

# A bad test file is found before the first epoch, not after it.
"$LOCAL" --servers 1 --workers 2 -- train --model=mf --train="$WORK/r.train.tsv" --test="$WORK/bad.tsv" \
  --epochs=50 >"$WORK/log" 2>&1 && fail "a bad test line did not fail the job"
grep -q "bad.tsv:7: non_numeric" "$WORK/log" || fail "the bad test line is not named"
grep -q "epoch 1/50 done" "$WORK/log" && fail "the bad test file was only noticed after training"
"$LOCAL" --servers 1 --workers 1 -- train --model=mf --train="$WORK/r.train.tsv" --test="$WORK/r.test.tsv" \
  --predictions_out="$WORK/no/such/dir/p.txt" --epochs=50 >"$WORK/log" 2>&1 && fail "an unwritable --predictions_out was accepted"
grep -q "cannot write --predictions_out" "$WORK/log" || fail "the unwritable predictions file is not named"
grep -q "epoch 1/50 done" "$WORK/log" && fail "the unwritable predictions file was only noticed after training"

"$LOCAL" --servers 1 --workers 2 -- train --model=mf --train="$WORK/bad.tsv" --epochs=1 --bad_lines=skip \
  --metrics_out="$WORK/m.jsonl" >"$WORK/log" 2>&1 || fail "skip mode exited $?"
grep -q "skipped lines: non_numeric=1 wrong_field_count=1" "$WORK/log" || fail "skip counts not reported"
tail -1 "$WORK/m.jsonl" | grep -q '"bad_lines": {"non_numeric": 1, "wrong_field_count": 1}' || fail "skip counts not in metrics"

"$LOCAL" --servers 1 --workers 1 -- train --model=mf --train="$WORK/missing.tsv" --epochs=1 >"$WORK/log" 2>&1 \
  && fail "a missing file did not fail"
grep -q "missing.tsv" "$WORK/log" || fail "the missing file is not named"
"$EMBARK_BIN" train --model=mf --train="$WORK/r.train.tsv" --staleness=3 >"$WORK/log" 2>&1 && fail "contradictory flags accepted"
grep -q "staleness" "$WORK/log" || fail "the contradiction is not explained"
"$EMBARK_BIN" train --model=mf --train="$WORK/r.train.tsv" --val_len=3 >"$WORK/log" 2>&1 && fail "a bench flag was accepted by train"
assert_no_orphans
echo PASS
