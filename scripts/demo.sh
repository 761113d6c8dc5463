#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The demo: install and build if needed, then live-migrate a running 1 GiB
# guest (a 128 MiB hot set rewritten continuously) between two kvmig
# processes over TCP, with a progress bar; exits 1 if it took over 15 s,
# overshot its 300 ms downtime-limit or sent over 4 GiB (scripts/demo.py).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x build/kvmig ] || [ ! -f build/build.ninja ]; then
    scripts/setup.sh
else
    ninja -C build >/dev/null
fi
exec python3 scripts/demo.py build/kvmig "$@"
