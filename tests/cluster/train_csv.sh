# Schema-driven CSV input end to end: LR trains on a cluster (1 server + 2 workers) straight
# from a quoted CSV, the rows the schema's per-line policies skip (cancellations, missing user
# ids) are counted per reason even under --bad_lines=fail, a bad quote is named by file and
# line, and `embark prepare` accounts for every row of the same file.
source "$(dirname "$0")/../cluster_lib.sh" "$@"

# 200 users x 100 items; users with id % 4 < 2 click, the others do not (a per-user bias LR
# can learn). Titles are quoted and contain commas.
gen_csv() {
  awk -v seed="$1" -v rows="$2" 'BEGIN { srand(seed); print "order,clicked,user,item,title,ts";
    for (i = 1; i <= rows; i++) { u = int(rand() * 200); it = int(rand() * 100);
      printf "o%d,%d,u%d,i%d,\"Item %d, red\",%d\n", i, (u % 4 < 2) ? 1 : 0, u, it, it, 1000 + i } }'
}
gen_csv 7 4000 > "$WORK/train.csv"
gen_csv 8 1000 > "$WORK/test.csv"
# Five cancellations and three rows without a user, spread through the file.
awk 'NR > 1 && NR % 700 == 0 { print "C" NR ",1,u1,i1,\"x\"," NR } NR > 1 && NR % 1300 == 0 { print "o" NR ",1,NA,i2,\"y\"," NR } { print }' \
  "$WORK/train.csv" > "$WORK/t" && mv "$WORK/t" "$WORK/train.csv"
[ "$(grep -c '^C' "$WORK/train.csv")" = 5 ] || fail "the generated file should have 5 cancellations"
[ "$(grep -c ',NA,' "$WORK/train.csv")" = 3 ] || fail "the generated file should have 3 rows without a user"
cat > "$WORK/clicks.schema" <<'SCHEMA'
header yes
missing NA
cancel order prefix C policy drop
column order   ignore
column clicked label
column user    categorical field 0 missing drop
column item    categorical field 1 missing drop
column title   text field 32
column ts      timestamp
SCHEMA

"$LOCAL" --servers 1 --workers 2 -- train --model=lr --format=csv --schema="$WORK/clicks.schema" \
  --train="$WORK/train.csv" --test="$WORK/test.csv" --epochs=1 --metrics_out="$WORK/m.jsonl" >"$WORK/log" 2>&1 \
  || fail "lr on the csv exited $?"
tail -1 "$WORK/m.jsonl" | grep -q '"bad_lines": {"cancelled": 5, "missing_value": 3}' \
  || fail "cancelled/missing_value counts not in the metrics: $(tail -1 "$WORK/m.jsonl")"
auc=$(tail -1 "$WORK/m.jsonl" | grep -oE '"test_auc": [0-9.]+' | grep -oE '[0-9.]+$')
awk -v a="$auc" 'BEGIN { exit !(a > 0.95) }' || fail "test AUC $auc: the per-user clicks were not learned (want > 0.95)"
echo "lr from csv: test_auc $auc"

# The same rows written as libffm by hand (tokens as the tokeniser spells them: "item", the
# number when it has 2+ digits, "red") train to the same loss: the keys are FeatureKey(field,
# token) in both readers. FM, because its initial rows depend on the key (LR starts at zero,
# so its loss would not notice renamed keys).
awk -F, 'NR > 1 && $1 !~ /^C/ && $3 != "NA" { split($5, w, " "); t = "32:item:1"; if (length(w[2]) >= 2) t = t " 32:" w[2] ":1";
  print $2 " 0:" $3 ":1 1:" $4 ":1 " t " 32:red:1" }' "$WORK/train.csv" > "$WORK/train.libffm"
for f in csv libffm; do
  schema=(); [ $f = csv ] && schema=(--schema="$WORK/clicks.schema")
  "$EMBARK_BIN" train-local --model=fm --format=$f "${schema[@]}" --train="$WORK/train.$f" --epochs=1 --shuffle_buffer=0 --compute_threads=1 \
    --metrics_out="$WORK/local.$f.jsonl" >"$WORK/log" 2>&1 || fail "train-local on $f exited $?"
done
loss_csv=$(tail -1 "$WORK/local.csv.jsonl" | grep -oE '"train_loss": [0-9.e-]+')
loss_ffm=$(tail -1 "$WORK/local.libffm.jsonl" | grep -oE '"train_loss": [0-9.e-]+')
[ -n "$loss_csv" ] && [ "$loss_csv" = "$loss_ffm" ] || fail "csv ($loss_csv) and libffm ($loss_ffm) runs differ: different keys?"

# A broken quote stops the job naming the file and line (line 1 is the header).
awk 'NR == 9 { print "o9,1,u3,i3,\"unclosed,5"; next } { print }' "$WORK/train.csv" > "$WORK/bad.csv"
"$LOCAL" --servers 1 --workers 2 -- train --model=lr --schema="$WORK/clicks.schema" --train="$WORK/bad.csv" \
  --epochs=1 >"$WORK/log" 2>&1 && fail "a bad quote did not fail the job"
grep -q "bad.csv:9: bad_quote" "$WORK/log" || fail "the bad line is not named as bad.csv:9: bad_quote"

# prepare: every data row is counted once (label 0 rows are no implicit interactions).
rows=$(($(wc -l < "$WORK/train.csv") - 1))
zeros=$(awk -F, 'NR > 1 && $1 !~ /^C/ && $3 != "NA" && $2 == 0' "$WORK/train.csv" | wc -l)
"$EMBARK_BIN" prepare --schema="$WORK/clicks.schema" --input="$WORK/train.csv" --out="$WORK/p" >"$WORK/log" 2>&1 \
  || fail "prepare exited $?"
for want in "\"rows_read\": $rows" '"cancelled": 5' '"missing_ids": 3' "\"negative_label\": $zeros"; do
  grep -qF "$want" "$WORK/p.report.json" || fail "prepare report lacks $want: $(cat "$WORK/p.report.json")"
done
train=$(wc -l < "$WORK/p.train.libffm"); test=$(wc -l < "$WORK/p.test.libffm")
grep -qF "\"train\": $train, \"test\": $test" "$WORK/p.report.json" || fail "report train/test differ from the files ($train, $test)"
grep -qvE '^1 0:u[0-9]+:1 1:i[0-9]+:1( 32:[a-z0-9]+:1)+$' "$WORK/p.train.libffm" && fail "a prepared line breaks the field convention"
assert_no_orphans
echo PASS
