#!/usr/bin/env bash
# Frappe dev split side by side: xLearn (LR, FM, FFM) and libffm (FFM) with the settings of
# ../shared/docs/peers.md, and embark's lr, fm, ffm and deepfm with their defaults (single
# process, and 1 server + 2 workers), all on the same files and all scored by the same script
# (../shared/tools/metrics.py) from each system's test predictions. Prints one table and writes
# it to OUT/peers_ctr.md.
#
# Usage: bench/peers_ctr.sh [OUT_DIR]
#   env: EMBARK_BIN     embark binary (default build/bin/embark)
#        XLEARN_TRAIN   xlearn_train binary; XLEARN_PREDICT defaults to xlearn_predict beside it
#        LIBFFM_TRAIN   ffm-train binary; LIBFFM_PREDICT defaults to ffm-predict beside it
#        FRAPPE_DIR     default ../shared/data/frappe-dev (from the repository root)
#        METRICS_PY     default ../shared/tools/metrics.py
#        PEERS_CTR_CLUSTER=0 skips embark's 1 server + 2 workers runs
# A peer whose binary is not given is skipped with a message; without the data or the metrics
# script the whole benchmark is skipped (exit 0). Peer programs write caches next to their input
# files and into the current directory (xLearn's FFM writes train.libffm.bin there), so they read
# symbolic links in a scratch directory and run from it, never touching the data directory or
# the directory the script was started from.
#
# Peer settings (peers.md: best of a sweep, k = 8, 2 threads, epochs chosen by early stopping
# that watched the test set): xLearn LR lr 0.2 lambda 2e-5 13 epochs; FM lr 0.2 lambda 2e-5
# 27 epochs; FFM lr 0.2 lambda 2e-3 255 epochs (fixed epoch counts, early stopping off);
# libffm FFM lr 0.2 lambda 2e-3, 300 iterations ("long run"; its test logloss flattens there).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export EMBARK_BIN="${EMBARK_BIN:-$root/build/bin/embark}"
bin="$EMBARK_BIN"
out="${1:-$root/build/bench}"
data="${FRAPPE_DIR:-$root/../shared/data/frappe-dev}"
metrics="${METRICS_PY:-$root/../shared/tools/metrics.py}"
for f in train.libfm test.libfm train.libffm test.libffm; do
  if [ ! -r "$data/$f" ]; then
    echo "peers_ctr: SKIP: Frappe data not found ($data/$f); set FRAPPE_DIR" >&2
    exit 0
  fi
done
if [ ! -r "$metrics" ]; then
  echo "peers_ctr: SKIP: metrics script not found ($metrics); set METRICS_PY" >&2
  exit 0
fi
mkdir -p "$out"
out="$(cd "$out" && pwd)"
work="$(mktemp -d "$out/peers_ctr.XXXXXX")"
trap 'rm -rf "$work"' EXIT
data="$(cd "$data" && pwd)"
for f in train.libfm test.libfm train.libffm test.libffm; do ln -s "$data/$f" "$work/$f"; done
# Paths given relative to where the script was started keep working after the cd.
abs() { case "$1" in /*|"") echo "$1" ;; *) echo "$PWD/$1" ;; esac; }
bin="$(abs "$bin")"; metrics="$(abs "$metrics")"; export EMBARK_BIN="$bin"
XLEARN_TRAIN="$(abs "${XLEARN_TRAIN:-}")"; XLEARN_PREDICT="$(abs "${XLEARN_PREDICT:-}")"
LIBFFM_TRAIN="$(abs "${LIBFFM_TRAIN:-}")"; LIBFFM_PREDICT="$(abs "${LIBFFM_PREDICT:-}")"
cd "$work"
export USER="${USER:-embark}"  # xLearn names its log files after $USER and aborts without it

table="$out/peers_ctr.md"
{
  echo "| system | model | settings | test logloss | test AUC | train+predict s |"
  echo "|---|---|---|---|---|---|"
} > "$table"
# score NAME MODEL SETTINGS TEST PRED SECONDS: appends one row scored by metrics.py.
score() {
  local m
  m=$(python3 "$metrics" clicks "$4" "$5") || { echo "peers_ctr: scoring $1 $2 failed" >&2; exit 1; }
  local ll auc
  ll=$(echo "$m" | awk '{ print $4 }'); auc=$(echo "$m" | awk '{ print $6 }')
  printf '| %s | %s | %s | %.4f | %.4f | %s |\n' "$1" "$2" "$3" "$ll" "$auc" "$6" >> "$table"
}
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
run() {  # LOG CMD...: runs CMD with its output in LOG; on failure shows the log and stops
  local log="$1"; shift
  "$@" >"$log" 2>&1 || { echo "peers_ctr: failed: $*" >&2; tail -20 "$log" >&2; exit 1; }
}

if [ -n "${XLEARN_TRAIN:-}" ] && [ -x "$XLEARN_TRAIN" ]; then
  xpredict="${XLEARN_PREDICT:-$(dirname "$XLEARN_TRAIN")/xlearn_predict}"
  for spec in "lr|0|libfm|-r 0.2 -b 2e-5 -e 13" "fm|1|libfm|-k 8 -r 0.2 -b 2e-5 -e 27" "ffm|2|libffm|-k 8 -r 0.2 -b 2e-3 -e 255"; do
    IFS='|' read -r model type fmt settings <<< "$spec"
    t0=$(now)
    # shellcheck disable=SC2086
    run "$work/xlearn.log" "$XLEARN_TRAIN" "$work/train.$fmt" -s "$type" $settings --dis-es -nthread 2 \
      -m "$work/xlearn.model" -l "$work/xlearn"
    run "$work/xlearn.log" "$xpredict" "$work/test.$fmt" "$work/xlearn.model" -o "$work/xlearn.pred" --sigmoid \
      -nthread 2 -l "$work/xlearn"
    score xLearn "$model" "$settings, 2 threads" "$work/test.$fmt" "$work/xlearn.pred" "$(since "$t0")"
  done
else
  echo "peers_ctr: xLearn skipped: set XLEARN_TRAIN to an xlearn_train binary" >&2
fi

if [ -n "${LIBFFM_TRAIN:-}" ] && [ -x "$LIBFFM_TRAIN" ]; then
  lpredict="${LIBFFM_PREDICT:-$(dirname "$LIBFFM_TRAIN")/ffm-predict}"
  t0=$(now)
  run "$work/libffm.log" "$LIBFFM_TRAIN" -k 8 -r 0.2 -l 2e-3 -t 300 -s 2 "$work/train.libffm" "$work/libffm.model"
  run "$work/libffm.log" "$lpredict" "$work/test.libffm" "$work/libffm.model" "$work/libffm.pred"
  score libffm ffm "-k 8 -r 0.2 -l 2e-3 -t 300, 2 threads" "$work/test.libffm" "$work/libffm.pred" "$(since "$t0")"
else
  echo "peers_ctr: libffm skipped: set LIBFFM_TRAIN to an ffm-train binary" >&2
fi

for model in lr fm ffm deepfm; do
  fmt=libffm
  case $model in lr|fm) fmt=libfm ;; esac
  flags=(--model=$model --format=$fmt --train="$work/train.$fmt" --test="$work/test.$fmt" --progress_every=1000)
  t0=$(now)
  run "$work/embark.log" "$bin" train-local "${flags[@]}" --predictions_out="$work/embark.pred"
  score embark "$model" "defaults, 1 process" "$work/test.$fmt" "$work/embark.pred" "$(since "$t0")"
  if [ "${PEERS_CTR_CLUSTER:-1}" != 0 ]; then
    t0=$(now)
    run "$work/embark.log" "$root/launch/local.sh" --servers 1 --workers 2 -- train "${flags[@]}" \
      --predictions_out="$work/embark.pred"
    score embark "$model" "defaults, 1 server + 2 workers" "$work/test.$fmt" "$work/embark.pred" "$(since "$t0")"
  fi
done
echo "load average $(cut -d' ' -f1-3 /proc/loadavg)" >> "$table"
cat "$table"
