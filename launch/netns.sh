#!/usr/bin/env bash
# Runs an embark job on H simulated hosts on this machine: one network namespace per host,
# joined by a switch (a bridge in a namespace of its own), each host link shaped to --rate.
#
#   launch/netns.sh --hosts H [--layout colocated|dedicated] [--rate 1gbit] [--servers S]
#                   [--workers W] [--counters FILE] -- <command> [flags]
#
# Layouts (which host each rank runs on; host 0 always runs the scheduler, rank 0):
#   colocated  (default) one server and one worker per host: server s and worker w on hosts
#              s % H and w % H; S = W = H unless given. A worker reaches its own host's server
#              through shared memory and the other H-1 servers over the links.
#   dedicated  host 0 runs the scheduler and every server, hosts 1..H-1 one worker each
#              (worker w on host 1 + w % (H-1)); S = 1, W = H-1 unless given. H >= 2.
# Addresses: host k is 10.213.9.(k+1)/24 on its eth0, no default route; the root namespace is
# never touched. --rate shapes both directions of every host link (tc tbf: the host's egress
# and the switch port's egress), e.g. 100mbit, 1gbit, 10gbit; --rate none leaves them unshaped.
# --counters FILE writes, as JSON, the bytes every host's eth0 sent and received during the
# job (kernel counters, /sys/class/net/eth0/statistics). The namespaces are deleted on exit,
# however the job ends. Needs root (ip netns). Exit status: embark's, or 4 when the namespaces
# cannot be created (the reason is printed).
set -euo pipefail

usage() { sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 1; }

hosts=""; layout=colocated; rate=1gbit; servers=""; workers=""; counters=""
while [ $# -gt 0 ]; do
  case "$1" in
    --hosts) hosts="${2:?}"; shift 2 ;;
    --layout) layout="${2:?}"; shift 2 ;;
    --rate) rate="${2:?}"; shift 2 ;;
    --servers) servers="${2:?}"; shift 2 ;;
    --workers) workers="${2:?}"; shift 2 ;;
    --counters) counters="${2:?}"; shift 2 ;;
    --*=*) k="${1%%=*}"; set -- "$k" "${1#*=}" "${@:2}" ;;
    --) shift; break ;;
    -h|--help) usage ;;
    *) echo "netns.sh: unknown option '$1' (did you forget '--' before the command?)" >&2; usage ;;
  esac
done
[ $# -ge 1 ] || { echo "netns.sh: no command given after --" >&2; usage; }
[[ "$hosts" =~ ^[1-9][0-9]*$ ]] && [ "$hosts" -le 250 ] || { echo "netns.sh: --hosts must be in 1..250, got '$hosts'" >&2; exit 1; }
case "$layout" in
  colocated) : "${servers:=$hosts}" "${workers:=$hosts}" ;;
  dedicated) [ "$hosts" -ge 2 ] || { echo "netns.sh: --layout dedicated needs --hosts >= 2" >&2; exit 1; }
             : "${servers:=1}" "${workers:=$((hosts - 1))}" ;;
  *) echo "netns.sh: --layout must be colocated or dedicated, got '$layout'" >&2; exit 1 ;;
esac
[[ "$servers" =~ ^[1-9][0-9]*$ ]] || { echo "netns.sh: --servers must be a positive integer" >&2; exit 1; }
[[ "$workers" =~ ^[1-9][0-9]*$ ]] || { echo "netns.sh: --workers must be a positive integer" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "netns.sh: needs root (ip netns)" >&2; exit 4; }

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
bin="${EMBARK_BIN:-$root/build/bin/embark}"
[ -x "$bin" ] || { echo "netns.sh: $bin not found; build first" >&2; exit 1; }

# Rank -> host.
np=$((1 + servers + workers))
map=(0)
for ((s = 0; s < servers; s++)); do
  if [ "$layout" = colocated ]; then map+=($((s % hosts))); else map+=(0); fi
done
for ((w = 0; w < workers; w++)); do
  if [ "$layout" = colocated ]; then map+=($((w % hosts))); else map+=($((1 + w % (hosts - 1)))); fi
done

# Names carry our pid, so concurrent runs never collide and a later run can tell a dead run's
# namespaces (pid gone) and remove them.
prefix="emb$$-"
subnet=10.213.9
sw="${prefix}sw"
ns_of() { echo "${prefix}h$1"; }
created=()
mpirun_pid=""

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ -n "$mpirun_pid" ] && kill -0 "$mpirun_pid" 2>/dev/null; then
    kill -TERM "$mpirun_pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$mpirun_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$mpirun_pid" 2>/dev/null || true
  fi
  local ns
  for ns in "${created[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E '^emb[0-9]+-' || true); do
  pid="${ns#emb}"; pid="${pid%%-*}"
  kill -0 "$pid" 2>/dev/null || { ip netns del "$ns" 2>/dev/null && echo "netns.sh: removed $ns left by a run that died" >&2; } || true
done

# tbf's bucket must hold a burst the sender can hand over at once: at least 256 KiB, and 1 ms
# worth of bytes at high rates.
burst_of() {
  local r="$1" n unit bps
  n="${r%%[a-z]*}"; unit="${r#"$n"}"
  case "$unit" in kbit) bps=$((n * 1000)) ;; mbit) bps=$((n * 1000000)) ;; gbit) bps=$((n * 1000000000)) ;; bit|"") bps=$n ;;
    *) echo "netns.sh: --rate must be like 100mbit, 1gbit, 10gbit or none, got '$r'" >&2; exit 1 ;; esac
  local b=$((bps / 8 / 1000)); [ "$b" -ge 262144 ] || b=262144
  echo "$b"
}
shape() {  # shape NS DEV
  [ "$rate" = none ] && return 0
  ip -n "$1" link set dev "$2" txqueuelen 1000
  tc -n "$1" qdisc add dev "$2" root tbf rate "$rate" burst "$(burst_of "$rate")" latency 50ms
}
[ "$rate" = none ] || burst_of "$rate" >/dev/null

netup() {
  ip netns add "$sw" || return 1
  created+=("$sw")
  ip netns exec "$sw" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 || true
  ip -n "$sw" link add br0 type bridge || return 1
  ip -n "$sw" link set br0 up
  local h ns
  for ((h = 0; h < hosts; h++)); do
    ns=$(ns_of $h)
    ip netns add "$ns" || return 1
    created+=("$ns")
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 || true
    ip link add eth0 netns "$ns" type veth peer name "p$h" netns "$sw" || return 1
    ip -n "$ns" addr add "$subnet.$((h + 1))/24" dev eth0
    ip -n "$ns" link set lo up
    ip -n "$ns" link set eth0 up
    ip -n "$sw" link set "p$h" master br0 up
    shape "$ns" eth0 || return 1      # the host's upload
    shape "$sw" "p$h" || return 1     # its download
  done
}
if ! netup 2>"/tmp/netns-setup.$$"; then
  echo "netns.sh: cannot create the simulated hosts' namespaces: $(tr '\n' ' ' <"/tmp/netns-setup.$$")" >&2
  rm -f "/tmp/netns-setup.$$"
  exit 4
fi
rm -f "/tmp/netns-setup.$$"

read_counters() {  # one "tx rx" line per host
  local h
  for ((h = 0; h < hosts; h++)); do
    ip netns exec "$(ns_of $h)" sh -c 'echo $(cat /sys/class/net/eth0/statistics/tx_bytes) $(cat /sys/class/net/eth0/statistics/rx_bytes)'
  done
}

describe="rank -> host:"
for ((r = 0; r < np; r++)); do describe+=" $r:h${map[$r]}"; done
echo "netns.sh: $hosts simulated hosts ($layout, links $rate each way, $subnet.0/24, namespaces ${prefix}h0..h$((hosts - 1)) + $sw), $servers servers, $workers workers; $describe" >&2

before=$(read_counters)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export EMBARK_NETNS_PREFIX="$prefix" EMBARK_NETNS_SUBNET="$subnet" EMBARK_NETNS_MAP="${map[*]}"
command="$1"; shift
# mpirun runs inside host 0: its PMIx server must be reachable from the other namespaces, so it
# listens on host 0's eth0 (a loopback address in the root namespace would not be). MPI's own
# bootstrap then goes over vader (shared memory) and PMIx over that link; embark's ZeroMQ
# traffic goes between the hosts' addresses over the shaped links.
set +e
ip netns exec "$(ns_of 0)" env PMIX_MCA_ptl_tcp_remote_connections=1 PMIX_MCA_ptl_tcp_if_include=eth0 \
  mpirun --oversubscribe -np "$np" --mca btl self,vader --mca oob_tcp_if_include eth0 \
  --mca odls_base_sigkill_timeout 3 \
  bash "$here/netns_rank.sh" "$bin" "$command" --num_servers="$servers" "$@" &
mpirun_pid=$!
wait "$mpirun_pid"
rc=$?
set -e
mpirun_pid=""

if [ -n "$counters" ]; then
  after=$(read_counters)
  rank_hosts=$(IFS=,; echo "${map[*]}")
  paste <(echo "$before") <(echo "$after") | awk -v layout="$layout" -v rate="$rate" -v map="$rank_hosts" '
    { tx[NR-1] = $3 - $1; rx[NR-1] = $4 - $2; ttx += tx[NR-1]; trx += rx[NR-1]; n = NR }
    END {
      printf "{\"layout\": \"%s\", \"rate\": \"%s\", \"rank_hosts\": [%s], \"tx_bytes\": %.0f, \"rx_bytes\": %.0f, \"hosts\": [", layout, rate, map, ttx, trx
      for (i = 0; i < n; i++) printf "%s{\"host\": %d, \"tx_bytes\": %.0f, \"rx_bytes\": %.0f}", (i ? ", " : ""), i, tx[i], rx[i]
      print "]}"
    }' >"$counters"
fi
exit "$rc"
