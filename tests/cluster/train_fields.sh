# Field-aware models never drop a field silently. Data of 12 fields whose label depends only on
# fields 10 and 11: without --num_fields, ffm (1 server + 2 workers) takes 12 fields from the
# files, the same on every rank, and learns the label; with --num_fields=10 the job stops
# naming the file, the line and the field (ffm and deepfm).
source "$(dirname "$0")/../cluster_lib.sh" "$@"

# Fields 0..9: noise ids; label = (field 10 == field 11), an interaction of the last two fields.
awk -v TRAIN="$WORK/f.train.libffm" -v TEST="$WORK/f.test.libffm" 'BEGIN { srand(7); for (i = 0; i < 6000; i++) {
       a = int(rand() * 2); b = int(rand() * 2); line = (a == b) ? "1" : "0";
       for (f = 0; f < 10; f++) line = line " " f ":n" int(rand() * 5) ":1";
       print line " 10:a" a ":1 11:b" b ":1" > (i < 5000 ? TRAIN : TEST) } }'

"$LOCAL" --servers 1 --workers 2 -- train --model=ffm --format=libffm --train="$WORK/f.train.libffm" \
  --test="$WORK/f.test.libffm" --epochs=4 --metrics_out="$WORK/m.jsonl" >"$WORK/log" 2>&1 || fail "ffm exited $?"
grep -q -- "--num_fields=12 (the highest field in the data is 11" "$WORK/log" || fail "the field count was not taken from the data"
auc=$(tail -1 "$WORK/m.jsonl" | sed 's/.*"test_auc": \([0-9.]*\).*/\1/')
awk -v a="$auc" 'BEGIN { exit !(a > 0.9) }' || fail "ffm did not learn from fields 10 and 11: test AUC $auc"

for model in ffm deepfm; do
  "$LOCAL" --servers 1 --workers 2 -- train --model=$model --format=libffm --train="$WORK/f.train.libffm" \
    --num_fields=10 --epochs=1 >"$WORK/log" 2>&1
  rc=$?
  [ $rc = 1 ] || fail "$model: a field >= --num_fields should fail the job with exit code 1, got $rc"
  grep -q "f.train.libffm:[0-9]*: field_out_of_range (field 1[01] but the model has num_fields 10" "$WORK/log" \
    || fail "$model: the refused field is not named with its file and line"
done
assert_no_orphans
echo PASS
