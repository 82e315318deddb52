# SSP bounds staleness: with one worker slowed down, no worker ever runs more than T clocks
# ahead of the slowest (clocks count finished batches, so the spread is at most T + 1).
# The same run under ASP exceeds the bound, which shows the measurement can fail.
source "$(dirname "$0")/../cluster_lib.sh" "$@"

"$EMBARK_BIN" gen --kind=ratings --out="$WORK/r" --rows=12000 --seed=5 >/dev/null || fail "gen failed"
spread() {
  "$LOCAL" --servers 1 --workers 3 -- train --model=mf --train="$WORK/r.train.tsv" --epochs=1 \
    --batch_size=64 --sync=exact --slow_worker=1:15 "$@" --metrics_out="$WORK/m.jsonl" >"$WORK/log" 2>&1 || fail "train $* exited $?"
  tail -1 "$WORK/m.jsonl" | grep -oE '"max_clock_spread": [0-9]+' | grep -oE '[0-9]+$'
}
s=$(spread --consistency=ssp --staleness=2)
[ -n "$s" ] && [ "$s" -le 3 ] || fail "SSP staleness 2: spread $s exceeds 3"
[ "$s" -ge 2 ] || fail "SSP staleness 2: spread $s; the slowed worker should let others run ahead"
b=$(spread --consistency=bsp)
[ "$b" -le 1 ] || fail "BSP: spread $b exceeds 1"
a=$(spread --consistency=asp)
[ "$a" -gt 3 ] || fail "ASP: spread $a; a slowed worker should fall far behind"
assert_no_orphans
echo "PASS (ssp $s, bsp $b, asp $a)"
