#!/usr/bin/env bash
# The README's first command: set up a fresh machine, generate the built-in demo dataset,
# train on it data-parallel over all local cores (mpirun), then translate its test split.
#
#   bash Launch/train-demo.sh [extra pix2pix train options...]
#
# Results: checkpoints/demo/ (checkpoints, samples/, loss_log.txt, metrics.jsonl) and
# results/demo/test_latest/index.html (real_A | fake_B | real_B for the test pairs).
set -euo pipefail
cd "$(dirname "$0")/.."
source Launch/setup.sh
swift build -c release --product pix2pix -q
bin=.build/release/pix2pix
[ -d datasets/demo/train ] || "$bin" dataset demo --output datasets/demo --size 128 --count 400
bash Launch/train-local.sh --config Configs/demo.yaml "$@"
"$bin" test --config Configs/demo.yaml --num_test 50
echo
echo "samples:   checkpoints/demo/samples/"
echo "metrics:   checkpoints/demo/metrics.jsonl"
echo "test page: results/demo/test_latest/index.html"
