#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""migration-test, xbzrle: a running pagewalk guest (one byte per page changes
per pass: XBZRLE's best case) keeps its invariant and really goes as XBZRLE
records; a guest paused before, or stopped during, an xbzrle migration
arrives byte for byte; the cache is resized mid-migration; the counters show
in query-migrate and `info migrate`.

usage: test-xbzrle.py KVMIG ACCEL [CASE...]
ACCEL thread (or thread,dirty=soft) runs 512 MiB guests; kvm runs 128 MiB guests and exits 77
(skip) with the reason when /dev/kvm cannot be opened.
"""
import os
import sys
import time

from framework import (compare_paused_memory, main, SKIP, VM, TestDir, check_pagewalk_invariant, kvm_skip_reason,
                       query, run_cases, set_params, wait_migration)

KVMIG = sys.argv[1]
ACCEL = sys.argv[2]
MEM = "512M" if ACCEL.startswith("thread") else "128M"
MEM_BYTES = int(MEM[:-1]) << 20
FAST = 100 * 1000 * 1000 * 1000     # max-bandwidth: effectively unlimited
# While iterating: fewer raw pages per second than the pagewalk guest dirties
# under dirty tracking (~20k/s on a loaded nested VM), so the migration
# cannot converge before the guest's next lap makes its pages XBZRLE hits.
ITERATE_BW = 64 << 20
WARMUP = 2 if ACCEL.startswith("thread") else 1
XBZRLE_KEYS = {"cache-size", "bytes", "pages", "cache-miss", "cache-miss-rate",
               "encoding-rate", "overflow"}


def vm(d, name, **kw):
    kw.setdefault("accel", ACCEL)
    kw.setdefault("mem", MEM)
    return VM(KVMIG, d, name, **kw).connect()


def hmp(v, line):
    return v.qmp.command("human-monitor-command", **{"command-line": line})


def start_pair(d, cache):
    """A warmed-up pagewalk source with xbzrle on, and a destination."""
    src = vm(d, "src")
    dst = vm(d, "dst", incoming=f"unix:{d}/mig.sock")
    src.wait_serial_count("B", WARMUP, timeout=120)
    src.qmp.command("migrate-set-capabilities",
                    capabilities=[{"capability": "xbzrle", "state": True},
                                  {"capability": "events", "state": True}])
    # downtime-limit 0: iterate while the guest dirties anything, until finish()
    set_params(src, xbzrle_cache_size=cache, max_bandwidth=ITERATE_BW, downtime_limit=0)
    return src, dst


def xbzrle_info(info):
    x = info.get("xbzrle-cache")
    if x is None:
        raise AssertionError(f"no xbzrle-cache in query-migrate: {info}")
    if set(x) != XBZRLE_KEYS:
        raise AssertionError(f"xbzrle-cache members {sorted(x)}")
    return x


def wait_xbzrle_pages(src, n=1, timeout=120):
    """Until at least n pages hit the cache while the migration iterates, or
    it completed first (a pagewalk guest slowed by dirty tracking converges
    on its own once XBZRLE makes the passes short).  Returns query-migrate."""
    deadline = time.monotonic() + timeout
    while True:
        info = query(src)
        status = info.get("status")
        if status in ("failed", "cancelled"):
            raise AssertionError(f"migration {status}: {info.get('error-desc')}")
        if status == "completed" or (status == "active" and xbzrle_info(info)["pages"] >= n):
            return info
        if time.monotonic() > deadline:
            raise AssertionError(f"no XBZRLE pages: {info}")
        time.sleep(0.01)


def finish(src):
    set_params(src, downtime_limit=60000, max_bandwidth=FAST)
    info = wait_migration(src)
    if info["status"] != "completed":
        raise AssertionError(f"migration {info['status']}: {info.get('error-desc')}")
    return info


def report(info, label):
    x, ram = info["xbzrle-cache"], info["ram"]
    avg = x["bytes"] / max(1, x["pages"] - x["overflow"])
    print(f"  {label}: transferred {ram['transferred'] >> 20} MiB, normal {ram['normal']}, "
          f"dirty-sync-count {ram['dirty-sync-count']}, xbzrle pages {x['pages']}, "
          f"bytes {x['bytes']} (~{avg:.1f}/page), cache-miss {x['cache-miss']}, "
          f"overflow {x['overflow']}, encoding-rate {x['encoding-rate']:.1f}, "
          f"downtime {info['downtime']} ms", flush=True)


def check_running_destination(dst, d):
    n = dst.serial_text().count("B")
    dst.wait_serial_count("B", n + 2, timeout=120)
    if dst.status() != "running":
        raise AssertionError(f"destination run state {dst.status()}")
    dst.qmp.command("stop")
    check_pagewalk_invariant(dst.pmemsave(MEM_BYTES, os.path.join(d, "dst.mem")))


def case_running():
    """Running pagewalk: XBZRLE records flow, the invariant holds at the end."""
    with TestDir() as d:
        src, dst = start_pair(d, MEM_BYTES)
        try:
            src.qmp.command("migrate", uri=f"unix:{d}/mig.sock")
            # hits while the guest runs, not only in the last stage
            wait_xbzrle_pages(src, n=1000)
            info = finish(src)
            x = xbzrle_info(info)
            report(info, f"{MEM} {ACCEL}")
            if x["pages"] == 0 or x["bytes"] == 0 or x["cache-size"] != MEM_BYTES:
                raise AssertionError(f"xbzrle-cache {x}")
            # one byte per page changed: a record is a few bytes, far below a page
            if x["bytes"] / max(1, x["pages"] - x["overflow"]) > 64:
                raise AssertionError(f"XBZRLE records average more than 64 bytes: {x}")
            text = hmp(src, "info migrate")
            for line in ("xbzrle transferred: ", "xbzrle pages: ", "xbzrle cache miss: ",
                         "xbzrle cache miss rate: ", "xbzrle encoding rate: ",
                         "xbzrle overflow: "):
                if line not in text:
                    raise AssertionError(f"'{line}' not in info migrate:\n{text}")
            check_running_destination(dst, d)
        finally:
            src.kill()
            dst.kill()


def compare_memory(src, dst, d):
    compare_paused_memory(src, dst, d, MEM_BYTES)


def case_paused_exact():
    """A guest paused before the migration arrives byte for byte, paused."""
    with TestDir() as d:
        src, dst = start_pair(d, 64 << 20)
        try:
            src.qmp.command("stop")
            src.qmp.command("migrate", uri=f"unix:{d}/mig.sock")
            info = finish(src)
            xbzrle_info(info)
            compare_memory(src, dst, d)
        finally:
            src.kill()
            dst.kill()


def case_stopped_midway_exact():
    """Stopped after XBZRLE pages were sent: the destination still ends
    byte-exact (every delta applied to exactly the copy it was made from)."""
    for attempt in range(3):
        with TestDir() as d:
            # a cache smaller than RAM: hits, misses and evictions all happen
            src, dst = start_pair(d, MEM_BYTES // 4)
            try:
                src.qmp.command("migrate", uri=f"unix:{d}/mig.sock")
                info = wait_xbzrle_pages(src, n=100)
                if info["status"] == "completed":
                    print(f"  attempt {attempt}: converged before the stop, again", flush=True)
                    continue
                src.qmp.command("stop")
                info = finish(src)
                report(info, "stopped midway")
                compare_memory(src, dst, d)
                return
            finally:
                src.kill()
                dst.kill()
    raise AssertionError("the migration converged before the guest could be stopped, 3 times")


def wait_cache_size(src, size, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        info = query(src)
        if info.get("status") != "active":
            raise AssertionError(f"migration not active while resizing: {info}")
        if xbzrle_info(info)["cache-size"] == size:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"cache-size stays {info}")
        time.sleep(0.02)


def case_resize():
    """xbzrle-cache-size changed twice while the cache fills (the bulk pass
    inserts every page it sends): query-migrate and info migrate_parameters
    follow, the hits come, the guest arrives intact."""
    with TestDir() as d:
        src, dst = start_pair(d, 16 << 20)
        try:
            src.qmp.command("migrate", uri=f"unix:{d}/mig.sock")
            deadline = time.monotonic() + 120
            while True:
                info = query(src)
                if info["status"] == "active" and info["ram"]["normal"] >= 10000:
                    break
                if time.monotonic() > deadline or info["status"] not in ("setup", "active"):
                    raise AssertionError(f"no pages sent: {info}")
                time.sleep(0.02)
            for size in (MEM_BYTES, 4 << 20):
                set_params(src, xbzrle_cache_size=size)
                wait_cache_size(src, size)
                if f"xbzrle-cache-size: {size} " not in hmp(src, "info migrate_parameters"):
                    raise AssertionError("info migrate_parameters does not show the size")
            info = wait_xbzrle_pages(src, n=100)
            info = finish(src)
            if xbzrle_info(info)["pages"] == 0 or xbzrle_info(info)["cache-size"] != 4 << 20:
                raise AssertionError(f"after resizing: {info}")
            check_running_destination(dst, d)
        finally:
            src.kill()
            dst.kill()


def case_random_stopped_exact():
    """Random words written all over RAM: the bulk pass caches sparse and
    dense pages that then change a little; a cache of 1/128 of RAM evicts,
    misses and overflows.  Stopped mid-migration, the guest arrives byte for
    byte (every delta made against exactly what the destination holds)."""
    with TestDir() as d:
        src = vm(d, "src", append="workload=random rate=16")
        dst = vm(d, "dst", incoming=f"unix:{d}/mig.sock")
        try:
            if ACCEL.startswith("thread"):
                src.wait_serial_count("R", 1, timeout=120)  # 64 MiB of words written
            else:
                # Under nested KVM each store traps: 64 MiB of random words
                # (the first R) would take minutes.  A few seconds of writes
                # still change pages all over; the XBZRLE-pages check below
                # shows they were written.
                time.sleep(3)
                src.check_alive()
            src.qmp.command("migrate-set-capabilities",
                            capabilities=[{"capability": "xbzrle", "state": True}])
            set_params(src, xbzrle_cache_size=MEM_BYTES // 128, max_bandwidth=ITERATE_BW,
                       downtime_limit=0)
            src.qmp.command("migrate", uri=f"unix:{d}/mig.sock")
            info = wait_xbzrle_pages(src, n=100)
            src.qmp.command("stop")
            info = finish(src)
            report(info, "random, stopped midway")
            if xbzrle_info(info)["pages"] == 0:
                raise AssertionError(f"no XBZRLE pages: {info}")
            compare_memory(src, dst, d)
        finally:
            src.kill()
            dst.kill()


CASES = [
    ("running", case_running),
    ("paused-exact", case_paused_exact),
    ("stopped-midway-exact", case_stopped_midway_exact),
    ("resize", case_resize),
    ("random-stopped-exact", case_random_stopped_exact),
]

if __name__ == "__main__":
    main(ACCEL, CASES, sys.argv[3:])
