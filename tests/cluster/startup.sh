# Start-up failures are reported, never hang: a rank that never registers is named after the
# start-up timeout; a cluster too small for its servers is refused; bad flags are refused.
source "$(dirname "$0")/../cluster_lib.sh" "$@"

# Rank 3 starts but never registers (as if it could not reach the scheduler).
"$LOCAL" --servers 1 --workers 2 -- kvcheck --startup_timeout=3 --fault=3:no_register >"$WORK/log" 2>&1 &
job=$!
wait_for_exit $job 30; rc=$RC
[ "$rc" != timeout ] || { kill_ours; fail "start-up did not time out"; }
[ "$rc" != 0 ] || fail "start-up timeout exited 0"
grep -q "did not register.*rank 3 (worker 1)" "$WORK/log" || fail "the missing rank is not named"

# Rank 3 never starts at all: MPI_Init itself waits for it, and its watchdog ends the wait.
cat >"$WORK/wrap.sh" <<EOW
#!/usr/bin/env bash
[ "\$OMPI_COMM_WORLD_RANK" = 3 ] && exec sleep 60
exec "$EMBARK_BIN" "\$@"
EOW
chmod +x "$WORK/wrap.sh"
EMBARK_BIN="$WORK/wrap.sh" "$LOCAL" --servers 1 --workers 2 -- kvcheck --startup_timeout=3 >"$WORK/log" 2>&1 &
job=$!
wait_for_exit $job 30; rc=$RC
[ "$rc" != timeout ] || { kill_ours; fail "MPI start-up did not time out"; }
[ "$rc" != 0 ] || fail "MPI start-up timeout exited 0"
grep -q "MPI_Init did not complete" "$WORK/log" || fail "no MPI_Init timeout message"

"$LOCAL" --servers 3 --workers 0 -- kvcheck >"$WORK/log" 2>&1 && fail "0 workers accepted"
"$EMBARK_BIN" kvcheck --no_such_flag >"$WORK/log" 2>&1 && fail "unknown flag accepted"
grep -q "no_such_flag" "$WORK/log" || fail "unknown flag not named"
assert_no_orphans
echo PASS
