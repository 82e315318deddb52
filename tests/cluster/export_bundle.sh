# Export for serving: MF trained for 2 epochs on 2 servers + 2 workers with a checkpoint after
# every epoch; `embark export` turns the checkpoints into bundles (full, with raw ids and user
# profiles + PCA, and a delta). A Python reader written from serving/bundle_format.md alone
# (no embark code) verifies every file's CRC-32, parses the .npy headers, recomputes the keys
# of raw ids with the documented hash, and recomputes the test RMSE from the bundle, which
# must equal the RMSE the training job reported. numpy.load is tried when numpy is installed.
source "$(dirname "$0")/../cluster_lib.sh" "$@"

"$EMBARK_BIN" gen --kind=ratings --out="$WORK/r" --rows=20000 --seed=3 >/dev/null || fail "gen failed"
"$LOCAL" --servers 2 --workers 2 -- train --model=mf --train="$WORK/r.train.tsv" --test="$WORK/r.test.tsv" \
  --epochs=2 --dim=8 --checkpoint_dir="$WORK/ck" --checkpoint_every=1epoch --metrics_out="$WORK/m.jsonl" \
  >"$WORK/log" 2>&1 || fail "train exited $?"
for line in "model mf" "format ratings" "option dim 8" "option min_rating 1" "metric test_rmse "; do
  grep -q "^$line" "$WORK/ck/epoch-2/MANIFEST" || fail "the checkpoint MANIFEST lacks '$line'"
done

"$EMBARK_BIN" export --checkpoint="$WORK/ck/epoch-1" --out="$WORK/v1" >"$WORK/log" 2>&1 || fail "export of epoch 1 exited $?"
"$EMBARK_BIN" export --checkpoint="$WORK/ck" --out="$WORK/v2" --ids_from="$WORK/r.train.tsv" \
  --user_profiles="$WORK/users.npy" --pca_dim=2 >"$WORK/log" 2>&1 || fail "export of the latest checkpoint exited $?"
grep -q "epoch-2 to .*: full bundle" "$WORK/log" || fail "export did not pick the newest checkpoint"
grep -qE "explained variance ratio 0\.[0-9]+|explained variance ratio 1\.0" "$WORK/log" || fail "no explained variance ratio"
"$EMBARK_BIN" export --checkpoint="$WORK/ck/epoch-2" --base="$WORK/v1" --out="$WORK/d12" >"$WORK/log" 2>&1 \
  || fail "delta export exited $?"
grep -q "delta bundle" "$WORK/log" || fail "the delta export does not say so"
"$EMBARK_BIN" export --checkpoint="$WORK/nowhere" --out="$WORK/x" >"$WORK/log" 2>&1
[ $? = 1 ] || fail "export of a missing checkpoint should exit 1"
grep -q "nowhere" "$WORK/log" || fail "the missing checkpoint is not named"

reported=$(tail -1 "$WORK/m.jsonl" | grep -oE '"test_rmse": [0-9.]+' | grep -oE '[0-9.]+$')
python3 - "$WORK" "$reported" <<'EOF' || fail "the bundle does not read back as documented"
import ast, json, struct, sys, zlib
work, reported = sys.argv[1], float(sys.argv[2])
M = (1 << 64) - 1

def mix(x):
    x = (x + 0x9E3779B97F4A7C15) & M
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & M
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & M
    return x ^ (x >> 31)

def feature_key(field, raw):
    h = 0xCBF29CE484222325 ^ mix(0x6669656C64000000 + field)
    for c in raw.encode():
        h = ((h ^ c) * 0x100000001B3) & M
    return mix(h)

def read_npy(path):
    data = open(path, "rb").read()
    assert data[:6] == b"\x93NUMPY" and data[6] == 1, path
    n = struct.unpack("<H", data[8:10])[0]
    assert 10 + n == 128, path + ": header is not 128 bytes"
    header = ast.literal_eval(data[10:10 + n].decode("latin1"))
    assert header["fortran_order"] is False
    code = {"<u8": "Q", "<f4": "f", "<f2": "e"}[header["descr"]]
    count = 1
    for s in header["shape"]:
        count *= s
    return header["shape"], struct.unpack("<%d%s" % (count, code), data[128:])

def open_bundle(d):
    m = json.load(open(d + "/manifest.json"))
    assert m["format"] == "embark-bundle" and m["format_version"] == 1, m
    for name, info in m["files"].items():
        data = open(d + "/" + name, "rb").read()
        assert len(data) == info["bytes"], name
        assert zlib.crc32(data) == info["crc32"], name + ": crc32"
    tables = {}
    for t in m["tables"]:
        kshape, keys = read_npy(d + "/" + t["keys"])
        vshape, values = read_npy(d + "/" + t["values"])
        assert list(kshape) == [t["rows"]] and list(vshape) == [t["rows"], t["dim"]], t
        assert all(keys[i] < keys[i + 1] for i in range(len(keys) - 1)), t["name"] + ": keys not sorted"
        rows = {k: values[i * t["dim"]:(i + 1) * t["dim"]] for i, k in enumerate(keys)}
        ids = open(d + "/" + t["ids"]).read().split("\n")[:-1] if "ids" in t else None
        tables[t["name"]] = (t, keys, rows, ids)
    return m, tables

m1, t1 = open_bundle(work + "/v1")
m2, t2 = open_bundle(work + "/v2")
assert m2["model"]["name"] == "mf" and m2["model"]["options"]["dim"] == "8", m2["model"]
assert m2["source"]["epoch"] == 2 and m1["source"]["epoch"] == 1
assert m2["dtype"] == "float32" and m2["kind"] == "full"
assert abs(m2["training_metrics"]["test_rmse"] - reported) < 1e-5, (m2["training_metrics"], reported)

# Raw ids hash to their keys with the documented function.
for name, field in (("user", 0), ("item", 1)):
    t, keys, rows, ids = t2[name]
    named = [(k, i) for k, i in zip(keys, ids) if i]
    assert len(named) > 0.5 * len(keys), name + ": few ids found"
    assert all(feature_key(field, i) == k for k, i in named), name + ": an id does not hash to its key"

# The test RMSE recomputed from the bundle alone.
k = m2["model"]["bias_column"]
lo, hi = m2["model"]["min_rating"], m2["model"]["max_rating"]
mu = t2["global"][2][0][0]
users, items = t2["user"][2], t2["item"][2]
se, n = 0.0, 0
for line in open(work + "/r.test.tsv"):
    u, i, r = line.split("\t")[:3]
    p, q = users.get(feature_key(0, u)), items.get(feature_key(1, i))
    pred = mu + (p[k] if p else 0) + (q[k] if q else 0)
    if p and q:
        pred += sum(p[j] * q[j] for j in range(k))
    pred = min(max(pred, lo), hi)
    se += (pred - float(r)) ** 2
    n += 1
rmse = (se / n) ** 0.5
assert abs(rmse - reported) / reported < 0.01, "bundle RMSE %.5f vs reported %.5f" % (rmse, reported)

# The delta: only changed rows, against v1.
md, td = open_bundle(work + "/d12")
assert md["kind"] == "delta" and md["base_bundle_id"] == m1["bundle_id"]
for name in ("user", "item"):
    t, keys, rows, _ = td[name]
    assert 0 < len(keys) <= len(t2[name][1])
    assert all(rows[key] == t2[name][2][key] for key in keys), name + ": a delta row differs from v2"
    unchanged = [key for key in t2[name][1] if key not in rows]
    assert all(t1[name][2].get(key) == t2[name][2][key] for key in unchanged), name + ": a changed row is missing"

# User profiles: PCA to 2 dims of the 8 user factors.
shape, _ = read_npy(work + "/users.npy")
kshape, keys = read_npy(work + "/users.keys.npy")
summary = json.load(open(work + "/users.json"))
assert list(shape) == [len(t2["user"][1]), 2] and list(kshape) == [shape[0]], (shape, kshape)
assert 0 < summary["explained_variance_ratio"] <= 1 and summary["input_dim"] == 8, summary
try:
    import numpy as np
except ImportError:
    print("numpy is not importable: skipping the numpy.load check (the files were parsed above without it)")
else:
    v = np.load(work + "/v2/user.values.npy", mmap_mode="r")
    assert v.shape == (len(t2["user"][1]), 9) and v.dtype == np.float32
    assert np.load(work + "/v2/user.keys.npy").dtype == np.uint64
    assert np.load(work + "/users.npy").shape == tuple(shape)
    print("numpy.load reads the bundle")
print("bundle RMSE %.5f, reported %.5f" % (rmse, reported))
EOF
assert_no_orphans
echo "PASS"
