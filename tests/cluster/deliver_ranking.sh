# Delivery with a ranking model: an implicit-feedback MF (imf) trained on `gen --kind=implicit`
# data and exported ranks item promotions for a user by the sigmoid of its user-item score.
# Campaigns promote two items the user bought in training and three it did not; greedy delivery
# of three slots puts a bought item first (a model that learnt nothing would do that 2 times in
# 5), with the pCTR equal to the bundle's own /score of the same (user, item) pair.
source "$(dirname "$0")/../cluster_lib.sh" "$@"

"$EMBARK_BIN" gen --kind=implicit --out="$WORK/imp" --rows=5000 --seed=2 >/dev/null || fail "gen failed"
"$LOCAL" --servers 1 --workers 1 -- train --model=imf --train="$WORK/imp.train.libffm" --epochs=3 \
  --checkpoint_dir="$WORK/ck" --checkpoint_every=1epoch --seed=2 >"$WORK/log" 2>&1 || fail "train exited $?"
"$EMBARK_BIN" export --checkpoint="$WORK/ck" --out="$WORK/imf" >"$WORK/log" 2>&1 || fail "export exited $?"
bought=$(awk '$2 == "0:0:1" { for (i = 3; i <= NF; i++) if ($i ~ /^1:/) { split($i, a, ":"); print a[2] } }' \
  "$WORK/imp.train.libffm" | sort -u)
[ "$(echo "$bought" | wc -l)" -ge 2 ] || fail "user 0 has fewer than 2 training items"
others=$(awk '{ split($2, a, ":"); print a[2] }' "$WORK/imp.items.libffm" | grep -vxF "$bought" | head -3)
for i in $(echo "$bought" | head -2) $others; do
  echo "{\"id\": \"c$i\", \"item\": \"$i\", \"features\": [[1, \"$i\"]], \"bid\": 1, \"bid_type\": \"cpc\", \"daily_budget\": 100, \"start\": 0, \"end\": 4000000000}"
done > "$WORK/campaigns.jsonl"
echo '{"user": "0", "time": 1767229200, "user_features": [[0, "0"]], "slots": 3}' > "$WORK/requests.jsonl"
"$EMBARK_BIN" deliver --bundle="$WORK/imf" --campaigns="$WORK/campaigns.jsonl" --requests="$WORK/requests.jsonl" \
  --policy=greedy --out="$WORK/answer.jsonl" 2>"$WORK/log" || fail "deliver exited $?"
first=$(grep -oE '"item":"[^"]*"' "$WORK/answer.jsonl" | head -1 | cut -d'"' -f4)
echo "$bought" | head -2 | grep -qxF "$first" || fail "the first slot promotes item $first, not one user 0 bought: $(cat "$WORK/answer.jsonl")"
[ "$(grep -o '"slot"' "$WORK/answer.jsonl" | wc -l)" = 3 ] || fail "three slots not filled: $(cat "$WORK/answer.jsonl")"
# The pCTR is the served model's score of the pair.
pctr=$(grep -oE '"pctr":[0-9.e-]+' "$WORK/answer.jsonl" | head -1 | cut -d: -f2)
start_serve --bundle="$WORK/imf"
score=$(curl -sS --max-time 20 --data-binary "{\"features\": [[0, \"0\"], [1, \"$first\"]]}" "$url/score" | grep -oE '"scores":\[[^]]*' | cut -d[ -f2)
kill -TERM "$server"
wait_for_exit "$server" 20
awk -v a="$pctr" -v b="$score" 'BEGIN { d = a - b; exit !(d < 1e-6 && -d < 1e-6) }' || fail "pCTR $pctr differs from /score $score"
echo "deliver ranking: ok (first slot item $first, pCTR $pctr)"
