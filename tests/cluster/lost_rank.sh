# A worker killed, a server killed, and a hung (stopped) worker each make the whole job exit
# non-zero within the heartbeat timeout, with a message naming the lost rank and its role;
# no process is left behind.
# --shm is on by default, so the workers hold shared-memory slots of the server when it is killed.
source "$(dirname "$0")/../cluster_lib.sh" "$@"

run_and_break() {  # $1 = rank to break, $2 = signal, $3 = expected text
  "$LOCAL" --servers 1 --workers 2 -- bench --seconds=600 --val_len=4 --batch_keys=1000 \
      --heartbeat_interval=0.25 --heartbeat_timeout=3 >"$WORK/log" 2>&1 &
  local job=$!
  local pid
  pid=$(pid_of_rank "$1" "$WORK/log") || { kill -9 $job; fail "rank $1 never started"; }
  sleep 1.5
  kill "-$2" "$pid"
  local rc
  wait_for_exit $job 20; rc=$RC
  [ "$rc" != timeout ] || { kill_ours; fail "job still running 20 s after SIG$2 to rank $1"; }
  [ "$rc" != 0 ] || fail "job exited 0 after SIG$2 to rank $1"
  grep -q "$3" "$WORK/log" || fail "no message '$3' after SIG$2 to rank $1"
  assert_no_orphans
}

run_and_break 3 KILL "lost rank 3 (worker 1"
run_and_break 1 KILL "lost rank 1 (server 0"
run_and_break 2 STOP "lost rank 2 (worker 0.*no heartbeat"
echo PASS
