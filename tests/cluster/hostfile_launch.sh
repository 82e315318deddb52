# The hostfile launcher starts a working cluster: a one-host hostfile, every rank advertising
# its address on the loopback interface (--iface lo), running the self-verifying kvcheck.
source "$(dirname "$0")/../cluster_lib.sh" "$@"
echo "localhost slots=8" > "$WORK/hosts"
[ "$(id -u)" = 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
"$ROOT/launch/hostfile.sh" --hostfile "$WORK/hosts" --servers 1 --workers 2 --iface lo -- kvcheck \
  --heartbeat_timeout=5 >"$WORK/log" 2>&1 || fail "hostfile launch exited $?"
grep -q "worker 1 verified" "$WORK/log" || fail "worker 1 did not verify"
grep -q "tcp://127.0.0.1:" "$WORK/log" || fail "ranks did not advertise the loopback address"
"$ROOT/launch/hostfile.sh" --hostfile "$WORK/missing" --servers 1 --workers 1 -- kvcheck >"$WORK/log" 2>&1 \
  && fail "a missing hostfile was accepted"
grep -q "hostfile" "$WORK/log" || fail "the missing hostfile is not named"
assert_no_orphans
echo PASS
