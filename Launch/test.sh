#!/usr/bin/env bash
# Sets up a fresh machine (system packages) and runs the whole test suite.
# Tests that need ../shared/data/facades or PyTorch-generated fixtures say so when they skip.
set -euo pipefail
cd "$(dirname "$0")/.."
source Launch/setup.sh
# OpenMPI refuses root unless told; tests start real mpirun jobs.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
swift build --build-tests
swift test --skip-build "$@"
