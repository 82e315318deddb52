# Serving end to end: MF trained for one epoch with a checkpoint (1 server + 2 workers), exported
# with `embark export --seen_from`, served by `embark serve --index=hnsw --watch` (no --seed: the
# job's --seed 5 comes from the bundle). Every test rating scored over HTTP equals the
# trainer's --predictions_out value to 1e-6 (and one curl'd score too); /topk answers with
# excluded items and the user's training items left out, include_seen brings those back; the
# HNSW recall is reported. Then training resumes
# for a second epoch, a DELTA bundle is exported and published at the served path; the watcher
# applies it, and the scores equal the second run's predictions. SIGTERM stops the server (0).
source "$(dirname "$0")/../cluster_lib.sh" "$@"

"$EMBARK_BIN" gen --kind=ratings --out="$WORK/r" --rows=20000 --seed=7 >/dev/null || fail "gen failed"
common=(train --model=mf --train="$WORK/r.train.tsv" --test="$WORK/r.test.tsv" --dim=16
        --checkpoint_dir="$WORK/ck" --checkpoint_every=1epoch --seed=5)
"$LOCAL" --servers 1 --workers 2 -- "${common[@]}" --epochs=1 --predictions_out="$WORK/p1.txt" >"$WORK/log" 2>&1 \
  || fail "train exited $?"
"$EMBARK_BIN" export --checkpoint="$WORK/ck" --out="$WORK/live" --ids_from="$WORK/r.train.tsv" --format=ratings \
  --seen_from="$WORK/r.train.tsv" >"$WORK/log" 2>&1 || fail "export exited $?"
grep -q "^seed 5$" "$WORK/ck/epoch-1/MANIFEST" || fail "the checkpoint MANIFEST does not record --seed=5"
grep -qE '"seed": 5[,}]' "$WORK/live/manifest.json" || fail "the bundle's source does not carry the seed"
grep -q "^seen items: " "$WORK/log" || fail "export does not report the seen items"

start_serve --bundle="$WORK/live" --index=hnsw --watch --watch_interval=0.2
grep -q "^serving mf bundle" "$WORK/serve.out" || fail "serve is not serving an mf bundle: $(head -1 "$WORK/serve.out")"

# Every test rating in one request ({"examples": [[[0, "user"], [1, "item"]], ...]}), in file order.
score_request_for_ratings "$WORK/r.test.tsv" "$WORK/all.json"
# Compares served scores (file $1) with predictions (file $2) line by line.
compare() {
  [ "$(wc -l < "$1")" = "$(wc -l < "$2")" ] || fail "$(wc -l < "$1") scores for $(wc -l < "$2") predictions"
  paste "$1" "$2" | awk '{ d = $1 - $2; if (d < 0) d = -d; if (d > m) m = d } END { printf "%.3g\n", m; exit !(m <= 1e-6) }' \
    > "$WORK/maxdiff" || fail "served scores differ from the trainer's predictions by $(cat "$WORK/maxdiff") (> 1e-6)"
}
post /score @"$WORK/all.json" | scores > "$WORK/s1.txt"
compare "$WORK/s1.txt" "$WORK/p1.txt"
diff1=$(cat "$WORK/maxdiff")

# One rating by hand, as a user would, and as a raw line of the training format.
IFS=$'\t' read -r user item _ < "$WORK/r.test.tsv"
one=$(post /score "{\"features\": [[0, \"$user\"], [1, \"$item\"]]}" | scores)
awk -v a="$one" -v b="$(head -1 "$WORK/p1.txt")" 'BEGIN { d = a - b; exit !(d <= 1e-6 && -d <= 1e-6) }' \
  || fail "curl'd score $one differs from the first prediction $(head -1 "$WORK/p1.txt")"
line=$(head -1 "$WORK/r.test.tsv" | sed 's/\t/\\t/g')
raw=$(post /score "{\"lines\": [\"$line\"]}" | scores)
[ "$raw" = "$one" ] || fail "the raw-line score $raw differs from the features score $one"

# Top-K: 10 items with raw ids, the excluded one absent; recall of the index reported.
top=$(post /topk "{\"user\": \"$user\", \"k\": 10}")
[ "$(echo "$top" | grep -oE '"id":"[^"]*"' | wc -l)" = 10 ] || fail "topk: expected 10 items with ids: $top"
first=$(echo "$top" | grep -oE '"id":"[^"]*"' | head -1 | cut -d'"' -f4)
post /topk "{\"user\": \"$user\", \"k\": 10, \"exclude\": [\"$first\"]}" | grep -q "\"id\":\"$first\"" \
  && fail "topk returned the excluded item $first"
# Seen items: none of the user's training items among its 50 best unless include_seen, and the
# include_seen ranking without them is the default ranking.
post /topk "{\"user\": \"$user\", \"k\": 50, \"exact\": true}" > "$WORK/unseen.json"
post /topk "{\"user\": \"$user\", \"k\": 50, \"include_seen\": true, \"exact\": true}" > "$WORK/all.topk.json"
python3 - "$WORK" "$user" <<'EOF' || fail "seen items are not excluded as documented"
import json, sys
work, user = sys.argv[1], sys.argv[2]
seen = {l.split("\t")[1] for l in open(work + "/r.train.tsv") if l.split("\t")[0] == user}
unseen = [i["id"] for i in json.load(open(work + "/unseen.json"))["items"]]
everything = [i["id"] for i in json.load(open(work + "/all.topk.json"))["items"]]
assert seen, "the user has no training items"
assert len(unseen) == 50 and not seen & set(unseen), "a seen item was recommended"
assert seen & set(everything), "include_seen brought back none of the user's %d items" % len(seen)
kept = [i for i in everything if i not in seen]
assert unseen[:len(kept)] == kept, "the two rankings disagree"
EOF
recall=$(curl -sS --max-time 5 "$url/version" | grep -oE '"recall_at_10":[0-9.]+' | cut -d: -f2)
awk -v r="$recall" 'BEGIN { exit !(r >= 0.9) }' || fail "hnsw recall@10 '$recall' below 0.9"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -d '{"user": "nobody-at-all"}' "$url/topk")
[ "$code" = 404 ] || fail "unknown user: expected 404, got $code"

# Epoch 2 (resumed from the checkpoint), exported as a delta against the served bundle and
# published at the served path; the watcher applies it.
v1=$(curl -sS --max-time 5 "$url/version" | grep -oE '"version":"[0-9a-f]+"')
"$LOCAL" --servers 1 --workers 2 -- "${common[@]}" --epochs=2 --resume --predictions_out="$WORK/p2.txt" >"$WORK/log" 2>&1 \
  || fail "resumed train exited $?"
"$EMBARK_BIN" export --checkpoint="$WORK/ck" --base="$WORK/live" --out="$WORK/delta" >"$WORK/log" 2>&1 \
  || fail "delta export exited $?"
mv "$WORK/live" "$WORK/live.base" && mv "$WORK/delta" "$WORK/live"
for _ in $(seq 1 150); do
  v=$(curl -sS --max-time 5 "$url/version" | grep -oE '"version":"[0-9a-f]+"')
  [ -n "$v" ] && [ "$v" != "$v1" ] && break
  sleep 0.2
done
[ "$v" != "$v1" ] || { cat "$WORK/serve.err" >&2; fail "the watcher did not apply the delta within 30 s"; }
post /score @"$WORK/all.json" | scores > "$WORK/s2.txt"
compare "$WORK/s2.txt" "$WORK/p2.txt"
cmp -s "$WORK/s1.txt" "$WORK/s2.txt" && fail "scores did not change after the delta"
# The delta was exported without --seen_from: the served bundle's seen items are kept.
seen1=$(awk -F'\t' -v u="$user" '$1 == u { print $2; exit }' "$WORK/r.train.tsv")
post /topk "{\"user\": \"$user\", \"k\": 1000}" | grep -q "\"id\":\"$seen1\"" \
  && fail "after the delta, the seen item $seen1 is recommended"

kill -TERM $server
wait_for_exit $server 20
[ "$RC" = 0 ] || fail "serve exited with $RC after SIGTERM"
assert_no_orphans
echo "PASS (max |serve - trainer| $diff1 after epoch 1, $(cat "$WORK/maxdiff") after the delta; hnsw recall@10 $recall)"
