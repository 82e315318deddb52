#!/usr/bin/env bash
# Starts an embark job on the hosts of an Open MPI hostfile.
#
#   launch/hostfile.sh --hostfile FILE --servers S --workers W [--iface IF] -- <command> [flags]
#
# Hostfile lines look like "node1 slots=8". Rank 0 (scheduler) and the servers are placed
# first, so list the machines meant for servers first. --iface names the network interface
# both MPI's bootstrap and embark's ZeroMQ traffic should use (each rank advertises that
# interface's IPv4 address). The embark binary must exist at the same path on every host
# (EMBARK_BIN, default build/bin/embark under this checkout).
set -euo pipefail
hostfile=""; servers=1; workers=1; iface=""
while [ $# -gt 0 ]; do
  case "$1" in
    --hostfile) hostfile="$2"; shift 2 ;;
    --servers) servers="$2"; shift 2 ;;
    --workers) workers="$2"; shift 2 ;;
    --iface) iface="$2"; shift 2 ;;
    --) shift; break ;;
    *) echo "hostfile.sh: unknown option '$1'" >&2; exit 1 ;;
  esac
done
[ -f "$hostfile" ] || { echo "hostfile.sh: --hostfile FILE is required (got '$hostfile')" >&2; exit 1; }
[ $# -ge 1 ] || { echo "hostfile.sh: no command after --" >&2; exit 1; }
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${EMBARK_BIN:-$root/build/bin/embark}"
np=$((1 + servers + workers))
mca=()
wrap=()
if [ -n "$iface" ]; then
  mca+=(--mca btl_tcp_if_include "$iface" --mca oob_tcp_if_include "$iface")
  # Each rank resolves its own interface address at start, on its own host.
  wrap=(bash -c 'exec "$0" "$@" --bind_ip="$(ip -4 -o addr show dev '"$iface"' | awk "{print \$4}" | cut -d/ -f1)"')
fi
command="$1"; shift
# A few seconds between mpirun's SIGTERM and SIGKILL let ranks name the lost rank (see local.sh).
exec mpirun --hostfile "$hostfile" -np "$np" --map-by slot --mca odls_base_sigkill_timeout 3 "${mca[@]}" \
  "${wrap[@]}" "$bin" "$command" --num_servers="$servers" "$@"
