# Serving the ranking models: imf and two_tower trained on generated purchases (1 server +
# 1 worker, 2 epochs, a checkpoint per epoch), exported with their seen items (the training
# file) and, for two_tower, the item catalogue; `embark serve --index=hnsw` on each. A client
# asks /topk for every test user -- the user id, for two_tower also the user-side features of
# the user's first test line, which is the query the trainer's evaluation uses -- and computes
# Recall@10 against the user's held-out items: it must equal the test_recall@10 the training
# job reported (same rows, same hooks, the training items left out as seen items). HNSW's
# recall@10 against the exact scan is reported by /version.
source "$(dirname "$0")/../cluster_lib.sh" "$@"

"$EMBARK_BIN" gen --kind=implicit --out="$WORK/p" --rows=8000 --users=500 --items=300 --seed=3 >/dev/null || fail "gen failed"
# two_tower is served with its default MLP towers and with identity towers plus an item bias
# (no MLP tables, item rows one column wider): both must rank exactly as the trainer did.
for variant in imf two_tower two_tower_identity; do
  model=${variant%_identity}
  flags=(--model=$model --train="$WORK/p.train.libffm" --test="$WORK/p.test.libffm" --epochs=2 --seed=9
         --checkpoint_dir="$WORK/ck-$variant" --checkpoint_every=1epoch --metrics_out="$WORK/$variant.jsonl")
  extra=()
  [ $variant = two_tower_identity ] && flags+=(--tower=identity --item_bias)
  [ $model = two_tower ] && { flags+=(--items="$WORK/p.items.libffm"); extra=(--items="$WORK/p.items.libffm"); }
  "$LOCAL" --servers 1 --workers 1 -- train "${flags[@]}" >"$WORK/log" 2>&1 || { cat "$WORK/log" >&2; fail "$model: train exited $?"; }
  "$EMBARK_BIN" export --checkpoint="$WORK/ck-$variant" --out="$WORK/b-$variant" --seen_from="$WORK/p.train.libffm" \
    --ids_from="$WORK/p.train.libffm" "${extra[@]}" >"$WORK/export.log" 2>&1 \
    || { cat "$WORK/export.log" >&2; fail "$model: export exited $?"; }
  grep -q "^seen items: " "$WORK/export.log" || fail "$model: export does not report seen items"
  if [ $model = two_tower ]; then
    grep -q "^item catalogue: 300 items" "$WORK/export.log" || fail "two_tower: the catalogue of --items is not in the bundle"
  fi

  start_serve --bundle="$WORK/b-$variant" --index=hnsw
  grep -q "^serving $model bundle" "$WORK/serve.out" || fail "$model: serve does not serve a $model bundle: $(cat "$WORK/serve.out")"
  port=${url##*:}

  reported=$(tail -1 "$WORK/$variant.jsonl" | grep -oE '"test_recall@10": [0-9.e+-]+' | grep -oE '[0-9.e+-]+$')
  [ -n "$reported" ] || fail "$model: no test_recall@10 in the metrics"
  python3 - "$WORK" "$port" "$model" "$reported" > "$WORK/check.out" <<'EOF' || { cat "$WORK/check.out" >&2; fail "$model: served top-K disagrees with the trainer"; }
import http.client, json, sys
work, port, model, reported = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])

def parse(line):
    feats = [t.split(":") for t in line.split()[1:]]
    return [(int(f), i) for f, i, _ in feats]

train_items, first_test, held = {}, {}, {}
for line in open(work + "/p.train.libffm"):
    f = dict(parse(line))
    train_items.setdefault(f[0], set()).add(f[1])
catalogue = set().union(*train_items.values())  # imf: the items of the training file
if model == "two_tower":
    catalogue = {dict(parse(l))[1] for l in open(work + "/p.items.libffm")}
for line in open(work + "/p.test.libffm"):
    feats = parse(line)
    f = dict(feats)
    first_test.setdefault(f[0], [(fi, i) for fi, i in feats if 2 <= fi <= 31])
    held.setdefault(f[0], set()).add(f[1])

conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
def post(path, body):
    conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
    r = conn.getresponse()
    return r.status, json.loads(r.read())

total, users, violations = 0.0, 0, 0
for user, items in held.items():
    h = {i for i in items if i in catalogue and i not in train_items.get(user, set())}
    if not h:
        continue
    req = {"user": user, "k": 10, "exact": True}
    if model == "two_tower":
        req["user_features"] = [[fi, i] for fi, i in first_test[user]]
    status, body = post("/topk", req)
    assert status == 200, (status, body)
    top = [it["id"] for it in body["items"]]
    assert len(top) == 10, body
    violations += len(set(top) & train_items.get(user, set()))
    total += len(set(top) & h) / len(h)
    users += 1
served = total / users
print("%s: served Recall@10 %.6f over %d users, trainer %.6f, seen items recommended %d" % (model, served, users, reported, violations))
assert violations == 0
# The same rows and hooks rank the same items; only float near-ties at rank 10 could differ.
assert abs(served - reported) <= 0.002, "served %.6f vs trainer %.6f" % (served, reported)
conn.request("GET", "/version")
v = json.loads(conn.getresponse().read())
print("%s: hnsw recall@10 %.4f on %d users, %d items" % (model, v["recall_at_10"], v["recall_queries"], v["items"]))
assert v["index"] == "hnsw" and v["recall_at_10"] >= 0.9 and v["seen_items"] is True, v
EOF
  cat "$WORK/check.out"
  kill -TERM $server
  wait_for_exit $server 20
  [ "$RC" = 0 ] || fail "$model: serve exited with $RC after SIGTERM"
done
assert_no_orphans
echo "PASS"
