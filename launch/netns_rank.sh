#!/usr/bin/env bash
# Run by mpirun for every rank of launch/netns.sh: enters the network namespace of the rank's
# simulated host and runs embark there, advertising that host's address.
#
#   EMBARK_NETNS_PREFIX=emb123- EMBARK_NETNS_SUBNET=10.213.9 EMBARK_NETNS_MAP="0 0 1" \
#     netns_rank.sh path/to/embark <command> [flags]      (OMPI_COMM_WORLD_RANK set by mpirun)
set -euo pipefail
rank="${OMPI_COMM_WORLD_RANK:?netns_rank.sh runs under mpirun}"
read -r -a map <<<"${EMBARK_NETNS_MAP:?}"
host="${map[$rank]:?rank $rank has no host in EMBARK_NETNS_MAP}"
exec ip netns exec "${EMBARK_NETNS_PREFIX:?}h$host" "$@" --bind_ip="${EMBARK_NETNS_SUBNET:?}.$((host + 1))"
