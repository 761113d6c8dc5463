#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The test command: install if needed, build, run `meson test`, and end with
# one line "N passed, N failed, N skipped" computed from meson's results.
#   scripts/test.sh              the normal build in build/
#   scripts/test.sh --sanitize   an ASan+UBSan build in build-san/
set -uo pipefail

cd "$(dirname "$0")/.."
builddir=build
meson_opts=()
if [ "${1:-}" = "--sanitize" ]; then
    builddir=build-san
    meson_opts=(-Db_sanitize=address,undefined -Db_lundef=false)
    shift
fi

if ! scripts/setup.sh "$builddir" "${meson_opts[@]}"; then
    echo "setup or build failed"
    echo "0 passed, 1 failed"
    exit 1
fi

export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
meson test -C "$builddir" --print-errorlogs --num-processes 2 "$@"
rc=$?

python3 - "$builddir/meson-logs/testlog.json" <<'PY'
import json, sys
passed = failed = skipped = 0
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
