# CTR models on generated click logs (the per-batch reference path, --sync=exact; local updates: train_local_sync.sh): LR and FM train on a 1 server + 2 workers cluster, report
# logloss and AUC in the metrics contract, rank far better than chance, and agree closely with
# the single-process reference trained with the same flags.
source "$(dirname "$0")/../cluster_lib.sh" "$@"

"$EMBARK_BIN" gen --kind=clicks --out="$WORK/c" --rows=60000 --seed=4 >/dev/null || fail "gen failed"
metric() { tail -1 "$1" | grep -oE "\"$2\": [0-9.]+" | grep -oE '[0-9.]+$'; }
# FM runs with --lr=0.05: its default AdaGrad step (0.2, tuned on Frappe) makes the very first
# updates of a row depend on which worker's push lands first, and on this generated data a
# 2-worker run then lands on one of two different trajectories (a known issue, see the notes).
for model in lr fm; do
  flags=()
  [ $model = fm ] && flags=(--lr=0.05)
  "$LOCAL" --servers 1 --workers 2 -- train --model=$model --format=libsvm --train="$WORK/c.train.libsvm" \
    --test="$WORK/c.test.libsvm" --epochs=1 --sync=exact "${flags[@]}" --metrics_out="$WORK/$model.jsonl" >"$WORK/log" 2>&1 || fail "$model on the cluster exited $?"
  "$EMBARK_BIN" train-local --model=$model --format=libsvm --train="$WORK/c.train.libsvm" \
    --test="$WORK/c.test.libsvm" --epochs=1 "${flags[@]}" --metrics_out="$WORK/$model.local.jsonl" >"$WORK/log" 2>&1 || fail "$model train-local exited $?"
  for key in test_logloss test_auc; do
    [ -n "$(metric "$WORK/$model.jsonl" $key)" ] || fail "$model: no $key in the final metrics line"
  done
  d=$(metric "$WORK/$model.jsonl" test_logloss); l=$(metric "$WORK/$model.local.jsonl" test_logloss)
  echo "$model: cluster $d, single process $l"
  awk -v a="$d" -v b="$l" 'BEGIN { x = a - b; if (x < 0) x = -x; exit !(x < 0.01) }' \
    || fail "$model: cluster logloss $d and single-process $l differ by 0.01 or more"
  a=$(metric "$WORK/$model.jsonl" test_auc)
  awk -v a="$a" 'BEGIN { exit !(a > 0.6) }' || fail "$model: test AUC $a is not above 0.6 (0.5 is chance)"
done
assert_no_orphans
echo PASS
