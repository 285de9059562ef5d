#!/usr/bin/env bash
# Several machines from a hostfile (OpenMPI format: `host slots=N` per line), started over ssh
# (or any rsh agent: OMPI_MCA_plm_rsh_agent). Every host needs the same binary and data path.
#
#   Launch/train-hosts.sh HOSTFILE RANKS_PER_HOST [pix2pix train options...]
#
# Thread budget per rank: cores of the host / RANKS_PER_HOST (printed by rank 0). Within a
# host, gradients are averaged through shared memory; between hosts the node leaders
# allreduce over the network (TCP by default: OMPI_MCA_btl_tcp_if_include picks the NIC).
set -euo pipefail
cd "$(dirname "$0")/.."
hostfile=$1; per_host=$2; shift 2
hosts=$(grep -cv '^\s*\(#\|$\)' "$hostfile")
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
exec mpirun --hostfile "$hostfile" -np $(( hosts * per_host )) --map-by "ppr:$per_host:node" --bind-to core \
    .build/release/pix2pix train "$@"
