#!/usr/bin/env bash
# Installs the system libraries pix2pix-swift builds against, when they are missing:
# OpenBLAS, OpenMPI, libjpeg-turbo, libpng, and iproute2 for the two-host test (Debian/Ubuntu,
# as root or with sudo).
# Safe to run repeatedly: it does nothing when everything is present.
set -euo pipefail

packages=(libopenblas-dev libopenmpi-dev openmpi-bin libjpeg62-turbo-dev libpng-dev pkg-config iproute2)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "setup: installing ${missing[*]}"
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! command -v swift >/dev/null; then
    [ -x /opt/swift/usr/bin/swift ] && export PATH="/opt/swift/usr/bin:$PATH"
fi
command -v swift >/dev/null || { echo "setup: Swift 6 toolchain not found (https://swift.org/install)" >&2; exit 1; }
