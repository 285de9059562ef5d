#!/usr/bin/env bash
# An rsh/ssh stand-in for OpenMPI (`--mca plm_rsh_agent $PWD/Launch/rsh-netns.sh`) that
# "logs in" to the hosts made by Launch/netns-hosts.sh: it runs the command inside that
# host's network namespace, with the namespace's name as hostname (see netns-hosts.sh exec).
#
#   rsh-netns.sh [ssh-style options] HOST command...
#
# HOST: 10.77.0.1 or PREFIX-a -> namespace PREFIX-a; 10.77.0.2 or PREFIX-b -> PREFIX-b
# (PREFIX from $NETNS_PREFIX, default p2p). Like ssh, the command words are joined with
# spaces and read by a shell: OpenMPI passes `PATH=... ; export PATH ; ... orted -mca ...`
# with quoted values. Unlike ssh, the environment is the caller's (mpirun's), which is what
# a shared-file-system cluster with the same login environment would give.
#
# OpenMPI 4.1's plm rsh adds ssh options only when the agent is ssh itself (`-x`, and
# `plm_rsh_args` if set); ssh-style options are accepted here and ignored anyway.
set -euo pipefail

while [[ $# -gt 0 ]]; do
    case $1 in
    -[1246AaCfGgKkMNnqsTtVvXxYy]*) shift ;;          # ssh flags without a value
    -[BbcDEeFIiJLlmOopQRSWw]) shift 2 ;;             # ssh options with a value
    -[BbcDEeFIiJLlmOopQRSWw]*) shift ;;              # ... written -oValue
    --) shift; break ;;
    *) break ;;
    esac
done
[[ $# -ge 2 ]] || { echo "rsh-netns.sh: usage: $0 [options] HOST command..." >&2; exit 255; }
host=${1#*@}; shift   # user@host: the user is ignored

prefix=${NETNS_PREFIX:-p2p}
case $host in
10.77.0.1 | "$prefix-a") ns=$prefix-a ;;
10.77.0.2 | "$prefix-b") ns=$prefix-b ;;
*) echo "rsh-netns.sh: unknown host '$host' (known: 10.77.0.1, 10.77.0.2, $prefix-a, $prefix-b)" >&2
   exit 255 ;;
esac

[[ -z ${RSH_NETNS_LOG:-} ]] || printf '%s host=%s ns=%s cmd=%s\n' "$(date +%T)" "$host" "$ns" "$*" >>"$RSH_NETNS_LOG"
exec bash "$(dirname "$0")/netns-hosts.sh" exec "$ns" sh -c "$*"
