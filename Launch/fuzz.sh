#!/usr/bin/env bash
# libFuzzer runs of the untrusted-input parsers (Sources/Fuzz/main.swift).
#
#   Launch/fuzz.sh [TARGET|all] [SECONDS]     TARGET: image | safetensors | config (default all, 60 s each)
#
# Builds pix2pix-fuzz with -sanitize=fuzzer,address into .build-fuzz, seeds a corpus in a temp dir
# (the DataTests Pillow fixtures + two facades photos, the LayersTests safetensors fixtures,
# Configs/*.yaml), and runs each target in libFuzzer's fork mode with -ignore_crashes so one
# finding does not stop the run. Prints per target: executed inputs, seconds, and findings.
# Findings (crash-*, timeout-*, oom-*) are kept in $FUZZ_OUT (default .build-fuzz/findings/<target>).
# Reproduce one:  SWIFT_BACKTRACE=enable=no PIX2PIX_FUZZ_TARGET=<target> .build-fuzz/debug/pix2pix-fuzz <file>
set -euo pipefail
cd "$(dirname "$0")/.."
targets=${1:-all}; seconds=${2:-60}
[[ $targets == all ]] && targets="image safetensors config"

echo "== building pix2pix-fuzz (debug, -sanitize=fuzzer,address) into .build-fuzz"
swift build -c debug --product pix2pix-fuzz --scratch-path .build-fuzz \
    -Xswiftc -sanitize=fuzzer,address -Xswiftc -DPIX2PIX_FUZZ \
    -Xcc -fsanitize=fuzzer-no-link,address 2>&1 | grep -v "Cannot export local symbol" | tail -3
bin=.build-fuzz/debug/pix2pix-fuzz

work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
seed() {  # seed <target> → corpus dir
    local dir=$work/corpus-$1; mkdir -p "$dir"
    case $1 in
    image)
        cp Tests/DataTests/Fixtures/pillow/*.png Tests/DataTests/Fixtures/pillow/*.jpg "$dir"/
        for f in /work/shared/data/facades/val/1.jpg /work/shared/data/facades/val/2.jpg; do
            [[ -f $f ]] && cp "$f" "$dir/facades-$(basename "$f")"; done ;;
    safetensors)
        find Tests/LayersTests/Fixtures -name '*.safetensors' -size -64k -exec cp {} "$dir"/ \; ;;
    config) cp Configs/*.yaml "$dir"/ ;;
    esac
    echo "$dir"
}

summary=()
for t in $targets; do
    case $t in image|safetensors) maxlen=65536 ;; config) maxlen=4096 ;;
        *) echo "unknown target $t (image|safetensors|config)"; exit 2 ;; esac
    corpus=$(seed "$t")
    out=${FUZZ_OUT:-.build-fuzz/findings}/$t; mkdir -p "$out"
    log=$out/fuzz.log
    echo "== $t: ${seconds}s, seeds $(ls "$corpus" | wc -l), -max_len=$maxlen, log $log"
    start=$(date +%s); stamp=$work/stamp-$t; touch "$stamp"; sleep 1
    # SWIFT_BACKTRACE=enable=no: let libFuzzer/ASan handle the signal (the Swift backtracer
    # otherwise runs first and can hold the output pipe open).
    SWIFT_BACKTRACE=enable=no PIX2PIX_FUZZ_TARGET=$t timeout $((seconds + 120)) "$bin" \
        -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 \
        -max_total_time="$seconds" -max_len=$maxlen -rss_limit_mb=2048 -timeout=10 \
        -artifact_prefix="$out/" -print_final_stats=1 "$corpus" > "$log" 2>&1 || true
    elapsed=$(( $(date +%s) - start ))
    # Fork mode reports "#<executed units>: cov: ... crash: N time: ..." lines; take the last.
    runs=$(grep -oE '^#[0-9]+' "$log" | tail -1 | tr -d '#'); runs=${runs:-0}
    findings=$(find "$out" -maxdepth 1 \( -name 'crash-*' -o -name 'timeout-*' -o -name 'oom-*' -o -name 'leak-*' \) -newer "$stamp" | wc -l)
    line="$t: $runs inputs in ${elapsed}s, findings: $findings"
    [[ $findings -gt 0 ]] && line+=" ($(find "$out" -maxdepth 1 \( -name 'crash-*' -o -name 'timeout-*' -o -name 'oom-*' -o -name 'leak-*' \) -newer "$stamp" -printf '%f ' ))"
    echo "$line"; summary+=("$line")
done
echo "== summary"; printf '%s\n' "${summary[@]}"
