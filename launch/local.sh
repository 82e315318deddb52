#!/usr/bin/env bash
# Starts an embark cluster on this machine: 1 scheduler + S servers + W workers.
#
#   launch/local.sh --servers S --workers W [--server_threads T] -- <command> [--flags ...]
#
# Everything after "--" is passed to every rank (embark <command> ...). The root and
# oversubscription switches mpirun needs on a small machine live here, not in callers.
# Exit status: embark's (0 ok, 1 usage/input error, 3 lost rank, 4 start-up, 5 aborted).
set -euo pipefail

usage() {
  sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 1
}

servers=1
workers=1
threads=""
while [ $# -gt 0 ]; do
  case "$1" in
    --servers) servers="${2:?--servers needs a number}"; shift 2 ;;
    --servers=*) servers="${1#*=}"; shift ;;
    --workers) workers="${2:?--workers needs a number}"; shift 2 ;;
    --workers=*) workers="${1#*=}"; shift ;;
    --server_threads) threads="${2:?}"; shift 2 ;;
    --server_threads=*) threads="${1#*=}"; shift ;;
    --) shift; break ;;
    -h|--help) usage ;;
    *) echo "local.sh: unknown option '$1' (did you forget '--' before the command?)" >&2; usage ;;
  esac
done
[ $# -ge 1 ] || { echo "local.sh: no command given after --" >&2; usage; }
[[ "$servers" =~ ^[1-9][0-9]*$ ]] || { echo "local.sh: --servers must be a positive integer, got '$servers'" >&2; exit 1; }
[[ "$workers" =~ ^[1-9][0-9]*$ ]] || { echo "local.sh: --workers must be a positive integer, got '$workers'" >&2; exit 1; }

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
bin="${EMBARK_BIN:-$root/build/bin/embark}"
if [ ! -x "$bin" ]; then
  echo "local.sh: $bin not found; build first: cmake -S $root -B $root/build -G Ninja && ninja -C $root/build" >&2
  exit 1
fi

np=$((1 + servers + workers))
extra=()
[ -n "$threads" ] && extra+=("--server_threads=$threads")

# As root, Open MPI refuses to start unless both variables are set.
if [ "$(id -u)" = 0 ]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
command="$1"; shift
# Open MPI's shared-memory files (vader_segment.*) and session directory go into one directory
# of this launch, removed when mpirun ends however it ends: killed with -9, mpirun leaves them
# behind (4 MiB per rank in /dev/shm, the session files under /tmp). A launch killed with -9
# itself leaves its directory; the next launch removes those whose launcher is gone.
scratch_root=/dev/shm
[ -d "$scratch_root" ] && [ -w "$scratch_root" ] || scratch_root="${TMPDIR:-/tmp}"
# The name carries the host, so a directory shared with another machine is never judged here.
host="$(hostname -s 2>/dev/null || echo host)"
for stale in "$scratch_root"/embark-mpi-"$host"-*; do
  [ -d "$stale" ] || continue
  owner="${stale##*/embark-mpi-"$host"-}"; owner="${owner%%.*}"
  [[ "$owner" =~ ^[0-9]+$ ]] && ! kill -0 "$owner" 2>/dev/null && [ -O "$stale" ] && rm -rf "$stale"
done
scratch="$(mktemp -d "$scratch_root/embark-mpi-$host-$$.XXXXXX")"
mpi_pid=""
cleanup() { rm -rf "$scratch"; }
trap cleanup EXIT
# Signals for the job go to mpirun, which passes them on to the ranks (a stream job's SIGTERM
# takes its final checkpoint); the launcher waits for it either way.
forward() { [ -n "$mpi_pid" ] && kill -"$1" "$mpi_pid" 2>/dev/null || true; }
trap 'forward TERM' TERM
trap 'forward INT' INT
trap 'forward HUP' HUP
# MPI only bootstraps (endpoint exchange); keep its transports on loopback and shared memory.
# odls_base_sigkill_timeout: when one rank dies, mpirun sends SIGTERM to the others and SIGKILL
# this many seconds later; the grace lets them log which rank was lost and why.
# setpriv --pdeathsig (util-linux 2.33+): if this launcher is killed, mpirun is killed with it
# (and its ranks with mpirun), as when the launcher was mpirun itself. Without it, plain mpirun.
tie=()
setpriv --help 2>/dev/null | grep -q -- --pdeathsig && tie=(setpriv --pdeathsig KILL)
"${tie[@]}" mpirun --oversubscribe -np "$np" \
  --mca btl self,vader --mca oob_tcp_if_include lo --mca odls_base_sigkill_timeout 3 \
  --mca btl_vader_backing_directory "$scratch" --mca orte_tmpdir_base "$scratch" \
  "$bin" "$command" --num_servers="$servers" --bind_ip=127.0.0.1 "${extra[@]}" "$@" &
mpi_pid=$!
set +e
while true; do
  wait "$mpi_pid"
  rc=$?
  # wait returns early (above 128) when a trapped signal arrives; mpirun is still running then.
  kill -0 "$mpi_pid" 2>/dev/null || break
done
# A signal that arrived just as mpirun ended interrupted the wait: ask again for its own status.
wait "$mpi_pid" 2>/dev/null
rc=$?
exit "$rc"
