#!/usr/bin/env bash
# Supervisor: runs an embark training job and, when it dies, restarts it from its latest
# checkpoint (adding --resume), up to --max_restarts times, logging each restart and its cause.
#
#   launch/supervise.sh [--max_restarts N] [--log FILE] -- LAUNCHER [ARGS...]
#   e.g. launch/supervise.sh --max_restarts 3 -- launch/local.sh --servers 2 --workers 4 -- \
#          train --model=mf --train=... --checkpoint_dir=ckpt --checkpoint_every=1epoch
#
# The job must checkpoint (--checkpoint_dir and --checkpoint_every), or a restart would start
# over. Exit code 1 (bad input or usage) is not retried: the same input would fail again.
set -uo pipefail
max_restarts=3
log=""
while [ $# -gt 0 ]; do
  case "$1" in
    --max_restarts) max_restarts="${2:?}"; shift 2 ;;
    --max_restarts=*) max_restarts="${1#*=}"; shift ;;
    --log) log="${2:?}"; shift 2 ;;
    --) shift; break ;;
    *) echo "supervise.sh: unknown option '$1' (did you forget '--'?)" >&2; exit 1 ;;
  esac
done
[ $# -ge 1 ] || { echo "supervise.sh: no job after --" >&2; exit 1; }
[[ "$max_restarts" =~ ^[0-9]+$ ]] || { echo "supervise.sh: --max_restarts must be a number" >&2; exit 1; }
case " $* " in
  *" --checkpoint_dir="*) ;;
  *) echo "supervise.sh: the job needs --checkpoint_dir=... and --checkpoint_every=... to be restartable" >&2; exit 1 ;;
esac
[ -n "$log" ] || log="$(mktemp -t embark-supervise.XXXXXX)"
say() { echo "supervise: $*" | tee -a "$log" >&2; }

args=("$@")
attempt=0
while true; do
  "${args[@]}" 2>&1 | tee -a "$log"
  rc=${PIPESTATUS[0]}
  [ "$rc" = 0 ] && { [ $attempt -gt 0 ] && say "job finished after $attempt restart(s)"; exit 0; }
  cause=$(grep -E "lost rank|aborted|failed|stops:" "$log" | tail -1 | cut -c1-300)
  if [ "$rc" = 1 ]; then
    say "job failed with exit code 1 (bad input or usage), not restarting: ${cause:-see $log}"
    exit 1
  fi
  if [ $attempt -ge "$max_restarts" ]; then
    say "job failed with exit code $rc; giving up after $attempt restart(s): ${cause:-see $log}"
    exit "$rc"
  fi
  attempt=$((attempt + 1))
  say "restart $attempt/$max_restarts after exit code $rc: ${cause:-see $log}"
  case " ${args[*]} " in *" --resume "*) ;; *) args+=(--resume) ;; esac
done
