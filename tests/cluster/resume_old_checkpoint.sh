# A checkpoint written by the previous version (tests/fixtures/old_format/ck_mf: FNV-1a shard
# format 1, EMBKSUM1 scheduler state, a MANIFEST ending "checksum C") resumes: the server
# loads its rows, the scheduler its state, and the job continues from epoch 1, writing a delta
# checkpoint in the new format (CRC-32) on top of the old full one. `export` then reads the
# mixed chain.
source "$(dirname "$0")/../cluster_lib.sh" "$@"

fixtures="$ROOT/tests/fixtures/old_format"
cp -r "$fixtures/ck_mf" "$WORK/ck" || fail "cannot copy the fixture"
tail -1 "$WORK/ck/epoch-1/MANIFEST" | grep -q "^checksum " || fail "the fixture is not an old-format checkpoint"
"$LOCAL" --servers 1 --workers 1 -- train --model=mf --train="$fixtures/mf.train.tsv" --epochs=2 --dim=2 \
  --checkpoint_dir="$WORK/ck" --checkpoint_every=1epoch --resume --seed=4 --metrics_out="$WORK/m.jsonl" \
  >"$WORK/log" 2>&1 || fail "resume from the old checkpoint exited $?"
head -1 "$WORK/m.jsonl" | grep -q '"resumed_from_epoch": 1' || fail "did not resume from epoch 1: $(head -1 "$WORK/m.jsonl")"
grep -q '"epoch": 2' "$WORK/m.jsonl" || fail "no epoch 2 after resuming"
grep -q "^kind delta" "$WORK/ck/epoch-2/MANIFEST" || fail "epoch 2 is not a delta of the old checkpoint"
tail -1 "$WORK/ck/epoch-2/MANIFEST" | grep -q "^crc32 " || fail "the new MANIFEST does not end with a crc32 line"
"$EMBARK_BIN" export --checkpoint="$WORK/ck" --out="$WORK/b" >"$WORK/log" 2>&1 || fail "export of the mixed chain exited $?"
grep -q "epoch-2 to .*: full bundle" "$WORK/log" || fail "export did not read the newest checkpoint"
