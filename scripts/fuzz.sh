#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Coverage-guided fuzzing, a bounded CI stage: build the libFuzzer targets
# (tests/fuzz/meson.build, -Dfuzzing=true) with clang, ASan and UBSan into
# build-fuzz/, then run each for FUZZ_SECONDS (default 20) from its seed
# corpus in the tree (tests/fuzz/corpus/<target>/, read only: new inputs
# go to a scratch directory).  A crash, leak, sanitizer report or timeout
# fails the stage; the reproducer is kept in build-fuzz/fuzz-artifacts/.
# Prints one line per target (runs, coverage, corpus) and ends with
# "N passed, N failed" like scripts/test.sh.
#   scripts/fuzz.sh [TARGET...]      (default: every target)
set -uo pipefail
cd "$(dirname "$0")/.."

builddir=build-fuzz
seconds=${FUZZ_SECONDS:-20}
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(fuzz-qmp fuzz-xbzrle fuzz-virtqueue fuzz-compress fuzz-rdma-ctl fuzz-multifd
             fuzz-return-path fuzz-tls-objects fuzz-loadvm fuzz-postcopy)
fi

if ! scripts/setup.sh --no-build; then
    echo "setup failed"
    echo "0 passed, 1 failed"
    exit 1
fi
if [ ! -f "$builddir/build.ninja" ]; then
    CC=clang meson setup "$builddir" -Dfuzzing=true -Db_sanitize=address,undefined \
        -Db_lundef=false >/dev/null || { echo "meson setup failed"; echo "0 passed, 1 failed"; exit 1; }
fi
# only the targets and what they link, not the whole tree
if ! ninja -C "$builddir" "${targets[@]/#/tests/fuzz/}" >/dev/null; then
    echo "building the libFuzzer targets failed"
    echo "0 passed, 1 failed"
    exit 1
fi

export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
export LSAN_OPTIONS=suppressions=$PWD/scripts/lsan.supp:print_suppressions=0
art="$builddir/fuzz-artifacts"
mkdir -p "$art"
passed=0 failed=0
for t in "${targets[@]}"; do
    name=${t#fuzz-}
    seeds=tests/fuzz/corpus/$name
    work=$(mktemp -d)
    extra=()
    [ -f "tests/fuzz/$name.dict" ] && extra+=("-dict=tests/fuzz/$name.dict")
    log="$art/$t.log"
    "$builddir/tests/fuzz/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -malloc_limit_mb=512 -print_final_stats=1 -artifact_prefix="$art/$t-" \
        "${extra[@]}" "$work" "$seeds" >"$log" 2>&1
    rc=$?
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$')
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | grep -o '[0-9]*')
    ft=$(grep -o 'ft: [0-9]*' "$log" | tail -n 1 | grep -o '[0-9]*')
    new=$(find "$work" -type f | wc -l)
    if [ $rc -eq 0 ]; then
        passed=$((passed + 1))
        echo "ok $t: ${runs:-?} runs in ${seconds} s, coverage ${cov:-?} edges / ${ft:-?} features, $(ls "$seeds" | wc -l) seeds, $new new inputs"
    else
        failed=$((failed + 1))
        echo "FAIL $t (exit $rc): see $log; reproducer: $(ls "$art/$t-"* 2>/dev/null | head -n 1)"
        tail -n 30 "$log"
    fi
    rm -rf "$work"
done
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
