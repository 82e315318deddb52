# kvcheck with requests through shared memory (--shm=on) and through TCP (--shm=off) passes
# and gives the same initial-row digest; the servers report how many requests came through
# shared memory (some with on, none with off); a ring too small for the requests in flight
# (--shm_mb=1, 25000 keys in one message per server: two 600 KB pushes in flight, so the
# second finds the ring full) mixes slots and frames and stays exact; no segment is left in
# /dev/shm by any worker.
source "$(dirname "$0")/../cluster_lib.sh" "$@"

shm_count() {  # sum of "N through shared memory" over the servers' final lines
  grep -oE '[0-9]+ through shared memory' "$WORK/log" | awk '{ s += $1 } END { print s + 0 }'
}
request_count() {
  grep -oE 'done: .* [0-9]+ requests' "$WORK/log" | grep -oE '[0-9]+ requests' | awk '{ s += $1 } END { print s + 0 }'
}
assert_no_segments_left() {
  local rank pid
  for rank in "$@"; do
    pid=$(pid_of_rank "$rank" "$WORK/log") || fail "no pid for rank $rank in the log"
    ls /dev/shm/embark-shm-"$pid"-* >/dev/null 2>&1 && fail "segments of rank $rank (pid $pid) left: $(ls /dev/shm/embark-shm-"$pid"-*)"
  done
  return 0
}

for mode in on off; do
  "$LOCAL" --servers 1 --workers 2 -- kvcheck --shm=$mode --digest_out="$WORK/d_$mode" --heartbeat_timeout=5 >"$WORK/log" 2>&1 \
    || fail "kvcheck with --shm=$mode exited $?"
  grep -q "worker 1 verified" "$WORK/log" || fail "worker 1 did not verify with --shm=$mode"
  n=$(shm_count)
  if [ $mode = on ]; then
    [ "$n" -gt 0 ] || fail "--shm=on: no request went through shared memory"
  else
    [ "$n" = 0 ] || fail "--shm=off: $n requests went through shared memory"
  fi
  assert_no_segments_left 2 3
done
[ -s "$WORK/d_on" ] && cmp -s "$WORK/d_on" "$WORK/d_off" || fail "initial rows differ between --shm=on and off"

"$LOCAL" --servers 1 --workers 2 -- kvcheck --shm=on --shm_mb=1 --max_message_kb=0 --check_keys=25000 \
    --heartbeat_timeout=5 >"$WORK/log" 2>&1 \
  || fail "kvcheck with a 1 MiB ring exited $?"
grep -q "worker 1 verified" "$WORK/log" || fail "worker 1 did not verify with a 1 MiB ring"
n=$(shm_count); total=$(request_count)
[ "$n" -gt 0 ] && [ "$n" -lt "$total" ] || fail "a 1 MiB ring should mix slots and frames: $n of $total requests through shared memory"
assert_no_segments_left 2 3
assert_no_orphans
echo "PASS ($n of $total requests through shared memory with the 1 MiB ring)"
