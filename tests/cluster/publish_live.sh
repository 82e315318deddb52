# train --publish_dir: MF trained 3 epochs with a checkpoint every epoch (1 server + 2 workers)
# publishes each checkpoint as a version of D: v-0000000001 full, then deltas 2 and 3 (with
# --publish_full_every=10). `serve --watch --bundle=D` started after the job applies 1, 2, 3 in
# order and scores every test rating exactly as the trainer predicted it after epoch 3.
# Negative control: with --publish_full_every=1 every version is full.
source "$(dirname "$0")/../cluster_lib.sh" "$@"

"$EMBARK_BIN" gen --kind=ratings --out="$WORK/r" --rows=6000 --seed=3 >/dev/null || fail "gen failed"
D="$WORK/pub"
"$LOCAL" --servers 1 --workers 2 -- train --model=mf --train="$WORK/r.train.tsv" --test="$WORK/r.test.tsv" --dim=8 \
  --checkpoint_dir="$WORK/ck" --checkpoint_every=1epoch --seed=5 --epochs=3 --publish_dir="$D" --publish_full_every=10 \
  --predictions_out="$WORK/p.txt" >"$WORK/log" 2>&1 || { cat "$WORK/log" >&2; fail "train exited $?"; }
kind() { grep -oE '"kind": "[a-z]+"' "$D/$1/manifest.json" | cut -d'"' -f4; }
[ "$(kind v-0000000001)" = full ] || fail "version 1 is not a full bundle: $(ls "$D")"
[ "$(kind v-0000000002)" = delta ] || fail "version 2 is not a delta: $(ls "$D")"
[ "$(kind v-0000000003)" = delta ] || fail "version 3 is not a delta: $(ls "$D")"
[ ! -e "$D/v-0000000004" ] || fail "a fourth version for three checkpoints"

start_serve --bundle="$D" --watch --watch_interval=0.2
grep -q "^serving mf bundle" "$WORK/serve.out" || fail "serve is not serving an mf bundle: $(head -1 "$WORK/serve.out")"
served=$(curl -sS --max-time 5 "$url/version" | grep -oE 'v-[0-9]{10}' | head -1)
[ "$served" = v-0000000003 ] || fail "serve started at $served, not the newest version v-0000000003"
score_request_for_ratings "$WORK/r.test.tsv" "$WORK/all.json"
post /score @"$WORK/all.json" | scores > "$WORK/s.txt"
[ "$(wc -l < "$WORK/s.txt")" = "$(wc -l < "$WORK/p.txt")" ] || fail "$(wc -l < "$WORK/s.txt") scores for $(wc -l < "$WORK/p.txt") predictions"
paste "$WORK/s.txt" "$WORK/p.txt" | awk '{ d = $1 - $2; if (d < 0) d = -d; if (d > m) m = d } END { printf "%.3g\n", m; exit !(m <= 1e-6) }' \
  > "$WORK/maxdiff" || fail "served scores differ from the trainer's epoch-3 predictions by $(cat "$WORK/maxdiff")"
kill -TERM "$(jobs -p | head -1)"; wait "$(jobs -p | head -1)" || fail "serve exited $? on SIGTERM"

rm -rf "$WORK/ck" "$D"
"$LOCAL" --servers 1 --workers 2 -- train --model=mf --train="$WORK/r.train.tsv" --dim=8 --checkpoint_dir="$WORK/ck" \
  --checkpoint_every=1epoch --seed=5 --epochs=2 --publish_dir="$D" --publish_full_every=1 >"$WORK/log" 2>&1 || fail "train exited $?"
[ "$(kind v-0000000002)" = full ] || fail "--publish_full_every=1: version 2 is not full"
echo "publish_live: 3 versions (full, delta, delta) published and served; max diff to the trainer $(cat "$WORK/maxdiff")"
