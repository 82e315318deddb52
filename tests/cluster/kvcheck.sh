# Pulled values equal what was pushed; concurrent pushes of all workers are applied exactly
# (integer gradients, SGD lr 1, duplicates summed, several requests in flight, dense blocks);
# initial rows do not depend on the number of servers or server threads; requests split into
# many messages (--max_message_kb=1) give the same results as one message per server.
source "$(dirname "$0")/../cluster_lib.sh" "$@"

"$LOCAL" --servers 1 --workers 2 -- kvcheck --digest_out="$WORK/d1" --heartbeat_timeout=5 --max_message_kb=0 >"$WORK/log" 2>&1 \
  || fail "kvcheck on 1 server + 2 workers exited $?"
grep -q "worker 1 verified" "$WORK/log" || fail "worker 1 did not verify"
"$LOCAL" --servers 2 --workers 2 --server_threads 2 -- kvcheck --digest_out="$WORK/d2" --heartbeat_timeout=5 --max_message_kb=1 >"$WORK/log" 2>&1 \
  || fail "kvcheck on 2 servers (2 threads each) + 2 workers exited $?"
grep -q "server 1 done" "$WORK/log" || fail "second server did not serve"
[ -s "$WORK/d1" ] && cmp -s "$WORK/d1" "$WORK/d2" || fail "initial rows differ between 1 and 2 servers: $(cat "$WORK/d1") vs $(cat "$WORK/d2")"
assert_no_orphans
echo PASS
