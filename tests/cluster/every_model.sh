# Every registered model (`embark models`), end to end: generated data in the model's default
# format, one epoch of `train` (1 server + 1 worker) with a checkpoint, `export` (with the
# model's embedding vectors as user profiles; lr, which has none, must be refused), and
# `serve`. Checks that the test metrics are those of the model's task (not of the input
# format), that the bundle's manifest describes the model (task, a prediction formula of its
# own, every field bound to a table the bundle has), and that the server answers: a click or
# rating model's /score of the first test line equals the trainer's prediction, a ranking
# model's /topk returns items. A model added to the registry is walked through without
# editing this file.
source "$(dirname "$0")/../cluster_lib.sh" "$@"

"$EMBARK_BIN" models > "$WORK/models" || fail "embark models exited $?"
[ "$(wc -l < "$WORK/models")" -ge 7 ] || fail "embark models lists $(wc -l < "$WORK/models") models"
"$EMBARK_BIN" gen --kind=ratings --out="$WORK/r" --rows=3000 --seed=3 >/dev/null || fail "gen ratings failed"
"$EMBARK_BIN" gen --kind=clicks --out="$WORK/c" --rows=3000 --seed=3 >/dev/null || fail "gen clicks failed"
"$EMBARK_BIN" gen --kind=implicit --out="$WORK/i" --rows=3000 --seed=3 >/dev/null || fail "gen implicit failed"
lr_prediction=""

mapfile -t models < "$WORK/models"  # read first: mpirun would swallow a loop's stdin
for entry in "${models[@]}"; do
  IFS=$'\t' read -r name task formats epochs batch <<< "$entry"
  format=${formats%%,*}
  case "$format" in
    ratings) train="$WORK/r.train.tsv"; test="$WORK/r.test.tsv" ;;
    libsvm) train="$WORK/c.train.libsvm"; test="$WORK/c.test.libsvm" ;;
    libffm) train="$WORK/i.train.libffm"; test="$WORK/i.test.libffm" ;;
    *) fail "$name: no generated data in its default format $format" ;;
  esac
  [ "$task" = ranking ] && extra=() || extra=(--predictions_out="$WORK/$name.pred")
  "$LOCAL" --servers 1 --workers 1 -- train --model="$name" --train="$train" --test="$test" --epochs=1 \
    --checkpoint_dir="$WORK/ck_$name" --checkpoint_every=1epoch --metrics_out="$WORK/$name.jsonl" --seed=2 \
    "${extra[@]}" >"$WORK/log" 2>&1 || fail "$name: train exited $?"
  final=$(grep '"final": true' "$WORK/$name.jsonl")
  case "$task" in
    regression) want='"test_rmse": ' ;;
    classification) want='"test_logloss": ' ;;
    ranking) want='"test_recall@10": ' ;;
    *) fail "$name: unknown task $task" ;;
  esac
  echo "$final" | grep -q "$want" || fail "$name ($task): the final metrics lack $want: $final"

  "$EMBARK_BIN" export --checkpoint="$WORK/ck_$name" --out="$WORK/b_$name" --user_profiles="$WORK/$name.profiles.npy" \
    >"$WORK/log" 2>&1
  rc=$?
  if [ $rc != 0 ]; then
    grep -q "has no embedding vectors" "$WORK/log" || fail "$name: export --user_profiles exited $rc"
    "$EMBARK_BIN" export --checkpoint="$WORK/ck_$name" --out="$WORK/b_$name" >"$WORK/log" 2>&1 \
      || fail "$name: export exited $?"
  fi
  [ "$task" = ranking ] && { "$EMBARK_BIN" export --checkpoint="$WORK/ck_$name" --out="$WORK/b_$name" \
    --items="$WORK/i.items.libffm" >"$WORK/log" 2>&1 || fail "$name: export --items exited $?"; }

  prediction=$(python3 - "$WORK/b_$name" "$name" "$task" <<'EOF'
import json, sys
d, name, task = sys.argv[1:]
m = json.load(open(d + "/manifest.json"))
assert m["model"]["name"] == name, m["model"]
assert m["model"].get("task") == task, "task %r, embark models says %r" % (m["model"].get("task"), task)
tables = {t["name"] for t in m["tables"]}
for t in m["tables"]:
    assert t["columns"], "table %s has no column description" % t["name"]
fields = m["features"]["fields"]
assert fields, "no field bindings"
for f in fields:
    assert f["table"] in tables, "field %s is bound to table %r, which the bundle does not have (%s)" % (f["field"], f["table"], sorted(tables))
print(m["model"]["prediction"])
EOF
  ) || fail "$name: the manifest does not describe the model"
  [ "$name" = lr ] && lr_prediction="$prediction"
  echo "$name	$prediction" >> "$WORK/predictions"

  start_serve --bundle="$WORK/b_$name"
  grep -q "^serving $name bundle" "$WORK/serve.out" || fail "$name: serve does not serve a $name bundle: $(cat "$WORK/serve.out")"
  if [ "$task" = ranking ]; then
    user=$(head -1 "$test" | tr ' ' '\n' | grep '^0:' | head -1 | cut -d: -f2)
    top=$(post /topk "{\"user\": \"$user\", \"k\": 5}")
    [ "$(echo "$top" | grep -oE '"score":' | wc -l)" = 5 ] || fail "$name: /topk for user $user: $top"
  else
    line=$(head -1 "$test" | sed 's/\t/\\t/g')
    got=$(post /score "{\"lines\": [\"$line\"]}" | grep -oE '"scores":\[[^],]*' | sed 's/.*\[//')
    want=$(head -1 "$WORK/$name.pred")
    awk -v a="$got" -v b="$want" 'BEGIN { d = a - b; exit !(a != "" && d <= 1e-5 && -d <= 1e-5) }' \
      || fail "$name: served score '$got' differs from the trainer's prediction $want"
  fi
  kill "$server"; wait "$server" 2>/dev/null
done

# No model but lr predicts with lr's formula (the manifests of imf and two_tower once did).
[ -n "$lr_prediction" ] || fail "lr is not registered"
claims=$(awk -F'\t' -v p="$lr_prediction" '$2 == p { print $1 }' "$WORK/predictions" | tr '\n' ' ')
[ "$claims" = "lr " ] || fail "models claiming lr's prediction formula: $claims"
echo "ok: $(wc -l < "$WORK/models") models trained, exported, described and served"
