# The traffic figures of the metrics (kv_bytes_per_example, replica_row_reads, replica_rows_pulled,
# replica_hit_rate) on FM, 1 server + 2 workers, on generated clicks without a test set (so every
# byte the servers count is training traffic):
#  * kv_bytes_per_example times the epoch's examples, summed over epochs, equals the servers'
#    own "bytes in" + "bytes out" counters (an independent count, on the other end) within 1 %;
#  * --sync=exact has no replica figures, and --sync=local moves fewer bytes per example;
#  * the hit rate is a fraction, and it rises with the sync interval: every 256 batches the
#    replica answers more reads than every 2 (the negative control: a figure that ignored the
#    pulls would not move).
source "$(dirname "$0")/../cluster_lib.sh" "$@"

"$EMBARK_BIN" gen --kind=clicks --out="$WORK/c" --rows=40000 --seed=5 >/dev/null || fail "gen failed"
# field VALUE of metrics line N (1-based; the last line is the final one, a copy of the last epoch)
field() { sed -n "${2}p" "$1" | grep -oE "\"$3\": [0-9.e+-]+" | grep -oE '[0-9.e+-]+$'; }
server_bytes() { grep -oE '[0-9]+ bytes in, [0-9]+ bytes out' "$1" | awk '{ s += $1 + $4 } END { print s + 0 }'; }
run() {  # NAME FLAGS...
  local name="$1"; shift
  "$LOCAL" --servers 1 --workers 2 -- train --model=fm --format=libffm --train="$WORK/c.train.libffm" --epochs=2 \
    --batch_size=64 "$@" --metrics_out="$WORK/$name.jsonl" >"$WORK/log" 2>&1 || fail "$name exited $?"
  cp "$WORK/log" "$WORK/$name.log"
  # Bytes the workers counted: epoch 1's examples are line 1's; epoch 2's are line 2's minus line 1's.
  local counted
  counted=$(awk -v b1="$(field "$WORK/$name.jsonl" 1 kv_bytes_per_example)" -v e1="$(field "$WORK/$name.jsonl" 1 examples)" \
                -v b2="$(field "$WORK/$name.jsonl" 2 kv_bytes_per_example)" -v e2="$(field "$WORK/$name.jsonl" 2 examples)" \
                'BEGIN { printf "%.0f", b1 * e1 + b2 * (e2 - e1) }')
  local served; served=$(server_bytes "$WORK/$name.log")
  echo "$name: workers counted $counted bytes, the server $served"
  awk -v c="$counted" -v s="$served" 'BEGIN { d = c - s; if (d < 0) d = -d; exit !(s > 0 && d <= 0.01 * s) }' \
    || fail "$name: the workers' kv_bytes_per_example add up to $counted bytes, the server counted $served"
}
run exact --sync=exact
[ -z "$(field "$WORK/exact.jsonl" 2 replica_hit_rate)" ] || fail "--sync=exact reports a replica hit rate"
run every2 --sync=local --sync_every=2
run every256 --sync=local --sync_every=256
h2=$(field "$WORK/every2.jsonl" 2 replica_hit_rate); h256=$(field "$WORK/every256.jsonl" 2 replica_hit_rate)
reads=$(field "$WORK/every256.jsonl" 2 replica_row_reads); pulled=$(field "$WORK/every256.jsonl" 2 replica_rows_pulled)
echo "hit rate: every 2 batches $h2, every 256 $h256 ($pulled pulled of $reads reads)"
awk -v a="$h2" -v b="$h256" 'BEGIN { exit !(a >= 0 && b <= 1 && b > a + 0.2) }' \
  || fail "replica hit rate every 2 batches $h2, every 256 $h256: expected a fraction that rises with the interval"
awk -v r="$reads" -v p="$pulled" -v h="$h256" 'BEGIN { x = 1 - p / r - h; if (x < 0) x = -x; exit !(r > 0 && x < 1e-6) }' \
  || fail "replica_hit_rate $h256 is not 1 - $pulled / $reads"
be=$(field "$WORK/exact.jsonl" 2 kv_bytes_per_example); bl=$(field "$WORK/every256.jsonl" 2 kv_bytes_per_example)
echo "bytes per example: exact $be, local every 256 batches $bl"
awk -v e="$be" -v l="$bl" 'BEGIN { exit !(l > 0 && l * 3 < e) }' || fail "local updates moved $bl bytes per example, exact $be: expected 3x fewer"
assert_no_orphans
echo PASS
