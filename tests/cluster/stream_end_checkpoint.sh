# The natural end of a stream is checkpointed: a dir:// job that stops at --max_events (and
# one that stops at _SUCCESS) writes a last checkpoint at the positions where its workers'
# streams ended, although no --checkpoint_every cut fell due; a --resume after new parts
# arrived trains exactly the events not trained yet (the workers' --trained_log files list
# every event of the input once), and with --publish_dir each end is published. Without the end's checkpoint the resume would start over from the first
# part and train the first run's events twice.
source "$(dirname "$0")/../cluster_lib.sh" "$@"

"$EMBARK_BIN" gen --kind=clicks --out="$WORK/c" --rows=4000 --seed=5 >/dev/null || fail "gen failed"
mkdir "$WORK/parts" "$WORK/later"
split -n l/4 -d "$WORK/c.train.libsvm" "$WORK/later/part-"
for f in "$WORK"/later/part-*; do awk -v p="$(basename "$f")" '{ print p "\t" NR }' "$f"; done | sort > "$WORK/all.ids"
total=$(wc -l < "$WORK/all.ids")
mv "$WORK/later/part-00" "$WORK/later/part-01" "$WORK/parts/"
touch "$WORK/parts/part-00.done" "$WORK/parts/part-01.done"
job=(train --model=lr --train="dir://$WORK/parts" --batch_size=16 --checkpoint_dir="$WORK/ck" --checkpoint_every=1000000steps
     --trained_log="$WORK/tl" --publish_dir="$WORK/pub" --metrics_out="$WORK/m.jsonl")
"$LOCAL" --servers 1 --workers 2 -- "${job[@]}" --max_events=500 >"$WORK/log" 2>&1 || fail "the first run exited $?"
grep -q "every worker's stream ended: checkpointing where they ended" "$WORK/log" || fail "the stream's end was not checkpointed"
[ "$(ls "$WORK/ck" | grep -c '^epoch-')" = 1 ] || fail "expected one checkpoint, the end's: $(ls "$WORK/ck")"
first=$(cat "$WORK"/tl.* | wc -l)
[ "$first" = 1000 ] || fail "the first run trained $first events, not 2 workers x 500"
[ -d "$WORK/pub/v-0000000001" ] || fail "the end's checkpoint was not published"

# More parts arrive, then the stream is complete.
mv "$WORK"/later/part-* "$WORK/parts/"
touch "$WORK/parts/part-02.done" "$WORK/parts/part-03.done" "$WORK/parts/_SUCCESS"
"$LOCAL" --servers 1 --workers 2 -- "${job[@]}" --resume >"$WORK/log" 2>&1 || fail "the resume exited $?"
grep -q '"resumed_from"' "$WORK/m.jsonl" || fail "the second run did not resume"
cat "$WORK"/tl.* | sort > "$WORK/got"
dups=$(uniq -d "$WORK/got" | wc -l)
missing=$(comm -23 "$WORK/all.ids" <(sort -u "$WORK/got") | wc -l)
[ "$dups" = 0 ] && [ "$missing" = 0 ] && [ "$(wc -l < "$WORK/got")" = "$total" ] \
  || fail "after the resume: $dups events trained twice, $missing never (of $total)"
grep -q "every worker's stream ended: checkpointing where they ended" "$WORK/log" || fail "the end at _SUCCESS was not checkpointed"
[ -d "$WORK/pub/v-0000000002" ] || fail "the end at _SUCCESS was not published: $(ls "$WORK/pub")"
# A resume of a complete stream trains nothing more and still ends cleanly.
"$LOCAL" --servers 1 --workers 2 -- "${job[@]}" --resume >"$WORK/log" 2>&1 || fail "the resume of a complete stream exited $?"
[ "$(cat "$WORK"/tl.* | wc -l)" = "$total" ] || fail "the resume of a complete stream trained again"
grep -q "every worker's stream ended: checkpointing" "$WORK/log" && fail "a run that trained nothing wrote a checkpoint"
assert_no_orphans
echo "PASS ($first events, then the other $((total - first)) after the resume)"
