# A stream that trained a burst and then went quiet still checkpoints (and publishes) on time:
# one part of 1000 events, then nothing; with --checkpoint_every=1s the first checkpoint and
# the first published version appear within seconds, before any further event arrives (time
# cuts used to start only when a worker reported a clock, and an idle worker reports none).
source "$(dirname "$0")/../cluster_lib.sh" "$@"

"$EMBARK_BIN" gen --kind=clicks --out="$WORK/c" --rows=2000 --seed=7 >/dev/null || fail "gen failed"
mkdir "$WORK/parts"
head -n 1000 "$WORK/c.train.libsvm" > "$WORK/parts/part-00"
touch "$WORK/parts/part-00.done"
"$LOCAL" --servers 1 --workers 1 -- train --model=lr --train="dir://$WORK/parts" --checkpoint_dir="$WORK/ck" \
  --checkpoint_every=1s --publish_dir="$WORK/pub" >"$WORK/log" 2>&1 &
job=$!
for _ in $(seq 1 150); do [ -d "$WORK/pub/v-0000000001" ] && break; sleep 0.1; done
[ -d "$WORK/pub/v-0000000001" ] || { kill "$job"; fail "the quiet stream published nothing within 15 s"; }
ls "$WORK/ck" | grep -q "^epoch-1-step-" || { kill "$job"; fail "no checkpoint of the quiet stream: $(ls "$WORK/ck")"; }
touch "$WORK/parts/_SUCCESS"
wait_for_exit "$job" 60
[ "$RC" = 0 ] || fail "the job did not end at _SUCCESS: $RC"
echo "stream_quiet_checkpoint: published $(ls -d "$WORK/pub"/v-* | wc -l) version(s) while the stream was quiet"
