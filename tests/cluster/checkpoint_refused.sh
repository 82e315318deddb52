# Broken checkpoints are refused, naming the file, and the earlier complete ones are offered:
# a truncated worker position, a missing shard, a flipped byte in the base of a delta chain,
# and a checkpoint of another model. The checkpoints come from an MF run with a checkpoint
# every 40 steps (mid-epoch cuts, deltas between full ones).
source "$(dirname "$0")/../cluster_lib.sh" "$@"

"$EMBARK_BIN" gen --kind=ratings --out="$WORK/r" --rows=20000 --seed=7 >/dev/null || fail "gen failed"
common=(train --model=mf --train="$WORK/r.train.tsv" --epochs=1)
ck=(--checkpoint_dir="$WORK/ck" --checkpoint_every=40steps --full_every=3 --keep_checkpoints=2)
"$LOCAL" --servers 1 --workers 2 -- "${common[@]}" "${ck[@]}" >"$WORK/log" 2>&1 || fail "checkpointing run exited $?"
latest=$(ls -d "$WORK"/ck/epoch-1-step-*/ | xargs -n1 basename | sort -t- -k4 -n | tail -1)
base=$(grep '^base ' "$WORK/ck/$latest/MANIFEST" | awk '{print $2}')
[ -n "$base" ] || fail "the latest checkpoint $latest is not a delta"
mv "$WORK/ck" "$WORK/good"

refused() {  # $1 = what the refusal must name
  "$LOCAL" --servers 1 --workers 1 -- "${common[@]}" "${ck[@]}" --resume >"$WORK/log" 2>&1 && fail "accepted: $1"
  grep -q "$1" "$WORK/log" || fail "the refusal does not name $1"
  grep -q "earlier complete checkpoints: .*epoch-" "$WORK/log" || fail "no earlier checkpoint offered ($1)"
  rm -rf "$WORK/ck"
}
cp -r "$WORK/good" "$WORK/ck"
truncate -s -5 "$WORK/ck/$latest/worker-0.position"
refused "$latest/worker-0.position: truncated"
cp -r "$WORK/good" "$WORK/ck"
rm "$WORK/ck/$latest/server-0.shard"
refused "$latest/server-0.shard is missing"
cp -r "$WORK/good" "$WORK/ck"
printf 'X' | dd of="$WORK/ck/$base/server-0.shard" bs=1 seek=100 conv=notrunc 2>/dev/null
refused "$base/server-0.shard: checksum mismatch"
"$EMBARK_BIN" gen --kind=clicks --out="$WORK/c" --rows=2000 --seed=3 >/dev/null || fail "gen clicks failed"
"$LOCAL" --servers 1 --workers 1 -- train --model=lr --format=libsvm --train="$WORK/c.train.libsvm" --epochs=1 \
  --checkpoint_dir="$WORK/lrck" --checkpoint_every=1epoch >"$WORK/log" 2>&1 || fail "lr run exited $?"
cp -r "$WORK/good" "$WORK/ck"
mv "$WORK/lrck/epoch-1" "$WORK/ck/epoch-9"
refused "epoch-9/MANIFEST: a checkpoint of model lr, not mf"
assert_no_orphans
echo "PASS (refused: truncated position, missing shard, flipped byte in the base $base of $latest, another model)"
