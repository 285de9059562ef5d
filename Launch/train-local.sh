#!/usr/bin/env bash
# Data-parallel training on one machine: one MPI rank per group of cores, each rank a full
# replica of G and D on its shard of every global batch.
#
#   Launch/train-local.sh [RANKS] [pix2pix train options...]
#   Launch/train-local.sh 4 --config Configs/facades.yaml --dataroot /data/facades
#
# RANKS defaults to the number of cores. Thread budget: each rank gets cores / RANKS
# OpenBLAS threads (printed by rank 0 at start-up); OPENBLAS_NUM_THREADS overrides it.
# Ranks are bound to cores (--bind-to core) so their threads do not migrate; with more ranks
# than cores binding is off and OpenMPI is told to oversubscribe.
set -euo pipefail
cd "$(dirname "$0")/.."
source Launch/setup.sh
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
cores=$(nproc)
ranks=$cores
if [[ $# -gt 0 && $1 =~ ^[0-9]+$ ]]; then ranks=$1; shift; fi
swift build -c release --product pix2pix -q
if (( ranks > cores )); then
    binding=(--oversubscribe --bind-to none)
else
    per=$(( cores / ranks ))
    binding=(--map-by "slot:PE=$per" --bind-to core)
fi
exec mpirun -np "$ranks" "${binding[@]}" .build/release/pix2pix train "$@"
