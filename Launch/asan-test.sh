#!/usr/bin/env bash
# Runs the test suites that do not spawn mpirun under the address sanitizer.
#
#   Launch/asan-test.sh [FILTER]    (default: TensorTests, LayersTests, Pix2PixTests, DataTests,
#                                    TrainingTests' CheckpointTests and OptionsTests)
#
# Builds into .build-asan (debug). DistributedTests and the TrainingTests that start mpirun are
# left out: ASan inside OpenMPI's processes reports the MPI library's own allocations.
# Exit status: swift test's (non-zero on a failure or on any ASan report, which aborts).
set -euo pipefail
cd "$(dirname "$0")/.."
filter=${1:-'^(TensorTests|LayersTests|Pix2PixTests|DataTests)\.|^TrainingTests\.(CheckpointTests|OptionsTests)'}
swift build --build-tests --scratch-path .build-asan -Xswiftc -sanitize=address \
    -Xcc -fsanitize=address 2>&1 | grep -v "Cannot export local symbol" | tail -3
# detect_leaks=0: the Swift runtime's metadata caches are never freed (not bugs);
# SWIFT_BACKTRACE=enable=no: let ASan print the report instead of the Swift backtracer.
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=1:halt_on_error=1} SWIFT_BACKTRACE=enable=no \
    swift test --skip-build --scratch-path .build-asan --filter "$filter"
