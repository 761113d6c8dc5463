#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Install every Debian package kvmig needs (idempotent, non-interactive) and
# build into build/.  Usage: scripts/setup.sh [--no-build] [BUILDDIR [meson options...]]
set -euo pipefail

cd "$(dirname "$0")/.."

PACKAGES=(
    build-essential meson ninja-build pkg-config python3
    libglib2.0-dev libjson-glib-dev zlib1g-dev libzstd-dev liblz4-dev libdeflate-dev
    libibverbs-dev librdmacm-dev
    libgnutls28-dev gnutls-bin
    clang lld libclang-rt-14-dev
    qemu-system-x86 socat python3-matplotlib binutils python3-docutils
)

missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    echo "setup: installing ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ "${1:-}" = "--no-build" ]; then
    exit 0
fi
builddir="${1:-build}"
shift || true
if [ ! -f "$builddir/build.ninja" ]; then
    meson setup "$builddir" "$@"
fi
ninja -C "$builddir"
