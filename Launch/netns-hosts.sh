#!/usr/bin/env bash
# Two "hosts" on one machine, for multi-host tests without a cluster: two network namespaces
# joined by a veth pair, 10.77.0.1/24 in PREFIX-a and 10.77.0.2/24 in PREFIX-b.
#
#   Launch/netns-hosts.sh up   [PREFIX]              create (idempotent; PREFIX defaults to p2p)
#   Launch/netns-hosts.sh down [PREFIX]              remove (idempotent)
#   Launch/netns-hosts.sh exec NAMESPACE command...  run a command "on" that host
#
# `exec` runs the command inside the network namespace and inside a fresh UTS namespace whose
# hostname is the namespace's name, so each "host" reports its own hostname (OpenMPI's
# daemons and our `[rank r/n host]` labels). The mount namespace, and so /dev/shm, the
# file system and the binaries, stay shared, like hosts on a shared file system.
#
# A job across both (what Tests/TrainingTests/MultiHostTests.swift runs):
#
#   Launch/netns-hosts.sh up
#   printf '10.77.0.1 slots=1\n10.77.0.2 slots=1\n' > /tmp/hosts
#   OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 \
#   Launch/netns-hosts.sh exec p2p-a mpirun --hostfile /tmp/hosts -np 2 --map-by node \
#       --mca plm_rsh_agent "$PWD/Launch/rsh-netns.sh" --mca plm_rsh_no_tree_spawn 1 \
#       --mca btl tcp,self --mca btl_tcp_if_include 10.77.0.0/24 \
#       --mca oob_tcp_if_include 10.77.0.0/24 .build/release/mpi-check info
#   Launch/netns-hosts.sh down
#
# Needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN) and iproute2 (apt-get install -y iproute2).
set -euo pipefail

die() { echo "netns-hosts.sh: $*" >&2; exit 1; }
usage() { die "usage: $0 up|down [PREFIX] | exec NAMESPACE command..."; }

[[ $# -ge 1 ]] || usage
action=$1; shift
command -v ip >/dev/null || die "the ip command is missing: apt-get install -y iproute2"

case $action in
up|down)
    prefix=${1:-p2p}
    [[ $prefix =~ ^[A-Za-z0-9_]{1,8}$ ]] || die "PREFIX must be 1-8 letters, digits or _ (interface names are limited to 15 characters): '$prefix'"
    a=$prefix-a; b=$prefix-b
    veth_a=$prefix-veth-a; veth_b=$prefix-veth-b
    exists() { ip netns list | awk '{print $1}' | grep -qx -- "$1"; }
    ;;
exec)
    [[ $# -ge 2 ]] || usage
    ns=$1; shift
    [[ -e /var/run/netns/$ns ]] || die "no network namespace '$ns': run '$0 up' first"
    # A new UTS namespace with the namespace's name as hostname, then the command (exec'd,
    # so signals and the exit status pass straight through).
    exec ip netns exec "$ns" unshare --uts sh -c 'hostname "$0" && exec "$@"' "$ns" "$@"
    ;;
*) usage ;;
esac

if [[ $action == down ]]; then
    for ns in "$a" "$b"; do
        if exists "$ns"; then ip netns delete "$ns" || die "could not delete namespace $ns"; fi
    done
    # Deleting a namespace deletes the veth ends in it; one left in the root namespace
    # (from an interrupted `up`) is removed here.
    ip link delete "$veth_a" 2>/dev/null || true
    ip link delete "$veth_b" 2>/dev/null || true
    echo "netns-hosts: removed $a and $b"
    exit 0
fi

# up: check the privilege first, with a clear message (unprivileged containers, no root).
if ! exists "$a"; then
    if ! err=$(ip netns add "$a" 2>&1); then
        die "cannot create network namespaces ($err); this needs root with CAP_SYS_ADMIN and CAP_NET_ADMIN (a privileged container)"
    fi
fi
exists "$b" || ip netns add "$b" || die "cannot create network namespace $b"

if ! ip -n "$a" link show "$veth_a" >/dev/null 2>&1; then
    ip link delete "$veth_a" 2>/dev/null || true  # half-made pair from an interrupted run
    ip -n "$b" link delete "$veth_b" 2>/dev/null || true
    ip link add "$veth_a" type veth peer name "$veth_b" || die "cannot create the veth pair (CAP_NET_ADMIN?)"
    ip link set "$veth_a" netns "$a"
    ip link set "$veth_b" netns "$b"
fi

setup() {  # namespace interface address
    ip -n "$1" link set lo up
    ip -n "$1" addr replace "$3/24" dev "$2"
    ip -n "$1" link set "$2" up
}
setup "$a" "$veth_a" 10.77.0.1
setup "$b" "$veth_b" 10.77.0.2

# The link is up when each side reaches the other (a second or so for the veth to come up).
for _ in $(seq 50); do
    if ip netns exec "$a" ping -c1 -W1 10.77.0.2 >/dev/null 2>&1 \
        || ! command -v ping >/dev/null; then
        echo "netns-hosts: $a (10.77.0.1) <-> $b (10.77.0.2) up"
        exit 0
    fi
    sleep 0.1
done
die "namespaces created but $a cannot reach 10.77.0.2"
