#!/usr/bin/env bash
# Freshness of live publishing: how long after an event arrives `serve` answers with a model
# that trained on it. A producer writes a part of generated clicks (libsvm) into a dir:// stream
# every --interval seconds; every event of part i carries a marker feature seen nowhere else.
# `train --model=lr` (1 server + 1 worker) trains the stream with --checkpoint_every=E and
# --publish_dir=D; `serve --watch --bundle=D` follows the published versions. A poller asks
# serve for each pending part's marker (POST /score, "lines") every 0.1 s: the part is fresh
# once the marker is a known feature (unknown_features 0). Freshness = that moment minus the
# moment the part's completion marker was written. Prints and writes OUT/freshness.json with
# p50 / p90 / p99 / max over the parts.
#
#   bench/freshness.sh OUT [--parts=40] [--interval=0.5] [--checkpoint_every=5s] [--watch_interval=0.2]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${EMBARK_BIN:-$root/build/bin/embark}"
out="${1:?usage: bench/freshness.sh OUT [--parts=N] [--interval=S] [--checkpoint_every=E] [--watch_interval=S]}"
shift
parts=40 interval=0.5 every=5s watch=0.2
for a in "$@"; do
  case "$a" in
    --parts=*) parts="${a#*=}" ;;
    --interval=*) interval="${a#*=}" ;;
    --checkpoint_every=*) every="${a#*=}" ;;
    --watch_interval=*) watch="${a#*=}" ;;
    *) echo "freshness: unknown option $a" >&2; exit 1 ;;
  esac
done
[ -x "$bin" ] || { echo "freshness: $bin not found; build first" >&2; exit 1; }
mkdir -p "$out"
work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

"$bin" gen --kind=clicks --out="$work/c" --rows=$(( (parts + 1) * 1000 * 5 / 4 )) --seed=11 >/dev/null
mkdir "$work/in"
marker() { echo $(( 900000 + $1 )); }
part() {  # I: writes part I (1000 events, each with marker(I)) and its completion marker; prints the time
  local i="$1" name
  name=$(printf 'part-%05d' "$i")
  sed -n "$(( i * 1000 + 1 )),$(( (i + 1) * 1000 ))p" "$work/c.train.libsvm" | sed "s/\$/ $(marker "$i"):1/" > "$work/in/.$name.tmp"
  mv "$work/in/.$name.tmp" "$work/in/$name"
  touch "$work/in/$name.done"
  date +%s.%N
}

# Part 0 warms up: the first version is published from it before serve starts.
part 0 >/dev/null
"$root/launch/local.sh" --servers 1 --workers 1 -- train --model=lr --train="dir://$work/in" --checkpoint_dir="$work/ck" \
  --checkpoint_every="$every" --publish_dir="$work/pub" --keep_checkpoints=2 >"$work/train.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 600); do [ -d "$work/pub/v-0000000001" ] && break; sleep 0.1; done
[ -d "$work/pub/v-0000000001" ] || { tail -20 "$work/train.log" >&2; echo "freshness: no version published within 60 s" >&2; exit 1; }
"$bin" serve --bundle="$work/pub" --watch --watch_interval="$watch" --port=0 >"$work/serve.out" 2>"$work/serve.err" &
pids+=($!)
for _ in $(seq 1 300); do grep -q "^serving" "$work/serve.out" && break; sleep 0.1; done
grep -q "^serving" "$work/serve.out" || { cat "$work/serve.err" >&2; echo "freshness: serve did not start" >&2; exit 1; }
port=$(grep -oE 'http://127.0.0.1:[0-9]+' "$work/serve.out" | grep -oE '[0-9]+$')

# The poller reads the parts' times as the producer appends them, and stops when all are fresh.
: > "$work/written"
python3 - "$port" "$work/written" "$parts" "$out/freshness.json" "$every" "$interval" "$watch" > "$work/poller.out" 2>"$work/poller.err" <<'PY' &
import http.client, json, sys, time
port, written, parts, out, every, interval, watch = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6], sys.argv[7]
conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=10)
fresh = {}
deadline = time.time() + 600
while len(fresh) < parts and time.time() < deadline:
    times = {}
    for line in open(written):
        i, t = line.split()
        times[int(i)] = float(t)
    for i, t in sorted(times.items()):
        if i in fresh:
            continue
        body = json.dumps({"lines": ["0 %d:1" % (900000 + i)]})
        conn.request("POST", "/score", body, {"Content-Type": "application/json"})
        answer = json.loads(conn.getresponse().read())
        if answer.get("unknown_features") == 0:
            fresh[i] = time.time() - t
    time.sleep(0.1)
ages = sorted(fresh.values())
def q(p):
    return ages[min(len(ages) - 1, int(p * len(ages)))] if ages else None
result = {"parts": parts, "fresh": len(ages), "interval_s": float(interval), "checkpoint_every": every,
          "watch_interval_s": float(watch), "p50_s": q(0.5), "p90_s": q(0.9), "p99_s": q(0.99), "max_s": ages[-1] if ages else None}
json.dump(result, open(out, "w"), indent=1)
print(json.dumps(result))
PY
poller=$!
for i in $(seq 1 "$parts"); do
  echo "$i $(part "$i")" >> "$work/written"
  sleep "$interval"
done
# The stream stays open until every part is served (the last parts are published by the next
# time-based checkpoint, which a quiet stream still takes), then _SUCCESS ends the job.
wait "$poller" || { cat "$work/poller.out" "$work/poller.err" >&2; echo "freshness: the poller failed" >&2; exit 1; }
touch "$work/in/_SUCCESS"
cat "$work/poller.out"
