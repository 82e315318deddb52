# The multi-host harness (launch/netns.sh): ranks on simulated hosts (network namespaces on a
# bridge, 1 Gbit/s links) talk over the links and never through shared memory across hosts.
# 1. MF on 3 hosts, dedicated layout (host 0: scheduler + server, hosts 1 and 2: one worker
#    each): finishes with a test RMSE clearly better than the global mean's, the hosts' link
#    byte counters grew (every worker host sent and received), the server took no request
#    through shared memory and no worker set up a ring.
# 2. kvcheck on 2 hosts, colocated (one server + one worker per host): each worker uses shared
#    memory with the server of its own host only, the other server over the link.
# Both: no namespace of the run is left. SKIP (exit 0) only where the kernel refuses network
# namespaces.
source "$(dirname "$0")/../cluster_lib.sh" "$@"
NETNS="$ROOT/launch/netns.sh"
probe="embprobe$$"
if ! err=$(ip netns add "$probe" 2>&1); then
  echo "SKIP: network namespaces unavailable here ('ip netns add' failed: $err)"
  exit 0
fi
ip netns del "$probe"

# The namespaces named in the launcher's banner must be gone after it exits.
assert_namespaces_removed() {
  local prefix
  prefix=$(grep -oE 'namespaces emb[0-9]+-' "$WORK/log" | head -1 | awk '{print $2}')
  [ -n "$prefix" ] || fail "the launcher did not name its namespaces"
  ip netns list | grep -q "^$prefix" && fail "namespaces left behind: $(ip netns list | grep "^$prefix" | tr '\n' ' ')"
  return 0
}
json_num() { grep -oE "\"$1\": [0-9]+" | head -1 | grep -oE '[0-9]+$'; }

"$EMBARK_BIN" gen --kind=ratings --out="$WORK/r" --rows=30000 --seed=7 >/dev/null || fail "gen failed"
"$NETNS" --hosts 3 --layout dedicated --rate 1gbit --counters "$WORK/c.json" -- train --model=mf \
  --train="$WORK/r.train.tsv" --test="$WORK/r.test.tsv" --epochs=4 --metrics_out="$WORK/m.jsonl" \
  --predictions_out="$WORK/p.txt" --progress_every=5 --heartbeat_timeout=10 >"$WORK/log" 2>&1 || fail "train on 3 simulated hosts exited $?"
assert_namespaces_removed
grep -q "rank -> host: 0:h0 1:h0 2:h1 3:h2" "$WORK/log" || fail "unexpected rank placement: $(grep -o 'rank -> host:.*' "$WORK/log")"
for ip in 10.213.9.1 10.213.9.2 10.213.9.3; do
  grep -q "tcp://$ip:" "$WORK/log" || fail "no rank advertised $ip"
done
tail -1 "$WORK/m.jsonl" | grep -q '"final": true' || fail "no final metrics line"
read -r rmse baseline < <(awk -F'\t' 'NR==FNR { s += $3; n++; next }
  FILENAME == ARGV[2] { r[FNR] = $3; next }
  { e = $1 - r[FNR]; se += e * e; b = (s / n) - r[FNR]; sb += b * b; m++ }
  END { printf "%.6f %.6f\n", sqrt(se / m), sqrt(sb / m) }' "$WORK/r.train.tsv" "$WORK/r.test.tsv" "$WORK/p.txt")
awk -v a="$rmse" -v b="$baseline" 'BEGIN { exit !(a < 0.9 * b) }' \
  || fail "test RMSE $rmse is not clearly better than the global mean's $baseline"
[ -s "$WORK/c.json" ] || fail "no counters written"
total=$(json_num tx_bytes < "$WORK/c.json")
# Every training example's rows crossed a link (pull replies, pushes): far more than 1 MB.
[ "${total:-0}" -gt 1000000 ] || fail "only ${total:-0} bytes crossed the links: $(cat "$WORK/c.json")"
for h in 1 2; do
  tx=$(grep -oE "\"host\": $h, \"tx_bytes\": [0-9]+, \"rx_bytes\": [0-9]+" "$WORK/c.json" | grep -oE '[0-9]+' | sed -n 2p)
  rx=$(grep -oE "\"host\": $h, \"tx_bytes\": [0-9]+, \"rx_bytes\": [0-9]+" "$WORK/c.json" | grep -oE '[0-9]+' | sed -n 3p)
  [ "${tx:-0}" -gt 100000 ] && [ "${rx:-0}" -gt 100000 ] || fail "worker host $h sent ${tx:-0} and received ${rx:-0} bytes"
done
shm=$(grep -oE '[0-9]+ through shared memory' "$WORK/log" | awk '{ s += $1 } END { print s + 0 }')
grep -q "through shared memory" "$WORK/log" || fail "the server did not report its request counts"
[ "$shm" = 0 ] || fail "$shm requests went through shared memory between simulated hosts"
grep -q "shared-memory ring" "$WORK/log" && fail "a worker set up shared memory with a server on another host: $(grep 'shared-memory ring' "$WORK/log")"
mf_note="rmse $rmse (global mean $baseline), $total bytes over the links"

"$NETNS" --hosts 2 --layout colocated --rate 1gbit --counters "$WORK/c2.json" -- kvcheck --heartbeat_timeout=5 \
  >"$WORK/log" 2>&1 || fail "kvcheck on 2 colocated simulated hosts exited $?"
assert_namespaces_removed
grep -q "rank -> host: 0:h0 1:h0 2:h1 3:h0 4:h1" "$WORK/log" || fail "unexpected rank placement: $(grep -o 'rank -> host:.*' "$WORK/log")"
grep -q "worker 0 verified" "$WORK/log" && grep -q "worker 1 verified" "$WORK/log" || fail "kvcheck did not verify"
rings=$(grep -oE 'r[0-9]+ kv_client.cc:[0-9]+\] requests to rank [0-9]+' "$WORK/log" | sed -E 's/^r([0-9]+) .* rank ([0-9]+)$/\1->\2/' | sort | tr '\n' ' ')
[ "$rings" = "3->1 4->2 " ] || fail "shared memory should join exactly worker 0 (rank 3) with server 0 (rank 1) and worker 1 (rank 4) with server 1 (rank 2), got: $rings"
total2=$(json_num tx_bytes < "$WORK/c2.json")
[ "${total2:-0}" -gt 100000 ] || fail "kvcheck across hosts moved only ${total2:-0} bytes over the links"
assert_no_orphans
echo "PASS ($mf_note; colocated shared memory only within a host, $total2 bytes over the links)"
