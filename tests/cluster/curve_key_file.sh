# --curve_key_file: `embark curve-keygen` writes a key pair with mode 0600; a job whose ranks
# all read it runs as usual (kvcheck verifies); the same file made readable by group or others
# is refused before any socket opens, with a message naming the file and the fix.
source "$(dirname "$0")/../cluster_lib.sh" "$@"

"$EMBARK_BIN" curve-keygen --out="$WORK/job.key" >"$WORK/log" 2>&1 || fail "curve-keygen exited $?"
[ "$(stat -c %a "$WORK/job.key")" = 600 ] || fail "key file has mode $(stat -c %a "$WORK/job.key"), expected 600"
"$EMBARK_BIN" curve-keygen --out="$WORK/job.key" >"$WORK/log" 2>&1 && fail "curve-keygen replaced an existing key file"
"$LOCAL" --servers 1 --workers 2 -- kvcheck --curve_key_file="$WORK/job.key" --heartbeat_timeout=5 >"$WORK/log" 2>&1 \
  || fail "kvcheck with --curve_key_file exited $?"
grep -q "worker 1 verified" "$WORK/log" || fail "worker 1 did not verify"
chmod 644 "$WORK/job.key"
"$LOCAL" --servers 1 --workers 1 -- kvcheck --curve_key_file="$WORK/job.key" --heartbeat_timeout=5 --startup_timeout=20 \
  >"$WORK/log" 2>&1 && fail "a job started with a world-readable key file"
grep -q "CURVE key file $WORK/job.key: mode 644 lets group or others access it" "$WORK/log" \
  || fail "the refusal does not name the file and its mode"
assert_no_orphans
echo PASS
