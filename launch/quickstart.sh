#!/usr/bin/env bash
# One command on a fresh Debian 12 machine: install what is missing, build, generate synthetic
# e-commerce ratings, and train matrix factorisation on a local cluster (1 scheduler,
# 1 server, 2 workers), printing the test RMSE after every epoch.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/launch/setup.sh" "$root/build"
data="$root/build/data"
mkdir -p "$data"
"$root/build/bin/embark" gen --kind=ratings --rows=500000 --out="$data/shop" --seed=1
"$root/launch/local.sh" --servers 1 --workers 2 -- train --model=mf \
  --train="$data/shop.train.tsv" --test="$data/shop.test.tsv" --epochs=10 \
  --metrics_out="$data/shop.metrics.jsonl"
echo "metrics: $data/shop.metrics.jsonl"
