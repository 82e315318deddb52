#!/usr/bin/env bash
# Builds one generated delivery world's models: `embark gen --kind=clicks` data of --seed SEED,
# an FM and an LR trained on it (1 server + 1 worker, checkpoint every epoch) and exported as
# bundles OUT/fm and OUT/lr. Shared by bench/deliver_bench.sh and bench/ope_worlds.sh; reuses
# bundles already in OUT.
# Usage: bench/delivery_world.sh OUT SEED [USERS ITEMS ROWS]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${EMBARK_BIN:-$root/build/bin/embark}"
out="$1" seed="$2" users="${3:-2000}" items="${4:-500}" rows="${5:-100000}"
mkdir -p "$out"
[ -f "$out/fm/manifest.json" ] && [ -f "$out/lr/manifest.json" ] && exit 0
"$bin" gen --kind=clicks --out="$out/w" --rows="$rows" --users="$users" --items="$items" --seed="$seed" >"$out/gen.log"
for model in fm lr; do
  rm -rf "$out/ck-$model"
  "$root/launch/local.sh" --servers 1 --workers 1 -- train --model=$model --format=libffm --train="$out/w.train.libffm" \
    --test="$out/w.test.libffm" --epochs=3 --checkpoint_dir="$out/ck-$model" --checkpoint_every=1epoch --seed="$seed" \
    >"$out/train-$model.log" 2>&1 || { tail -20 "$out/train-$model.log" >&2; exit 1; }
  "$bin" export --checkpoint="$out/ck-$model" --out="$out/$model" >"$out/export-$model.log"
  rm -rf "$out/ck-$model"
done
rm -f "$out"/w.*.libsvm
