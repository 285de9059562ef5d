#!/usr/bin/env bash
# Side-by-side benchmark: `pix2pix bench` and the same step in PyTorch (Launch/pytorch_bench.py),
# in one run on this machine, with the ratios; prints the README's performance table.
#
#   PYTHON=/path/to/venv/bin/python [ROUNDS=3] Launch/bench-vs-pytorch.sh [steps]
#
# Each measurement runs ROUNDS times, ours and PyTorch alternating, and the fastest round of
# each side is reported (a shared VM's noise only ever slows a run down).
# Needs a Python with torch (pip install torch); never part of CI.
set -euo pipefail
cd "$(dirname "$0")/.."
source Launch/setup.sh
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
PYTHON=${PYTHON:-python3}
STEPS=${1:-10}
ROUNDS=${ROUNDS:-3}
CORES=$(nproc)
swift build -c release --product pix2pix -q
BIN=.build/release/pix2pix
git_rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
echo "commit $git_rev, $(lscpu | sed -n 's/^Model name: *//p'), $CORES cores, $($PYTHON -c 'import torch; print("torch", torch.__version__)')"

# The fastest of several JSON results (by s_per_step, or s_per_image for translate); each
# result is the last line of a run's output that is a JSON object (mpirun may add others).
fastest() {
    $PYTHON -c 'import json, sys
runs = [json.loads([l for l in r.splitlines() if l.startswith("{")][-1]) for r in sys.argv[1:]]
print(json.dumps(min(runs, key=lambda r: r.get("s_per_step", r.get("s_per_image")))))' "$@"
}

row() {  # size netG
    local size=$1 netG=$2 load=$(( $1 * 286 / 256 ))
    local ours=() theirs=()
    for _ in $(seq "$ROUNDS"); do
        ours+=("$(OPENBLAS_NUM_THREADS=$CORES $BIN bench --json --steps "$STEPS" --netG "$netG" --crop_size "$size" --load_size "$load")")
        theirs+=("$($PYTHON Launch/pytorch_bench.py --netG "$netG" --size "$size" --threads "$CORES" --steps "$STEPS")")
    done
    $PYTHON - "$(fastest "${ours[@]}")" "$(fastest "${theirs[@]}")" <<'PY'
import json, sys
o, t = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print("| %s %d×%d, 1 process × %d threads | %.3f | %.2f | %.1f (%.0f%%) | %.0f | %.3f | %.0f | **%.2f×** | %.2f |" % (
    o["netG"], o["size"], o["size"], o["threads_per_rank"], o["s_per_step"], o["images_per_s"], o["gflop_per_s"],
    100 * o["gflop_per_s"] / o["sgemm_peak_gflop_per_s"], o["peak_rss_mb"], t["s_per_step"], t["peak_rss_mb"],
    t["s_per_step"] / o["s_per_step"], o["peak_rss_mb"] / t["peak_rss_mb"]))
PY
}

echo
echo "| configuration | ours s/step | ours img/s | ours GFLOP/s (% sgemm peak) | ours peak RSS MB | PyTorch s/step | PyTorch peak RSS MB | speed-up | RSS ratio |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
row 128 unet_128
row 256 unet_256
row 512 unet_256

echo
ones=() twos=()
for _ in $(seq "$ROUNDS"); do ones+=("$(OPENBLAS_NUM_THREADS=1 $BIN bench --json --steps "$STEPS")"); done
one=$(fastest "${ones[@]}")
base=$($PYTHON -c 'import json,sys; print(json.loads(sys.argv[1])["images_per_s"])' "$one")
for _ in $(seq "$ROUNDS"); do twos+=("$(mpirun -np 2 --bind-to core $BIN bench --json --steps "$STEPS" --baseline "$base")"); done
two=$(fastest "${twos[@]}")
$PYTHON - "$one" "$two" <<'PY'
import json, sys
o, t = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print("scaling, unet_256 256×256 batch 1 per rank: 1 rank × 1 thread %.3f img/s; 2 ranks × 1 thread %.3f img/s = %.1f%% of 2×; gradient sync %.4f s/step" % (
    o["images_per_s"], t["images_per_s"], 100 * t["scaling_efficiency"], t["gradient_sync_s"]))
PY
ours_t=() theirs_t=()
for _ in $(seq "$ROUNDS"); do
    ours_t+=("$($BIN bench --translate --json --steps "$STEPS")")
    theirs_t+=("$($PYTHON Launch/pytorch_bench.py --translate --threads "$CORES" --steps "$STEPS")")
done
ours_t=$(fastest "${ours_t[@]}") theirs_t=$(fastest "${theirs_t[@]}")
$PYTHON - "$ours_t" "$theirs_t" <<'PY'
import json, sys
o, t = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print("translate unet_256 256×256: ours %.4f s/image, PyTorch %.4f s/image (%.2f× faster)" % (o["s_per_image"], t["s_per_step"], t["s_per_step"] / o["s_per_image"]))
PY
