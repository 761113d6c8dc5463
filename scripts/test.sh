#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The test command: install if needed, build, run `meson test`, and end with
# one line "N passed, N failed, N skipped" computed from meson's results.
#   scripts/test.sh              the normal build in build/
#   scripts/test.sh --sanitize   an ASan+UBSan build in build-san/ (LSan
#                                included), minus SAN_SKIP below
# Extra arguments go to `meson test` (test names: only those run).
set -uo pipefail

cd "$(dirname "$0")/.."
builddir=build
meson_opts=()
sanitize=false
if [ "${1:-}" = "--sanitize" ]; then
    builddir=build-san
    meson_opts=(-Db_sanitize=address,undefined -Db_lundef=false)
    sanitize=true
    shift
fi

# The sanitizer run leaves out migration cases that take minutes under ASan
# and add no C code the others do not run: xbzrle end to end (its encoder,
# decoder, cache and records run sanitized in test-xbzrle, test-page-cache,
# test-ram-xbzrle and fuzz-xbzrle), auto-converge (long busy guests; the
# throttle math is unit-tested), and analyze (a Python reader of streams).
# Under KVM (where /dev/kvm opens, on a nested host whose guest stores trap)
# the same goes for the slow KVM cases of features whose C code runs
# sanitized in their thread cases: balloon, compress, xbzrle, auto-converge,
# analyze.  The KVM accelerator's own code (accel/kvm*.c) still runs
# sanitized in test-kvm, boot-kvm and the precopy, multifd, downtime and
# switchover KVM cases.
# They run in the normal build; here they count as skipped.
SAN_SKIP=(migration-xbzrle-thread migration-auto-converge-thread migration-analyze-thread
          migration-balloon-kvm migration-compress-kvm migration-xbzrle-kvm
          migration-auto-converge-kvm migration-analyze-kvm)

if ! scripts/setup.sh "$builddir" "${meson_opts[@]}"; then
    echo "setup or build failed"
    echo "0 passed, 1 failed"
    exit 1
fi

export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# LSan: leaks fail a test (exit 23); glib's one-time allocations are named
# in the suppressions file, nothing else is.
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
export LSAN_OPTIONS=suppressions=$PWD/scripts/lsan.supp:print_suppressions=0
tests=("$@")
san_skipped=0
if $sanitize && [ ${#tests[@]} -eq 0 ]; then
    # every test but SAN_SKIP, by name
    while read -r name; do
        name=${name##* / }
        skip=false
        for s in "${SAN_SKIP[@]}"; do
            [ "$name" = "$s" ] && skip=true
        done
        if $skip; then
            echo "sanitizer run: skipping $name (see SAN_SKIP in scripts/test.sh)"
            san_skipped=$((san_skipped + 1))
        else
            tests+=("$name")
        fi
    done < <(meson test -C "$builddir" --list 2>/dev/null | grep ' / ')
fi
meson test -C "$builddir" --print-errorlogs --num-processes 2 "${tests[@]}"
rc=$?

python3 - "$builddir/meson-logs/testlog.json" "$san_skipped" <<'PY'
import json, sys
passed = failed = 0
skipped = int(sys.argv[2])
try:
    with open(sys.argv[1]) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            r = json.loads(line).get("result")
            if r in ("OK", "EXPECTEDFAIL"):
                passed += 1
            elif r == "SKIP":
                skipped += 1
            else:
                failed += 1
except OSError:
    failed = 1
print(f"{passed} passed, {failed} failed, {skipped} skipped")
PY
exit $rc
