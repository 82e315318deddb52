# Promotion delivery end to end on a generated world: clicks from `embark gen` (seed 4), an FM
# trained on them (1 server + 1 worker) and exported; `embark simulate` replays a day through
# delivery: with binding budgets every campaign ends within 5% of its budget (or short of
# demand) and none overspends; with larger budgets the model beats random delivery in clicks
# with a 95% interval above zero. `embark ope` estimates a policy on the simulated log and
# reports the truth; `embark log-export` turns the log into libffm that `embark train-local`
# trains on (and the trained model ranks gen's test clicks better than chance). `embark deliver`
# answers requests of a known user, a cold-start user and an outcome, refuses a bad line naming
# it, answers 404 for unknown users with --unknown_user=404, and refuses a bad campaigns file
# naming its line. `embark serve --campaigns` answers POST /deliver and /outcome the same way.
source "$(dirname "$0")/../cluster_lib.sh" "$@"

"$EMBARK_BIN" gen --kind=clicks --out="$WORK/w" --rows=20000 --users=500 --items=200 --seed=4 >/dev/null || fail "gen failed"
"$LOCAL" --servers 1 --workers 1 -- train --model=fm --format=libffm --train="$WORK/w.train.libffm" --epochs=2 \
  --checkpoint_dir="$WORK/ck" --checkpoint_every=1epoch --seed=4 >"$WORK/log" 2>&1 || fail "train exited $?"
"$EMBARK_BIN" export --checkpoint="$WORK/ck" --out="$WORK/fm" >"$WORK/log" 2>&1 || fail "export exited $?"
world=(--bundle="$WORK/fm" --seed=4 --users=500 --items=200 --num_campaigns=20 --arrivals=6000)

# Binding budgets: on budget or short of demand, never over.
"$EMBARK_BIN" simulate "${world[@]}" --out="$WORK/day" --decision_log="$WORK/day.log" >"$WORK/log" 2>&1 \
  || fail "simulate exited $?"
cp "$WORK/log" "$WORK/day.out"
awk '$1 == "model" || $1 == "popularity" || $1 == "random" {
       split($8, a, "/"); if (a[1] + $9 != a[2]) { print "policy " $1 ": " $8 " on budget + " $9 " short of demand"; bad = 1 } }
     /largest overspend/ { if ($3 > 0) { print "overspend " $3; bad = 1 } }
     END { exit bad }' "$WORK/day.out" >&2 || fail "a campaign missed its budget"
for f in campaigns.jsonl users.jsonl hourly.csv revenue.csv report.json; do [ -s "$WORK/day.$f" ] || fail "simulate wrote no day.$f"; done
[ "$(grep -c '"type":"decision"' "$WORK/day.log")" = 6000 ] || fail "the decision log does not hold 6000 decisions"

# Larger budgets: the model's choices show; its click lift over random is positive.
"$EMBARK_BIN" simulate "${world[@]}" --budget_fraction=3 --out="$WORK/rich" >"$WORK/log" 2>&1 || fail "simulate (rich) exited $?"
lift=$(grep "^lift of model over random in clicks" "$WORK/log") || fail "no click lift over random reported"
echo "$lift" | awk '{ gsub(/[\[\],]/, " "); for (i = 1; i <= NF; i++) if ($i == "CI") { exit !($(i + 1) > 0) } exit 1 }' \
  || fail "model-ranked delivery does not beat random with a 95% interval above 0: $lift"

# Off-policy estimates with the truth of the world.
"$EMBARK_BIN" ope --log="$WORK/day.log" --bundle="$WORK/fm" --campaigns="$WORK/day.campaigns.jsonl" --policy=greedy \
  --json_out="$WORK/ope.json" >"$WORK/log" 2>&1 || fail "ope exited $?"
grep -q "6000 decisions, .* 0 bad lines" "$WORK/log" || fail "ope did not read the whole log cleanly"
for e in ips snips dr truth; do grep -qE "^  $e +[0-9]" "$WORK/log" || fail "ope reports no $e"; done
# A damaged line is counted and named, not dropped.
{ cat "$WORK/day.log"; echo '{"type": "outcome", "decision": "x"}'; } > "$WORK/damaged.log"
"$EMBARK_BIN" ope --log="$WORK/damaged.log" --bundle="$WORK/fm" --campaigns="$WORK/day.campaigns.jsonl" >"$WORK/log" 2>&1
grep -q "1 bad lines" "$WORK/log" && grep -q "bad line $WORK/damaged.log:$(wc -l < "$WORK/damaged.log"):" "$WORK/log" \
  || fail "ope did not name the damaged line"

# The log as training data: every impression one libffm line, trainable, better than chance.
"$EMBARK_BIN" log-export --log="$WORK/day.log" --out="$WORK/logged.libffm" >"$WORK/log" 2>&1 || fail "log-export exited $?"
impressions=$(awk '$1 == "model" { print $3 }' "$WORK/day.out")
[ "$(wc -l < "$WORK/logged.libffm")" = "$impressions" ] || fail "log-export wrote $(wc -l < "$WORK/logged.libffm") lines for $impressions impressions"
"$EMBARK_BIN" train-local --model=fm --format=libffm --train="$WORK/logged.libffm" --test="$WORK/w.test.libffm" --epochs=3 \
  >"$WORK/log" 2>&1 || fail "train-local on the exported log exited $?"
auc=$(grep -oE "test_auc [0-9.]+" "$WORK/log" | tail -1 | cut -d' ' -f2)
awk -v a="$auc" 'BEGIN { exit !(a > 0.55) }' || fail "a model trained on the decision log has test AUC $auc (<= 0.55)"

# embark deliver: a known user, a stranger (cold start), an outcome, a bad line.
user=$(head -1 "$WORK/day.users.jsonl" | grep -oE '"id":"[^"]*"' | cut -d'"' -f4)
t=$(grep -oE '"start":[0-9]+' "$WORK/day.campaigns.jsonl" | head -1 | cut -d: -f2)
cat > "$WORK/requests.jsonl" <<REQ
{"user": "$user", "time": $((t + 3600)), "context": [[5, "2"]], "slots": 2}
{"user": "stranger", "time": $((t + 3601)), "segment": "age1"}
{"decision": 1, "slot": 0, "click": 1}
{"user": "$user", "slot": 2}
REQ
"$EMBARK_BIN" deliver --bundle="$WORK/fm" --campaigns="$WORK/day.campaigns.jsonl" --users="$WORK/day.users.jsonl" \
  --requests="$WORK/requests.jsonl" --out="$WORK/answers.jsonl" --decision_log="$WORK/deliver.log" 2>"$WORK/log"
[ $? = 1 ] || fail "deliver with a bad request line should exit 1"
sed -n 1p "$WORK/answers.jsonl" | grep -q '"cold_start":false' || fail "known user answered as cold start: $(sed -n 1p "$WORK/answers.jsonl")"
[ "$(sed -n 1p "$WORK/answers.jsonl" | grep -o '"propensity"' | wc -l)" = 2 ] || fail "two slots not filled with propensities"
sed -n 2p "$WORK/answers.jsonl" | grep -q '"cold_start":true' || fail "stranger not served cold start"
sed -n 3p "$WORK/answers.jsonl" | grep -q '"outcome":1' || fail "outcome not booked: $(sed -n 3p "$WORK/answers.jsonl")"
sed -n 4p "$WORK/answers.jsonl" | grep -q "requests.jsonl:4: unknown member" || fail "bad line not named: $(sed -n 4p "$WORK/answers.jsonl")"
[ "$(grep -c '"type":"decision"' "$WORK/deliver.log")" = 2 ] && [ "$(grep -c '"type":"outcome"' "$WORK/deliver.log")" = 1 ] \
  || fail "deliver's decision log does not hold 2 decisions and 1 outcome"
head -2 "$WORK/requests.jsonl" > "$WORK/two.jsonl"
"$EMBARK_BIN" deliver --bundle="$WORK/fm" --campaigns="$WORK/day.campaigns.jsonl" --users="$WORK/day.users.jsonl" \
  --requests="$WORK/two.jsonl" --unknown_user=404 --out="$WORK/answers404.jsonl" 2>"$WORK/log"
sed -n 2p "$WORK/answers404.jsonl" | grep -q '"status":404' || fail "unknown user not refused with 404"

# A bad campaigns file is refused naming its line.
{ head -2 "$WORK/day.campaigns.jsonl"; head -1 "$WORK/day.campaigns.jsonl"; } > "$WORK/dup.jsonl"
"$EMBARK_BIN" deliver --bundle="$WORK/fm" --campaigns="$WORK/dup.jsonl" --requests="$WORK/two.jsonl" >"$WORK/log" 2>&1 \
  && fail "deliver accepted a duplicate campaign id"
grep -q "dup.jsonl:3: duplicate campaign id" "$WORK/log" || fail "duplicate campaign not named by line: $(cat "$WORK/log")"
# embark serve --campaigns: POST /deliver and /outcome.
start_serve --bundle="$WORK/fm" --campaigns="$WORK/day.campaigns.jsonl" --users="$WORK/day.users.jsonl" \
  --decision_log="$WORK/serve.log" --unknown_user=404
grep -q "^serving fm bundle" "$WORK/serve.out" || fail "serve does not serve an fm bundle: $(cat "$WORK/serve.out")"
post() { curl -sS --max-time 20 -o "$WORK/body" -w '%{http_code}' -H 'Content-Type: application/json' --data-binary "$2" "$url$1"; }
code=$(post /deliver "{\"user\": \"$user\", \"time\": $((t + 7200)), \"slots\": 1}")
[ "$code" = 200 ] && grep -q '"propensity"' "$WORK/body" || fail "POST /deliver: $code $(cat "$WORK/body")"
decision=$(grep -oE '"decision":[0-9]+' "$WORK/body" | cut -d: -f2)
code=$(post /outcome "{\"decision\": $decision, \"slot\": 0, \"click\": 1}")
[ "$code" = 200 ] && grep -q '"charged"' "$WORK/body" || fail "POST /outcome: $code $(cat "$WORK/body")"
code=$(post /outcome "{\"decision\": $decision, \"slot\": 0, \"click\": 1}")
[ "$code" = 400 ] || fail "a second outcome of one pick answered $code"
code=$(post /deliver '{"user": "stranger"}')
[ "$code" = 404 ] || fail "unknown user answered $code, not 404"
code=$(post /deliver '{"user": "x", "slot": 1}')
[ "$code" = 400 ] && grep -q 'unknown member' "$WORK/body" || fail "bad request answered $code $(cat "$WORK/body")"
[ "$(grep -c '"type":"decision"' "$WORK/serve.log")" = 1 ] && [ "$(grep -c '"type":"outcome"' "$WORK/serve.log")" = 1 ] \
  || fail "serve's decision log does not hold 1 decision and 1 outcome"
kill -TERM "$server"
wait_for_exit "$server" 20
[ "$RC" = 0 ] || fail "serve did not stop cleanly on SIGTERM: $RC"
echo "deliver end to end: ok ($lift)"
