#!/usr/bin/env bash
# embark side by side with single-machine peers (LIBMF, libffm, xLearn), all in this one
# invocation on the same files: every workload runs RUNS rounds and each round runs every
# system once (peers and embark alternated, so they see the same machine conditions); the
# tables show medians. Quality is scored by one script (metrics.py) from each system's test
# predictions wherever a system can write them.
#
# Usage: bench/speed_vs_peers.sh [OUT_DIR] [--runs=N] [--mf_rows=N[,N...]] [--only=LIST]
#   OUT_DIR     default build/bench; generated data are kept there and reused
#   --runs      rounds per workload (default 3)
#   --mf_rows   sizes of the generated rating sets (`embark gen --kind=ratings`), default
#               2000000; e.g. --mf_rows=2000000,20000000 adds the 20M set
#   --only      comma-separated workloads (default mf,fm,ffm)
#   --mf_flags="FLAGS"  adds an embark train-local MF run with these flags to each MF round
#               (e.g. --mf_flags="--optimizer=rowadagrad --dim=32 --lr=0.1 --l2=0.045 --bias_scale=0.7")
#   --mf_cluster_max_rows=N  skip embark's MF cluster runs on rating sets of more than N
#               training rows (default: no limit; at its defaults the cluster is the slowest cell)
#   env: EMBARK_BIN      embark binary (default build/bin/embark)
#        EMBARK_DATA     public data sets (default ../shared/data from the repository root):
#                        ml-100k/u1.base, u1.test; frappe-dev/{train,test}.{libfm,libffm}
#        METRICS_PY      scoring script (default ../shared/tools/metrics.py)
#        LIBMF_TRAIN, LIBMF_PREDICT      mf-train, mf-predict
#        LIBFFM_TRAIN, LIBFFM_PREDICT    ffm-train, ffm-predict
#        XLEARN_TRAIN, XLEARN_PREDICT    xlearn_train, xlearn_predict (default: beside train)
#        SPEED_CLUSTER=0 skips embark's cluster runs (they are the slowest)
# A peer whose binary is not given (or not executable) is skipped with a message, and so is a
# workload whose data is missing; without metrics.py the quality columns are empty.
#
# Settings. The peers' are fixed here (from the peer figures the project compares against):
#   LIBMF   -k 32 -t 20 -l2 0.05 -r 0.1 -s 2
#   xLearn  FM -s 1, FFM -s 2; -k 8 -e 5 --dis-es -nthread 2 (no early stopping; instance
#           normalisation is xLearn's default and stays on, as in libffm; XLEARN_FLAGS and
#           LIBFFM_FLAGS add flags, e.g. --no-norm, to train and predict)
#   libffm  -k 8 -t 5 -s 2
# embark runs with its defaults except the flags named here: MF `--model=mf` (train-local, and
# 1 server + 2 workers); FM/FFM `--dim=8 --epochs=5 --compute_threads=2` (the
# peers' threads, in train-local and on the cluster's one worker; `--num_fields=12` for FFM on the
# generated clicks; train-local, and 1 server + 1 worker). Everything about embark's runs
# (epochs, seconds, examples, per-epoch test RMSE) is read from its metrics JSONL, so the
# script keeps working when the defaults change.
#
# Measures (per run; the tables take medians over runs):
#   wall s      the whole training command (loading, training, per-epoch evaluation).
#   read s      embark: reading its share into memory before the first epoch (`load_seconds`:
#               parsing, and on a cluster the first pull of the rows), left out of train s as
#               the peers' own times leave out their reading of the file.
#   train s     training alone: embark's `train_seconds` minus read s; xLearn the sum of its per-epoch
#               "Time cost"; libffm its tr_time (0.1 s resolution); LIBMF prints no times, so
#               its per-iteration time is (wall(-t 20) - wall(-t 1)) / 19, and train s is 20 x that.
#   rows/s      training examples processed (rows x epochs) / train s.
#   time to LIBMF's final RMSE (MF): training seconds until the first epoch whose test RMSE is
#               at or below LIBMF's final RMSE of the same round (embark: from the JSONL's
#               per-epoch test_rmse and train_seconds minus load_seconds, the reading of the
#               share before training, which LIBMF's per-iteration times leave out too; LIBMF:
#               its -p curve x per-iteration time).
#   load        1-minute load average when each run started (min-max over runs).
# Writes OUT/speed_vs_peers.md, OUT/speed_vs_peers.json (medians and every run) and
# OUT/speed_vs_peers.runs.jsonl (one line per run).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
abs() { case "$1" in /*|"") echo "$1" ;; *) echo "$PWD/$1" ;; esac; }
out="$root/build/bench"
runs=3
mf_rows=2000000
only="mf,fm,ffm"
mf_cluster_max=""
mf_flags=""
for a in "$@"; do
  case "$a" in
    --runs=*) runs="${a#*=}" ;;
    --mf_rows=*) mf_rows="${a#*=}" ;;
    --only=*) only="${a#*=}" ;;
    --mf_cluster_max_rows=*) mf_cluster_max="${a#*=}" ;;
    --mf_flags=*) mf_flags="${a#*=}" ;;
    -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \?//'; exit 0 ;;
    -*) echo "speed_vs_peers: unknown option $a" >&2; exit 2 ;;
    *) out="$a" ;;
  esac
done
bin="$(abs "${EMBARK_BIN:-$root/build/bin/embark}")"
export EMBARK_BIN="$bin"
[ -x "$bin" ] || { echo "speed_vs_peers: embark binary not found: $bin (build it or set EMBARK_BIN)" >&2; exit 1; }
data="$(abs "${EMBARK_DATA:-$root/../shared/data}")"
metrics="$(abs "${METRICS_PY:-$root/../shared/tools/metrics.py}")"
if [ ! -r "$metrics" ]; then
  echo "speed_vs_peers: metrics script not found ($metrics; set METRICS_PY): quality columns stay empty" >&2
  metrics=""
fi
LIBMF_TRAIN="$(abs "${LIBMF_TRAIN:-}")"; LIBMF_PREDICT="$(abs "${LIBMF_PREDICT:-}")"
LIBFFM_TRAIN="$(abs "${LIBFFM_TRAIN:-}")"; LIBFFM_PREDICT="$(abs "${LIBFFM_PREDICT:-}")"
XLEARN_TRAIN="$(abs "${XLEARN_TRAIN:-}")"; XLEARN_PREDICT="$(abs "${XLEARN_PREDICT:-}")"
[ -n "$LIBMF_TRAIN" ] && [ -z "$LIBMF_PREDICT" ] && LIBMF_PREDICT="$(dirname "$LIBMF_TRAIN")/mf-predict"
[ -n "$LIBFFM_TRAIN" ] && [ -z "$LIBFFM_PREDICT" ] && LIBFFM_PREDICT="$(dirname "$LIBFFM_TRAIN")/ffm-predict"
[ -n "$XLEARN_TRAIN" ] && [ -z "$XLEARN_PREDICT" ] && XLEARN_PREDICT="$(dirname "$XLEARN_TRAIN")/xlearn_predict"
have() {  # NAME TRAIN PREDICT: 0 if both binaries are executable, else a message and 1
  if [ -z "$2" ]; then echo "speed_vs_peers: $1 skipped: its binary is not set (see the usage)" >&2; return 1; fi
  for b in "$2" "$3"; do
    [ -x "$b" ] || { echo "speed_vs_peers: $1 skipped: $b is not an executable" >&2; return 1; }
  done
}
use_libmf=0; use_libffm=0; use_xlearn=0
have "LIBMF (LIBMF_TRAIN)" "$LIBMF_TRAIN" "$LIBMF_PREDICT" && use_libmf=1
have "libffm (LIBFFM_TRAIN)" "$LIBFFM_TRAIN" "$LIBFFM_PREDICT" && use_libffm=1
have "xLearn (XLEARN_TRAIN)" "$XLEARN_TRAIN" "$XLEARN_PREDICT" && use_xlearn=1
cluster="${SPEED_CLUSTER:-1}"

mkdir -p "$out"
out="$(cd "$out" && pwd)"
work="$(mktemp -d "$out/speed_vs_peers.XXXXXX")"
trap 'rm -rf "$work"' EXIT
runlog="$out/speed_vs_peers.runs.jsonl"
: > "$runlog"
cd "$work"   # peers write caches and logs into the current directory
export USER="${USER:-embark}"  # xLearn names its log files after $USER and aborts without it

now() { date +%s.%N; }
load1() { cut -d' ' -f1 /proc/loadavg; }
run() {  # LOG CMD...: runs CMD with its output in LOG; on failure shows the log and stops
  local log="$1"; shift
  "$@" >"$log" 2>&1 || { echo "speed_vs_peers: failed: $*" >&2; tail -20 "$log" >&2; exit 1; }
}
score() {  # KIND TEST PRED: prints the metrics.py line, or nothing without the script
  [ -n "$metrics" ] || return 0
  python3 "$metrics" "$1" "$2" "$3"
}
# record KEY=VALUE...: one JSON object per run (values that look numeric stay numbers).
record() {
  python3 - "$@" >> "$runlog" <<'EOF'
import json, sys
d = {}
for kv in sys.argv[1:]:
    k, v = kv.split("=", 1)
    try:
        d[k] = json.loads(v)
    except ValueError:
        d[k] = v
print(json.dumps(d))
EOF
}
# embark_summary JSONL: the fields the table needs from embark's metrics, as KEY=VALUE words
# (examples, train_seconds, epochs, and the per-epoch curve [[train_seconds, test_rmse], ...]).
embark_summary() {
  python3 - "$1" <<'EOF'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
final = [l for l in lines if l.get("final")] or lines[-1:]
f = final[-1]
epochs = [l for l in lines if not l.get("final")]
# Time to quality counts training after the share is in memory (load_seconds), as LIBMF's
# per-iteration times leave out its reading of the file; wall_s keeps everything.
curve = [[l["train_seconds"] - l.get("load_seconds", 0), l["test_rmse"]] for l in epochs if "test_rmse" in l]
print("examples=%d" % f["examples"], "train_s=%s" % f["train_seconds"], "load_s=%s" % f.get("load_seconds", 0),
      "epochs=%d" % max([l["epoch"] for l in lines] or [0]), "curve=%s" % json.dumps(curve, separators=(",", ":")))
EOF
}
rows_of() { wc -l < "$1" | tr -d ' '; }

# ---------------------------------------------------------------------------------------- MF
mf_workload() {  # NAME TRAIN TEST
  local name="$1" train="$2" test="$3" r t0 wall
  local rows; rows=$(rows_of "$train")
  local mf_cluster="$cluster"
  if [ "$cluster" != 0 ] && [ -n "$mf_cluster_max" ] && [ "$rows" -gt "$mf_cluster_max" ]; then
    echo "speed_vs_peers: $name: embark's cluster runs skipped ($rows training rows > --mf_cluster_max_rows=$mf_cluster_max)" >&2
    mf_cluster=0
  fi
  # LIBMF reads exactly "user item rating" per line: strip any further columns.
  if [ $use_libmf = 1 ]; then
    cut -f1-3 "$train" | tr '\t' ' ' > "$work/mf.train"
    cut -f1-3 "$test" | tr '\t' ' ' > "$work/mf.test"
  fi
  for r in $(seq 1 "$runs"); do
    if [ $use_libmf = 1 ]; then
      local flags=(-k 32 -l2 0.05 -r 0.1 -s 2)
      local load; load=$(load1)
      t0=$(now); run "$work/libmf.log" "$LIBMF_TRAIN" "${flags[@]}" -t 20 "$work/mf.train" "$work/mf.model"
      wall=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { print b - a }')
      t0=$(now); run "$work/libmf1.log" "$LIBMF_TRAIN" "${flags[@]}" -t 1 "$work/mf.train" "$work/mf1.model"
      local wall1; wall1=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { print b - a }')
      run "$work/libmf.pred.log" "$LIBMF_PREDICT" "$work/mf.test" "$work/mf.model" "$work/libmf.pred"
      local m; m=$(score ratings "$test" "$work/libmf.pred")
      # The learning curve: the same training with -p prints the test RMSE of every iteration.
      run "$work/libmf.curve.log" "$LIBMF_TRAIN" "${flags[@]}" -t 20 -p "$work/mf.test" "$work/mf.train" "$work/mfc.model"
      local per_it; per_it=$(awk -v a="$wall" -v b="$wall1" 'BEGIN { x = (a - b) / 19; print (x > 0 ? x : 0) }')
      # LIBMF numbers its iterations from 0: the line "i ..." follows i + 1 iterations.
      local curve; curve=$(awk -v s="$per_it" '$1 ~ /^[0-9]+$/ && NF >= 4 { printf "%s[%.6f,%s]", (n++ ? "," : ""), ($1 + 1) * s, $3 }' \
        "$work/libmf.curve.log")
      record workload="$name" kind=mf system="LIBMF" settings="-k 32 -t 20 -l2 0.05 -r 0.1 -s 2" run="$r" load="$load" \
        rows="$rows" epochs=20 examples=$((rows * 20)) wall_s="$wall" train_s="$(awk -v s="$per_it" 'BEGIN { print 20 * s }')" \
        rmse="$(echo "$m" | awk '{ print ($4 == "" ? "null" : $4) }')" curve="[$curve]" curve_rounding=0.00005
    fi
    local sys
    for sys in local cluster flags; do
      [ $sys = cluster ] && [ "$mf_cluster" = 0 ] && continue
      [ $sys = flags ] && [ -z "$mf_flags" ] && continue
      local mfile="$work/embark.jsonl" load; load=$(load1)
      local cmd=("$bin" train-local) label="embark train-local" settings="defaults, 1 process"
      if [ $sys = cluster ]; then
        cmd=("$root/launch/local.sh" --servers 1 --workers 2 -- train)
        label="embark 1 server + 2 workers"; settings="defaults"
      elif [ $sys = flags ]; then
        local extra; read -r -a extra <<< "$mf_flags"
        cmd=("$bin" train-local "${extra[@]}"); label="embark train-local, own flags"; settings="$mf_flags, 1 process"
      fi
      rm -f "$mfile" "$work/embark.pred"
      t0=$(now)
      run "$work/embark.log" "${cmd[@]}" --model=mf --train="$train" --test="$test" --metrics_out="$mfile" \
        --predictions_out="$work/embark.pred"
      wall=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { print b - a }')
      local m; m=$(score ratings "$test" "$work/embark.pred")
      # shellcheck disable=SC2046
      record workload="$name" kind=mf system="$label" settings="$settings" run="$r" load="$load" rows="$rows" \
        wall_s="$wall" rmse="$(echo "$m" | awk '{ print ($4 == "" ? "null" : $4) }')" $(embark_summary "$mfile")
    done
  done
}

# ------------------------------------------------------------------------------------ FM, FFM
ctr_workload() {  # NAME MODEL TRAIN_LIBFFM TEST_LIBFFM TRAIN_FM TEST_FM NUM_FIELDS_FLAG
  local name="$1" model="$2" trf="$3" tef="$4" trm="$5" tem="$6" nf="$7" r t0 wall load m
  # Peers write caches next to their inputs: they read links in the scratch directory.
  ln -sf "$trf" "$work/tr.libffm"; ln -sf "$tef" "$work/te.libffm"
  ln -sf "$trm" "$work/tr.fm"; ln -sf "$tem" "$work/te.fm"
  local rows; rows=$(rows_of "$trf")
  local xtr="$work/tr.fm" xte="$work/te.fm" xs=1
  [ "$model" = ffm ] && { xtr="$work/tr.libffm"; xte="$work/te.libffm"; xs=2; }
  for r in $(seq 1 "$runs"); do
    if [ "$model" = ffm ] && [ $use_libffm = 1 ]; then
      rm -f "$work"/*.bin; load=$(load1)
      # shellcheck disable=SC2086
      t0=$(now); run "$work/libffm.log" "$LIBFFM_TRAIN" -k 8 -t 5 -s 2 ${LIBFFM_FLAGS:-} "$work/tr.libffm" "$work/libffm.model"
      wall=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { print b - a }')
      # shellcheck disable=SC2086
      run "$work/libffm.pred.log" "$LIBFFM_PREDICT" ${LIBFFM_FLAGS:-} "$work/te.libffm" "$work/libffm.model" "$work/libffm.pred"
      m=$(score clicks "$tef" "$work/libffm.pred")
      local ts; ts=$(awk '$1 ~ /^[0-9]+$/ && NF >= 3 { t = $NF } END { print t + 0 }' "$work/libffm.log")
      record workload="$name" kind=ctr model=ffm system=libffm settings="$(echo "-k 8 -t 5 -s 2 ${LIBFFM_FLAGS:-}" | sed 's/ *$//')" run="$r" \
        load="$load" rows="$rows" epochs=5 examples=$((rows * 5)) wall_s="$wall" train_s="$ts" \
        logloss="$(echo "$m" | awk '{ print ($4 == "" ? "null" : $4) }')" auc="$(echo "$m" | awk '{ print ($6 == "" ? "null" : $6) }')"
    fi
    if [ $use_xlearn = 1 ]; then
      rm -f "$work"/*.bin; load=$(load1)
      # shellcheck disable=SC2086
      t0=$(now); run "$work/xlearn.log" "$XLEARN_TRAIN" "$xtr" -s $xs -k 8 -e 5 --dis-es -nthread 2 ${XLEARN_FLAGS:-} \
        -m "$work/xlearn.model" -l "$work/xlearn"
      wall=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { print b - a }')
      # shellcheck disable=SC2086
      run "$work/xlearn.pred.log" "$XLEARN_PREDICT" "$xte" "$work/xlearn.model" -o "$work/xlearn.pred" --sigmoid \
        -nthread 2 ${XLEARN_FLAGS:-} -l "$work/xlearn"
      m=$(score clicks "$tef" "$work/xlearn.pred")
      # Per-epoch rows: "[ 20%      ]     1   0.456789   0.12" (colour codes stripped); last field is seconds.
      local ts; ts=$(sed 's/\x1b\[[0-9;]*m//g' "$work/xlearn.log" | awk '/^\[ *[0-9]+% *\]/ { s += $NF } END { print s + 0 }')
      record workload="$name" kind=ctr model="$model" system=xLearn settings="$(echo "-s $xs -k 8 -e 5 --dis-es -nthread 2 ${XLEARN_FLAGS:-}" | sed 's/ *$//')" \
        run="$r" load="$load" rows="$rows" epochs=5 examples=$((rows * 5)) wall_s="$wall" train_s="$ts" \
        logloss="$(echo "$m" | awk '{ print ($4 == "" ? "null" : $4) }')" auc="$(echo "$m" | awk '{ print ($6 == "" ? "null" : $6) }')"
    fi
    local sys etr="$trf" ete="$tef" fmt=libffm
    [ "$model" = fm ] && { etr="$trm"; ete="$tem"; [ "$trm" = "$trf" ] || fmt=libfm; }
    for sys in local cluster; do
      [ $sys = cluster ] && [ "$cluster" = 0 ] && continue
      local mfile="$work/embark.jsonl"; load=$(load1)
      # 2 compute threads, as the peers run (-s 2, -nthread 2): in train-local and on the
      # cluster's one worker (its server shares the cores; between exchanges it is idle).
      local cmd=("$bin" train-local) label="embark train-local" settings="--dim=8 --epochs=5${nf:+ $nf} --compute_threads=2, 1 process"
      local extra=(--compute_threads=2)
      if [ $sys = cluster ]; then
        cmd=("$root/launch/local.sh" --servers 1 --workers 1 -- train)
        label="embark 1 server + 1 worker"; settings="--dim=8 --epochs=5${nf:+ $nf} --compute_threads=2"
      fi
      rm -f "$mfile" "$work/embark.pred"
      [ -n "$nf" ] && extra+=("$nf")
      t0=$(now)
      run "$work/embark.log" "${cmd[@]}" --model="$model" --format=$fmt --train="$etr" --test="$ete" --dim=8 --epochs=5 \
        "${extra[@]}" --metrics_out="$mfile" --predictions_out="$work/embark.pred"
      wall=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { print b - a }')
      m=$(score clicks "$ete" "$work/embark.pred")
      # shellcheck disable=SC2046
      record workload="$name" kind=ctr model="$model" system="$label" settings="$settings" run="$r" load="$load" rows="$rows" \
        wall_s="$wall" logloss="$(echo "$m" | awk '{ print ($4 == "" ? "null" : $4) }')" \
        auc="$(echo "$m" | awk '{ print ($6 == "" ? "null" : $6) }')" $(embark_summary "$mfile")
    done
  done
}

tables() {  # the tables so far (rewritten after every workload, so a cut-short run leaves them)
  python3 "$root/bench/speed_vs_peers_table.py" "$runlog" "$out/speed_vs_peers.md" "$out/speed_vs_peers.json" \
    "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$(nproc)"
}
want() { case ",$only," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }
# Small workloads first, the generated rating sets (the longest) last; the tables are rewritten
# after every workload.
fr="$data/frappe-dev"
have_frappe=0
[ -r "$fr/train.libffm" ] && [ -r "$fr/test.libffm" ] && [ -r "$fr/train.libfm" ] && [ -r "$fr/test.libfm" ] && have_frappe=1
if want mf; then
  if [ -r "$data/ml-100k/u1.base" ] && [ -r "$data/ml-100k/u1.test" ]; then
    mf_workload "MovieLens-100K u1" "$data/ml-100k/u1.base" "$data/ml-100k/u1.test"; tables
  else
    echo "speed_vs_peers: MovieLens-100K skipped: $data/ml-100k/u1.base or u1.test not found (set EMBARK_DATA)" >&2
  fi
fi
if want fm || want ffm; then
  if [ $have_frappe = 1 ]; then
    if want fm; then ctr_workload "Frappe dev split" fm "$fr/train.libffm" "$fr/test.libffm" "$fr/train.libfm" "$fr/test.libfm" ""; tables; fi
    if want ffm; then ctr_workload "Frappe dev split" ffm "$fr/train.libffm" "$fr/test.libffm" "$fr/train.libfm" "$fr/test.libfm" ""; tables; fi
  else
    echo "speed_vs_peers: Frappe skipped: $fr/{train,test}.{libfm,libffm} not found (set EMBARK_DATA)" >&2
  fi
  g="$out/speed_clicks_1000000"
  [ -s "$g.test.libffm" ] || "$bin" gen --kind=clicks --rows=1000000 --out="$g" --seed=1 >/dev/null
  if want fm; then
    ctr_workload "generated clicks, 1M rows (12 fields)" fm "$g.train.libffm" "$g.test.libffm" "$g.train.libffm" "$g.test.libffm" ""
    tables
  fi
  if want ffm; then
    ctr_workload "generated clicks, 1M rows (12 fields)" ffm "$g.train.libffm" "$g.test.libffm" "$g.train.libffm" \
      "$g.test.libffm" "--num_fields=12"
    tables
  fi
fi
if want mf; then
  IFS=, read -r -a sizes <<< "$mf_rows"
  for n in "${sizes[@]}"; do
    g="$out/speed_ratings_$n"
    [ -s "$g.test.tsv" ] || "$bin" gen --kind=ratings --rows="$n" --out="$g" --seed=1 >/dev/null
    mf_workload "generated ratings, $n rows" "$g.train.tsv" "$g.test.tsv"; tables
  done
fi
tables
cat "$out/speed_vs_peers.md"
