#!/usr/bin/env bash
# Serving latency on loopback: trains MF (K = 128, one epoch) on synthetic ratings with a
# catalogue of ITEMS items, exports the checkpoint, serves it with --index=exact and then
# --index=hnsw, and drives each server with `embark serve-bench` (closed-loop keep-alive
# clients, one request outstanding each) for /score and /topk at concurrency 1, 4 and 16.
# Server and client share the machine. Writes OUT/serve_bench.json and OUT/serve_bench.md.
# Usage: bench/serve_bench.sh [OUT_DIR] [ITEMS] [SECONDS_PER_LEVEL]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${EMBARK_BIN:-$root/build/bin/embark}"
out="${1:-$root/build/bench}"
items="${2:-20000}"
seconds="${3:-3}"
mkdir -p "$out"
data="$out/serve_bench_data"
"$bin" gen --kind=ratings --rows=$((items * 10)) --users=$((items / 4)) --items="$items" --out="$data" --seed=1 >/dev/null
rm -rf "$data.ck" "$data.bundle"
"$root/launch/local.sh" --servers 1 --workers 1 -- train --model=mf --train="$data.train.tsv" --epochs=1 \
  --checkpoint_dir="$data.ck" --checkpoint_every=1epoch --progress_every=1000 >"$out/serve_bench_train.log" 2>&1
"$bin" export --checkpoint="$data.ck" --out="$data.bundle" --ids_from="$data.train.tsv" --format=ratings >/dev/null

server=""
stop_server() { [ -n "$server" ] && kill -TERM "$server" 2>/dev/null && wait "$server" 2>/dev/null; server=""; }
trap stop_server EXIT
echo "[" > "$out/serve_bench.json"
{
  echo "| index | endpoint | concurrency | req/s | p50 ms | p99 ms |"
  echo "|---|---|---|---|---|---|"
} > "$out/serve_bench.md"
first=1
for index in exact hnsw; do
  "$bin" serve --bundle="$data.bundle" --port=0 --index="$index" --threads=16 >"$out/serve_bench_serve.out" 2>&1 &
  server=$!
  for _ in $(seq 1 600); do grep -q "^serving" "$out/serve_bench_serve.out" && break; sleep 0.1; done
  port=$(grep -oE 'http://127.0.0.1:[0-9]+' "$out/serve_bench_serve.out" | grep -oE '[0-9]+$') \
    || { cat "$out/serve_bench_serve.out" >&2; echo "serve did not start within 60 s" >&2; exit 1; }
  recall=$(grep -oE 'recall@10 [0-9.]+' "$out/serve_bench_serve.out" | grep -oE '[0-9.]+$' || true)
  "$bin" serve-bench --port="$port" --requests_from="$data.test.tsv" --seconds="$seconds" \
    --json_out="$out/serve_bench_$index.json"
  stop_server
  # Merge into one table, tagging each row with the index (and its measured recall).
  label="$index"; [ -n "$recall" ] && label="$index (recall@10 $recall)"
  sed -n 's/^  {\(.*\)}.*$/\1/p' "$out/serve_bench_$index.json" | while read -r row; do
    [ $first = 1 ] || echo "," >> "$out/serve_bench.json"
    first=0
    printf '  {"index": "%s", %s}' "$index" "$row" >> "$out/serve_bench.json"
    ep=$(echo "$row" | grep -oE '"endpoint": "[^"]*"' | cut -d'"' -f4)
    c=$(echo "$row" | grep -oE '"concurrency": [0-9]+' | grep -oE '[0-9]+$')
    rps=$(echo "$row" | grep -oE '"requests_per_sec": [0-9.]+' | grep -oE '[0-9.]+$')
    p50=$(echo "$row" | grep -oE '"p50_ms": [0-9.]+' | grep -oE '[0-9.]+$')
    p99=$(echo "$row" | grep -oE '"p99_ms": [0-9.]+' | grep -oE '[0-9.]+$')
    printf '| %s | %s | %s | %.0f | %.3f | %.3f |\n' "$label" "$ep" "$c" "$rps" "$p50" "$p99" >> "$out/serve_bench.md"
  done
  first=0
done
echo "" >> "$out/serve_bench.json"
echo "]" >> "$out/serve_bench.json"
cat "$out/serve_bench.md"
