#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Benchmark: postcopy's page-fault latency with and without postcopy-preempt,
and with several x-postcopy-request-window values.

usage: scripts/bench-postcopy.py [--build DIR] [--accel thread|kvm] [--mem 1G]
           [--runs 3] [--postcopy-bw BYTES] [--workload pagewalk|stress|random]
           [--preempt off,on] [--windows 1[,8,...]] [--json]

Two kvmig processes (the same -accel, -m and workload) over a unix:
socket.  Precopy runs at half the guest's size per second with a 1 ms
downtime-limit (it cannot finish), migrate-start-postcopy after two dirty
syncs, then postcopy at --postcopy-bw (max-postcopy-bandwidth, default 0:
unlimited, the main socket's buffers full of bulk pages).  The destination
has postcopy-blocktime on; per run: the faults, postcopy-latency (mean),
the median and 99th-percentile buckets of postcopy-latency-dist (a bucket
i holds [2^i, 2^(i+1)) µs: the figure is the bucket's upper bound), the
vCPU blocktime, total-time and downtime, the source's postcopy-requests,
and the postcopy part's duration (the source's MIGRATION events:
postcopy-active to completed).  Rows: every --preempt value times every
--windows value (x-postcopy-request-window, set on the destination),
interleaved, --runs times; the table shows medians.

Python standard library only; the framework is tests/migration/.
"""
import argparse
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "migration"))
from framework import VM, TestDir, query, set_params, wait_migration, wait_status  # noqa: E402


# what each workload prints as it goes: two of them and it is well under way
PROGRESS = {"pagewalk": "B", "stress": "S", "random": "R"}


def quantile_bucket(dist, q):
    """Upper bound (µs) of the bucket holding the @q quantile."""
    total, seen = sum(dist), 0
    for i, n in enumerate(dist):
        seen += n
        if seen >= q * total:
            return 2 << i
    return 2 << len(dist)


def event_time(v, status):
    """Seconds (the event's timestamp) of @v's MIGRATION event for @status."""
    deadline = time.monotonic() + 5
    while True:
        for e in v.qmp.events:
            if e.get("event") == "MIGRATION" and e["data"].get("status") == status:
                return e["timestamp"]["seconds"] + e["timestamp"]["microseconds"] / 1e6
        if time.monotonic() > deadline:
            raise SystemExit(f"{v.name}: no MIGRATION event for {status}")
        v.qmp.command("query-status")   # reads the events that came meanwhile
        time.sleep(0.05)


def one_run(a, preempt, window):
    mem_bytes = int(a.mem[:-1]) << (30 if a.mem.endswith("G") else 20)
    append = f"workload={a.workload}"
    with TestDir() as d:
        uri = f"unix:{d}/mig.sock"
        src = VM(a.kvmig, d, "src", accel=a.accel, mem=a.mem, append=append).connect()
        dst = VM(a.kvmig, d, "dst", accel=a.accel, mem=a.mem, append=append,
                 incoming="defer").connect()
        try:
            for v in (src, dst):
                v.qmp.command("migrate-set-capabilities", capabilities=[
                    {"capability": "postcopy-ram", "state": True},
                    {"capability": "postcopy-preempt", "state": preempt}])
            dst.qmp.command("migrate-set-capabilities", capabilities=[
                {"capability": "postcopy-blocktime", "state": True}])
            src.qmp.command("migrate-set-capabilities", capabilities=[
                {"capability": "events", "state": True}])
            if window is not None:
                set_params(dst, x_postcopy_request_window=window)
            dst.qmp.command("migrate-incoming", uri=uri)
            set_params(src, max_bandwidth=mem_bytes // 2, downtime_limit=1,
                       max_postcopy_bandwidth=a.postcopy_bw)
            src.wait_serial_count(PROGRESS[a.workload], 2, timeout=300)
            src.qmp.command("migrate", uri=uri)
            deadline = time.monotonic() + 600
            while query(src).get("ram", {}).get("dirty-sync-count", 0) < 2:
                src.check_alive()
                if time.monotonic() > deadline:
                    raise SystemExit(f"no second sync: {query(src)}")
                time.sleep(0.02)
            src.qmp.command("migrate-start-postcopy")
            wait_status(src, "postcopy-active")
            info = wait_migration(src, timeout=900)
            dinfo = wait_migration(dst, timeout=120)
            if info["status"] != "completed" or dinfo["status"] != "completed":
                raise SystemExit(f"not completed: {info} / {dinfo}")
            dist = dinfo["postcopy-latency-dist"]
            pc_ms = (event_time(src, "completed") - event_time(src, "postcopy-active")) * 1000
            return {"accel": a.accel, "mem": a.mem, "workload": a.workload,
                    "preempt": preempt, "window": window, "postcopy_ms": round(pc_ms),
                    "blocktime_ms": dinfo["postcopy-blocktime"],
                    "faults": sum(dist), "mean_us": dinfo["postcopy-latency"] / 1000,
                    "median_le_us": quantile_bucket(dist, 0.5),
                    "p99_le_us": quantile_bucket(dist, 0.99),
                    "vcpu_blocktime_ms": dinfo["postcopy-vcpu-blocktime"][0],
                    "total_ms": info["total-time"], "downtime_ms": info["downtime"],
                    "postcopy_requests": info["ram"]["postcopy-requests"]}
        finally:
            src.kill()
            dst.kill()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(HERE, "..", "build"))
    ap.add_argument("--accel", default="thread")
    ap.add_argument("--mem", default="1G")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--postcopy-bw", type=int, default=0)
    ap.add_argument("--workload", default="pagewalk", choices=sorted(PROGRESS))
    ap.add_argument("--preempt", default="off,on",
                    help="postcopy-preempt values to run, comma-separated")
    ap.add_argument("--windows", default=None,
                    help="x-postcopy-request-window values (pages), comma-separated; "
                         "default: the destination's default")
    ap.add_argument("--json", action="store_true", help="JSON lines only")
    a = ap.parse_args()
    a.kvmig = os.path.join(a.build, "kvmig")
    preempts = [p == "on" for p in a.preempt.split(",")]
    windows = [int(w) for w in a.windows.split(",")] if a.windows else [None]
    combos = [(p, w) for p in preempts for w in windows]
    rows = []
    for _ in range(a.runs):
        for preempt, window in combos:
            r = one_run(a, preempt, window)
            rows.append(r)
            print(json.dumps(r), flush=True)
    if a.json:
        return 0
    print(f"\n{a.accel} {a.mem} {a.workload}, medians of {a.runs}:")
    print(f"{'preempt':8} {'window':>6} {'postcopy ms':>11} {'requests':>8} {'faults':>7} "
          f"{'mean us':>8} {'median<=us':>10} {'p99<=us':>8} {'blocked ms':>10} "
          f"{'total ms':>9}")
    for preempt, window in combos:
        sel = [r for r in rows if r["preempt"] == preempt and r["window"] == window]

        def m(k):
            return statistics.median(r[k] for r in sel)
        print(f"{'on' if preempt else 'off':8} {window if window else '-':>6} "
              f"{m('postcopy_ms'):>11.0f} {m('postcopy_requests'):>8.0f} {m('faults'):>7.0f} "
              f"{m('mean_us'):>8.0f} {m('median_le_us'):>10.0f} {m('p99_le_us'):>8.0f} "
              f"{m('blocktime_ms'):>10.0f} {m('total_ms'):>9.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
