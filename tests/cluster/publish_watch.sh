# serve --watch on a live-publishing directory (serving/publish_dir.h): MF trained one epoch,
# exported as the full version D/v-0000000001 and served; training resumes for a second epoch,
# whose delta (against version 1) is published as D/v-0000000002: serve applies it and its
# scores equal the second run's predictions. Negative controls: a damaged v-0000000003 is
# refused naming the file and version 2 keeps serving (same scores); a gap (v-0000000005
# without 4) is refused naming the missing version. SIGTERM stops the server (0).
source "$(dirname "$0")/../cluster_lib.sh" "$@"

"$EMBARK_BIN" gen --kind=ratings --out="$WORK/r" --rows=6000 --seed=3 >/dev/null || fail "gen failed"
common=(train --model=mf --train="$WORK/r.train.tsv" --test="$WORK/r.test.tsv" --dim=8
        --checkpoint_dir="$WORK/ck" --checkpoint_every=1epoch --seed=5)
"$LOCAL" --servers 1 --workers 2 -- "${common[@]}" --epochs=1 --predictions_out="$WORK/p1.txt" >"$WORK/log" 2>&1 \
  || fail "train exited $?"
D="$WORK/pub"
mkdir -p "$D"
"$EMBARK_BIN" export --checkpoint="$WORK/ck" --out="$D/v-0000000001" >"$WORK/log" 2>&1 || fail "export exited $?"

start_serve --bundle="$D" --watch --watch_interval=0.2
grep -q "^serving mf bundle" "$WORK/serve.out" || fail "serve is not serving an mf bundle: $(head -1 "$WORK/serve.out")"
served_path() { curl -sS --max-time 5 "$url/version" | grep -oE 'v-[0-9]{10}' | head -1; }
score_request_for_ratings "$WORK/r.test.tsv" "$WORK/all.json"
compare() {
  [ "$(wc -l < "$1")" = "$(wc -l < "$2")" ] || fail "$(wc -l < "$1") scores for $(wc -l < "$2") predictions"
  paste "$1" "$2" | awk '{ d = $1 - $2; if (d < 0) d = -d; if (d > m) m = d } END { printf "%.3g\n", m; exit !(m <= 1e-6) }' \
    > "$WORK/maxdiff" || fail "$3: served scores differ from the trainer's predictions by $(cat "$WORK/maxdiff") (> 1e-6)"
}
[ "$(served_path)" = v-0000000001 ] || fail "serve does not name version 1 in /version: $(curl -sS "$url/version")"
post /score @"$WORK/all.json" | scores > "$WORK/s1.txt"
compare "$WORK/s1.txt" "$WORK/p1.txt" "version 1"

"$LOCAL" --servers 1 --workers 2 -- "${common[@]}" --epochs=2 --resume --predictions_out="$WORK/p2.txt" >"$WORK/log" 2>&1 \
  || fail "resumed train exited $?"
"$EMBARK_BIN" export --checkpoint="$WORK/ck" --base="$D/v-0000000001" --out="$WORK/d2" >"$WORK/log" 2>&1 \
  || fail "delta export exited $?"
mv "$WORK/d2" "$D/v-0000000002"
for _ in $(seq 1 150); do [ "$(served_path)" = v-0000000002 ] && break; sleep 0.1; done
[ "$(served_path)" = v-0000000002 ] || { cat "$WORK/serve.err" >&2; fail "serve did not apply version 2 within 15 s"; }
post /score @"$WORK/all.json" | scores > "$WORK/s2.txt"
compare "$WORK/s2.txt" "$WORK/p2.txt" "version 2"

# Damaged version 3: a delta (against version 2's full form) with a flipped byte.
"$EMBARK_BIN" export --checkpoint="$WORK/ck" --out="$WORK/f2" >"$WORK/log" 2>&1 || fail "full export exited $?"
"$EMBARK_BIN" export --checkpoint="$WORK/ck" --base="$WORK/f2" --out="$WORK/d3" >"$WORK/log" 2>&1 || fail "export exited $?"
printf '\x7f' | dd of="$WORK/d3/user.keys.npy" bs=1 seek=128 conv=notrunc 2>/dev/null
mv "$WORK/d3" "$D/v-0000000003"
for _ in $(seq 1 100); do grep -q "v-0000000003" "$WORK/serve.err" && break; sleep 0.1; done
grep "refusing published version .*v-0000000003" "$WORK/serve.err" | grep -q "user.keys.npy" \
  || { cat "$WORK/serve.err" >&2; fail "the damaged version 3 was not refused naming its file"; }
[ "$(served_path)" = v-0000000002 ] || fail "after the damaged version serve moved to $(served_path)"
post /score @"$WORK/all.json" | scores > "$WORK/s3.txt"
cmp -s "$WORK/s2.txt" "$WORK/s3.txt" || fail "scores changed after a refused version"

# A gap: version 5 without 3 (removed) and 4.
rm -rf "$D/v-0000000003"
cp -r "$D/v-0000000002" "$D/v-0000000005"
for _ in $(seq 1 100); do grep -q "v-0000000003 is missing" "$WORK/serve.err" && break; sleep 0.1; done
grep -q "gap in .*v-0000000003 is missing" "$WORK/serve.err" || { cat "$WORK/serve.err" >&2; fail "the gap was not refused naming the missing version"; }
[ "$(served_path)" = v-0000000002 ] || fail "after the gap serve moved to $(served_path)"

kill -TERM "$(jobs -p | head -1)"
wait "$(jobs -p | head -1)" || fail "serve exited $? on SIGTERM"
echo "publish_watch: versions 1 and 2 served with the trainer's predictions (max diff $(cat "$WORK/maxdiff")); damaged version and gap refused"
