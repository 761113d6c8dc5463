#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""migration-test, auto-converge: a stress guest that cannot converge says so
in x-convergence; with auto-converge it is throttled (cpu-throttle-percentage)
and completes; the throttle goes when the migration is cancelled.

usage: test-auto-converge.py KVMIG ACCEL [CASE...]
No timing is asserted.  ACCEL thread (always run with the soft dirty log,
-accel thread,dirty=soft): 512 MiB guests dirtying 128 MiB at memory speed
(~20 GB/s) with the bandwidth unlimited (loopback TCP: well under 2 GB/s
on the build machines); throttled 99% the guest dirties ~1% of its speed,
a fraction of what the migration sends.  Under the uffd dirty log a write
fault costs ~70 us on a nested VM, so how fast the guest dirties depends
on the machine's load (at times slower than any low max-bandwidth), and
the case without auto-converge could converge.  kvm: on the project's
nested KVM hosts every guest store traps, so stress would take minutes per
S line; the KVM cases run pagewalk instead (one store per page, B per pass:
a 128 MiB pass in about a quarter of a second, ~500 MB/s of dirtied pages)
against 50 MB/s, which only a throttled guest fits; exits 77 (skip) where
/dev/kvm cannot be opened.
"""
import sys
import time

from framework import (main, SKIP, VM, TestDir, free_tcp_port, kvm_skip_reason, query,
                       run_cases, set_params, wait_migration)

KVMIG = sys.argv[1]
ACCEL = sys.argv[2]
if ACCEL.startswith("thread"):
    ACCEL = "thread,dirty=soft"
    MEM, STRESS_MB, BANDWIDTH = "512M", 256, 100 * 1000 * 1000 * 1000
    # the dirty set never fits unless throttled: 256 MiB rewritten every
    # ~50 ms against 20 ms at up to ~2 GB/s (it would need 13 GB/s)
    DOWNTIME_LIMIT = 20
    # cancel-releases-throttle must not complete before it cancels
    CANCEL_BANDWIDTH = 30 * 1000 * 1000
    APPEND, TICK = f"workload=stress mb={STRESS_MB}", "S"   # S: one GiB written
else:
    MEM, BANDWIDTH = "128M", 50 * 1000 * 1000
    # 50 ms: the dirty set never fits (at 50 MB/s, 2.5 MB) unless throttled
    DOWNTIME_LIMIT = 50
    CANCEL_BANDWIDTH = BANDWIDTH
    APPEND, TICK = "workload=pagewalk", "B"                 # B: one pass of RAM
# stalled sync periods before the verdict, plus the first (bulk) pass
SYNCS_FOR_VERDICT = 6


def vm(d, name, **kw):
    kw.setdefault("accel", ACCEL)
    kw.setdefault("mem", MEM)
    kw.setdefault("append", APPEND)
    return VM(KVMIG, d, name, **kw).connect()


def start_pair(d, src=None, dst_name="dst"):
    port = free_tcp_port()
    dst = vm(d, dst_name, incoming=f"tcp:127.0.0.1:{port}")
    if src is None:
        src = vm(d, "src")
        # let the guest run a little (two S lines, or two pagewalk passes)
        src.wait_serial_count(TICK, 2, timeout=300)
    return src, dst, f"tcp:127.0.0.1:{port}"


def set_auto_converge(src, on, bandwidth=BANDWIDTH, **params):
    src.qmp.command("migrate-set-capabilities",
                    capabilities=[{"capability": "auto-converge", "state": on}])
    set_params(src, max_bandwidth=bandwidth, downtime_limit=DOWNTIME_LIMIT, **params)


def wait_verdict(src, timeout=300):
    """Poll until x-convergence says not converging; return that reply."""
    deadline = time.monotonic() + timeout
    while True:
        info = query(src)
        if info.get("status") == "setup":
            time.sleep(0.05)
            continue
        if info.get("status") != "active":
            raise AssertionError(f"migration left active: {info}")
        conv = info.get("x-convergence")
        if conv is None:
            raise AssertionError(f"no x-convergence while active: {info}")
        if conv["converging"] is False:
            return info
        if time.monotonic() > deadline:
            raise AssertionError(f"still no verdict: {info}")
        time.sleep(0.2)


def wait_throttled(src, timeout=300):
    deadline = time.monotonic() + timeout
    while True:
        info = query(src)
        if info.get("cpu-throttle-percentage", 0) > 0:
            return info
        if info.get("status") not in ("setup", "active") or time.monotonic() > deadline:
            raise AssertionError(f"never throttled: {info}")
        time.sleep(0.1)


def case_not_converging_then_auto_converge():
    with TestDir() as d:
        src, dst, uri = start_pair(d)
        dst2 = None
        try:
            # 1. no auto-converge: stays active, and says why after some syncs
            set_auto_converge(src, False)
            src.qmp.command("migrate", uri=uri)
            info = wait_verdict(src)
            verdict = info["x-convergence"]
            if verdict["reason"] != "auto-converge-off" or "cpu-throttle-percentage" in info:
                raise AssertionError(f"expected not converging, auto-converge off: {info}")
            hmp = src.qmp.hmp("info migrate")
            if "x-convergence: " not in hmp:
                raise AssertionError(f"HMP info migrate: {hmp}")
            # and it goes on iterating: still active after more syncs
            while info["ram"]["dirty-sync-count"] < SYNCS_FOR_VERDICT:
                time.sleep(0.2)
                info = query(src)
                if info["status"] != "active":
                    raise AssertionError(f"without auto-converge: {info}")
            conv = verdict
            print(f"  after {info['ram']['dirty-sync-count']} syncs: {conv}, expected-downtime "
                  f"{info['expected-downtime']} ms", flush=True)
            src.qmp.command("migrate_cancel")
            if wait_migration(src)["status"] != "cancelled":
                raise AssertionError("not cancelled")
            dst.kill()

            # 2. auto-converge (steep steps to keep the test short): completes
            _, dst2, uri = start_pair(d, src=src, dst_name="dst2")
            set_auto_converge(src, True, cpu_throttle_initial=60,
                              cpu_throttle_increment=20)
            src.qmp.command("migrate", uri=uri)
            info = wait_throttled(src)
            seen = info["cpu-throttle-percentage"]
            hmp = src.qmp.hmp("info migrate")
            if "cpu throttle percentage: " not in hmp:
                raise AssertionError(f"HMP info migrate: {hmp}")
            deadline = time.monotonic() + 600
            while True:
                info = query(src)
                seen = max(seen, info.get("cpu-throttle-percentage", 0))
                # not just "not active": the switchover passes "device"
                if info["status"] in ("completed", "failed", "cancelled") or \
                        time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            if info["status"] != "completed":
                raise AssertionError(f"with auto-converge: {info}")
            if "cpu-throttle-percentage" in info:
                raise AssertionError(f"throttle shown after completion: {info}")
            print(f"  auto-converge: completed in {info['total-time']} ms, downtime "
                  f"{info['downtime']} ms, highest throttle {seen}%, "
                  f"{info['ram']['dirty-sync-count']} syncs", flush=True)
            # the guest goes on at full speed on the destination
            n = dst2.serial_text().count(TICK)
            dst2.wait_serial_count(TICK, n + 2, timeout=120)
            if dst2.status() != "running":
                raise AssertionError(f"destination {dst2.status()}")
        finally:
            src.kill()
            dst.kill()
            if dst2:
                dst2.kill()


def case_cancel_releases_throttle():
    """Cancelled at 99%: the guest gets its speed back (a liveness check:
    at 99% the 20 GiB waited for would take minutes, unthrottled seconds)."""
    with TestDir() as d:
        src, dst, uri = start_pair(d)
        try:
            set_auto_converge(src, True, bandwidth=CANCEL_BANDWIDTH, cpu_throttle_initial=99)
            src.qmp.command("migrate", uri=uri)
            info = wait_throttled(src)
            if info["cpu-throttle-percentage"] != 99:
                raise AssertionError(f"throttle {info['cpu-throttle-percentage']}, not 99")
            src.qmp.command("migrate_cancel")
            if wait_migration(src)["status"] != "cancelled":
                raise AssertionError("not cancelled")
            # 20 GiB, or 8 passes: minutes at 99%, seconds unthrottled
            n = src.serial_text().count(TICK)
            src.wait_serial_count(TICK, n + (20 if ACCEL.startswith("thread") else 8),
                                  timeout=90)
            if src.status() != "running":
                raise AssertionError(f"source {src.status()}")
        finally:
            src.kill()
            dst.kill()


CASES = [
    ("not-converging-then-auto-converge", case_not_converging_then_auto_converge),
    ("cancel-releases-throttle", case_cancel_releases_throttle),
]

if __name__ == "__main__":
    main(ACCEL, CASES, sys.argv[3:])
