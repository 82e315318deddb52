# Implicit-feedback models on generated purchases (users with latent taste, power-law item
# popularity, per-user time split): imf (ids only and with --side_features) and two_tower train on a 1 server + 2 workers cluster,
# write the ranking metrics (model and popularity baseline) to the metrics file, beat the
# popularity baseline's Recall@10 and NDCG@10 clearly, and agree with the single-process
# reference.
source "$(dirname "$0")/../cluster_lib.sh" "$@"

"$EMBARK_BIN" gen --kind=implicit --out="$WORK/p" --rows=30000 --users=1500 --items=600 --seed=5 >/dev/null || fail "gen failed"
metric() { tail -1 "$1" | grep -oE "\"$2\": [0-9.e+-]+" | grep -oE '[0-9.e+-]+$'; }
# imf_side: imf --side_features (the user's segment and the item's category as well).
for model in imf two_tower imf_side; do
  flags=(--model=${model%_side} --train="$WORK/p.train.libffm" --test="$WORK/p.test.libffm" --epochs=5)
  [ $model = two_tower ] && flags+=(--items="$WORK/p.items.libffm")
  [ $model = imf_side ] && flags+=(--items="$WORK/p.items.libffm" --side_features)
  "$LOCAL" --servers 1 --workers 2 -- train "${flags[@]}" --metrics_out="$WORK/$model.jsonl" >"$WORK/log" 2>&1 \
    || fail "$model on the cluster exited $?"
  "$EMBARK_BIN" train-local "${flags[@]}" --metrics_out="$WORK/$model.local.jsonl" >"$WORK/log" 2>&1 \
    || fail "$model train-local exited $?"
  for key in test_recall@10 test_ndcg@10 test_hitrate@10 test_users pop_recall@10 pop_ndcg@10 pop_hitrate@10; do
    [ -n "$(metric "$WORK/$model.jsonl" $key)" ] || fail "$model: no $key in the final metrics line"
  done
  users=$(metric "$WORK/$model.jsonl" test_users); local_users=$(metric "$WORK/$model.local.jsonl" test_users)
  [ "$users" = "$local_users" ] || fail "$model: $users test users on the cluster, $local_users in one process"
  awk -v u="$users" 'BEGIN { exit !(u >= 1000) }' || fail "$model: only $users test users evaluated"
  r=$(metric "$WORK/$model.jsonl" test_recall@10); p=$(metric "$WORK/$model.jsonl" pop_recall@10)
  l=$(metric "$WORK/$model.local.jsonl" test_recall@10); lp=$(metric "$WORK/$model.local.jsonl" pop_recall@10)
  echo "$model: Recall@10 cluster $r, single process $l, popularity $p"
  # The same baseline, up to the rounding of summing two workers' shares in another order
  # (metrics carry every digit of a double).
  awk -v a="$p" -v b="$lp" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= 1e-12 * (a < 0 ? -a : a) + 1e-15) }' \
    || fail "$model: the popularity baseline differs: cluster $p, single process $lp"
  # Margins: both models reach Recall@10 0.25-0.27 and NDCG@10 0.18-0.19 here, the popularity
  # baseline 0.206 and 0.135 (the standard error over 1500 users is about 0.01).
  awk -v r="$r" -v p="$p" 'BEGIN { exit !(r > 1.15 * p) }' || fail "$model: Recall@10 $r is not 1.15x the popularity baseline $p"
  n=$(metric "$WORK/$model.jsonl" test_ndcg@10); pn=$(metric "$WORK/$model.jsonl" pop_ndcg@10)
  awk -v r="$n" -v p="$pn" 'BEGIN { exit !(r > 1.25 * p) }' || fail "$model: NDCG@10 $n is not 1.25x the popularity baseline $pn"
  awk -v a="$r" -v b="$l" 'BEGIN { x = a - b; if (x < 0) x = -x; exit !(x < 0.15 * b) }' \
    || fail "$model: cluster Recall@10 $r and single-process $l differ by 15 % or more"
done
assert_no_orphans
echo PASS
