#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""migration-test, precopy: every transport, a running and a paused guest,
cancel, a dead destination, bad streams, a mismatched destination.

usage: test-precopy.py KVMIG ACCEL [CASE...]
ACCEL thread (or thread,dirty=soft) runs 512 MiB guests; kvm runs 128 MiB guests and exits 77
(skip) with the reason when /dev/kvm cannot be opened.
"""
import os
import socket
import sys
import time

from framework import (main, SKIP, VM, TestDir, check_pagewalk_invariant, converge,
                       free_tcp_port, kvm_skip_reason, query, run_cases, set_params,
                       wait_migration)

KVMIG = sys.argv[1]
ACCEL = sys.argv[2]
MEM = "512M" if ACCEL.startswith("thread") else "128M"
MEM_BYTES = int(MEM[:-1]) << 20
FAST = 100 * 1000 * 1000 * 1000     # max-bandwidth: effectively unlimited
SLOW = 20 * 1000 * 1000             # slow enough to act mid-migration
# The guest must have done this many passes before a migration starts.
WARMUP = 2 if ACCEL.startswith("thread") else 1


def vm(d, name, **kw):
    kw.setdefault("accel", ACCEL)
    kw.setdefault("mem", MEM)
    return VM(KVMIG, d, name, **kw).connect()


def start_source(d, name="src"):
    src = vm(d, name)
    src.wait_serial_count("B", WARMUP, timeout=120)
    src.qmp.command("migrate-set-capabilities",
                    capabilities=[{"capability": "events", "state": True}])
    return src


def check_completed(src, info):
    if info["status"] != "completed":
        raise AssertionError(f"migration {info['status']}: {info.get('error-desc')}")
    if src.status() != "postmigrate":
        raise AssertionError(f"source run state {src.status()}")
    # the event may trail the reply that showed the status: pump for it
    deadline = time.monotonic() + 5
    while True:
        events = [e["data"]["status"] for e in src.qmp.events if e["event"] == "MIGRATION"]
        if events[-1:] == ["completed"] or time.monotonic() > deadline:
            break
        src.qmp.command("query-status")
        time.sleep(0.02)
    if events[-1:] != ["completed"] or "active" not in events:
        raise AssertionError(f"MIGRATION events {events}")
    ram = info["ram"]
    print(f"  {MEM} {ACCEL}: total-time {info['total-time']} ms, downtime "
          f"{info['downtime']} ms, setup {info['setup-time']} ms, transferred "
          f"{ram['transferred'] >> 20} MiB, dirty-sync-count {ram['dirty-sync-count']}",
          flush=True)


def check_destination(dst, d):
    """The destination runs the guest on: more passes, then the invariant."""
    n = dst.serial_text().count("B")
    dst.wait_serial_count("B", n + 2, timeout=120)
    if dst.status() != "running":
        raise AssertionError(f"destination run state {dst.status()}")
    dst.qmp.command("stop")
    mem = dst.pmemsave(MEM_BYTES, os.path.join(d, "dst.mem"))
    check_pagewalk_invariant(mem)


def running_migration(uri, incoming, pass_fds=(), src_fds=None):
    with TestDir() as d:
        src = start_source(d)
        dst = vm(d, "dst", incoming=incoming(d) if callable(incoming) else incoming,
                 pass_fds=pass_fds)
        try:
            if src_fds:
                src_fds(src)
            set_params(src, max_bandwidth=FAST, downtime_limit=1)
            src.qmp.command("migrate", uri=uri(d) if callable(uri) else uri)
            info = converge(src)
            check_completed(src, info)
            check_destination(dst, d)
        finally:
            src.kill()
            dst.kill()


def case_tcp():
    port = free_tcp_port()
    running_migration(f"tcp:127.0.0.1:{port}", f"tcp:127.0.0.1:{port}")


def case_unix():
    running_migration(lambda d: f"unix:{d}/mig.sock", lambda d: f"unix:{d}/mig.sock")


def case_fd():
    a, b = socket.socketpair()
    try:
        def give(src):
            src.qmp.command("getfd", fds=[a.fileno()], fdname="mig")
            a.close()
        running_migration("fd:mig", f"fd:{b.fileno()}", pass_fds=(b.fileno(),),
                          src_fds=give)
    finally:
        a.close()
        b.close()


def case_exec():
    """exec: both ways; the destination reads what the source wrote."""
    with TestDir() as d:
        src = start_source(d)
        try:
            set_params(src, max_bandwidth=FAST, downtime_limit=1)
            src.qmp.command("migrate", uri=f"exec:cat > {d}/stream")
            check_completed(src, converge(src))
        finally:
            src.kill()
        dst = vm(d, "dst", incoming=f"exec:cat {d}/stream")
        try:
            check_destination(dst, d)
        finally:
            dst.kill()


def case_file_paused_exact():
    """A paused guest through file: (at an offset) arrives byte for byte, paused."""
    with TestDir() as d:
        src = start_source(d)
        try:
            src.qmp.command("stop")
            set_params(src, max_bandwidth=FAST)
            src.qmp.command("migrate", uri=f"file:{d}/stream,offset=4096")
            check_completed(src, wait_migration(src))
            want = src.pmemsave(MEM_BYTES, os.path.join(d, "src.mem"))
        finally:
            src.kill()
        dst = vm(d, "dst", incoming=f"file:{d}/stream,offset=4096")
        try:
            deadline = time.monotonic() + 60
            while query(dst).get("status") != "completed":
                if time.monotonic() > deadline:
                    raise AssertionError(f"destination: {query(dst)}")
                time.sleep(0.05)
            if dst.status() != "paused":
                raise AssertionError(f"destination of a paused guest is {dst.status()}")
            got = dst.pmemsave(MEM_BYTES, os.path.join(d, "dst.mem"))
            if got != want:
                first = next(i for i in range(len(want)) if want[i] != got[i])
                raise AssertionError(f"memory differs first at 0x{first:x}")
        finally:
            dst.kill()


def second_migration_succeeds(src, d):
    dst = vm(d, "dst2", incoming=f"unix:{d}/mig2.sock")
    try:
        src.qmp.events.clear()
        set_params(src, max_bandwidth=FAST, downtime_limit=1)
        src.qmp.command("migrate", uri=f"unix:{d}/mig2.sock")
        check_completed(src, converge(src))
        check_destination(dst, d)
    finally:
        dst.kill()


def source_keeps_running(src):
    if src.status() != "running":
        raise AssertionError(f"source run state {src.status()}")
    n = src.serial_text().count("B")
    src.wait_serial_count("B", n + 2)


def wait_bytes(src, n=32 << 20):
    deadline = time.monotonic() + 60
    while query(src).get("ram", {}).get("transferred", 0) < n:
        if time.monotonic() > deadline:
            raise AssertionError(f"migration does not progress: {query(src)}")
        time.sleep(0.05)


def case_cancel():
    with TestDir() as d:
        src = start_source(d)
        dst = vm(d, "dst", incoming=f"unix:{d}/mig.sock")
        try:
            set_params(src, max_bandwidth=SLOW, downtime_limit=1)
            src.qmp.command("migrate", uri=f"unix:{d}/mig.sock")
            wait_bytes(src)
            src.qmp.command("migrate_cancel")
            info = wait_migration(src)
            if info["status"] != "cancelled":
                raise AssertionError(f"after cancel: {info}")
            source_keeps_running(src)
            # the destination saw a cut stream: one line, exit 1
            if dst.wait_exit() != 1:
                raise AssertionError(f"destination exit {dst.proc.returncode}")
            second_migration_succeeds(src, d)
        finally:
            src.kill()
            dst.kill()


def case_dead_destination():
    with TestDir() as d:
        src = start_source(d)
        dst = vm(d, "dst", incoming=f"unix:{d}/mig.sock")
        try:
            set_params(src, max_bandwidth=SLOW, downtime_limit=1)
            src.qmp.command("migrate", uri=f"unix:{d}/mig.sock")
            wait_bytes(src)
            dst.proc.kill()
            info = wait_migration(src)
            if info["status"] != "failed" or not info.get("error-desc"):
                raise AssertionError(f"after the destination died: {info}")
            print(f"  error-desc: {info['error-desc']}")
            source_keeps_running(src)
            second_migration_succeeds(src, d)
        finally:
            src.kill()
            dst.kill()


def expect_load_failure(d, incoming, needle, mem=MEM):
    dst = VM(KVMIG, d, "bad", accel=ACCEL, mem=mem, incoming=incoming)
    try:
        rc = dst.wait_exit()
        err = dst.stderr().strip().splitlines()
        if rc != 1:
            raise AssertionError(f"exit status {rc}, stderr {err}")
        lines = [l for l in err if "incoming migration failed" in l]
        if len(lines) != 1 or needle not in lines[0]:
            raise AssertionError(f"stderr {err}, expected one line with {needle!r}")
        print(f"  {lines[0]}")
    finally:
        dst.kill()


def case_bad_stream():
    with TestDir() as d:
        with open(f"{d}/garbage", "wb") as f:
            f.write(os.urandom(64 << 10))
        expect_load_failure(d, f"file:{d}/garbage", "not a migration stream")
        # a real stream, truncated in the middle of RAM
        src = start_source(d)
        try:
            src.qmp.command("stop")
            set_params(src, max_bandwidth=FAST)
            src.qmp.command("migrate", uri=f"file:{d}/stream")
            check_completed(src, wait_migration(src))
        finally:
            src.kill()
        size = os.path.getsize(f"{d}/stream")
        os.truncate(f"{d}/stream", size // 2)
        expect_load_failure(d, f"exec:cat {d}/stream", "unexpected end of stream")


def case_mismatch():
    """A destination with less RAM refuses the stream before any RAM; the source fails."""
    with TestDir() as d:
        src = start_source(d)
        half = f"{MEM_BYTES >> 21}M"
        try:
            dst = VM(KVMIG, d, "small", accel=ACCEL, mem=half,
                     incoming=f"unix:{d}/mig.sock")
            deadline = time.monotonic() + 30
            while not os.path.exists(f"{d}/mig.sock"):
                if time.monotonic() > deadline:
                    raise AssertionError("destination does not listen")
                time.sleep(0.02)
            set_params(src, max_bandwidth=FAST, downtime_limit=1)
            src.qmp.command("migrate", uri=f"unix:{d}/mig.sock")
            info = wait_migration(src)
            if info["status"] != "failed" or "RAM" not in info.get("error-desc", ""):
                raise AssertionError(f"source: {info}")
            print(f"  source error-desc: {info['error-desc']}")
            if dst.wait_exit() != 1:
                raise AssertionError("destination did not exit 1")
            source_keeps_running(src)
        finally:
            src.kill()


CASES = [
    ("tcp", case_tcp),
    ("unix", case_unix),
    ("fd", case_fd),
    ("exec", case_exec),
    ("file-paused-exact", case_file_paused_exact),
    ("cancel", case_cancel),
    ("dead-destination", case_dead_destination),
    ("bad-stream", case_bad_stream),
    ("mismatch", case_mismatch),
]

if __name__ == "__main__":
    main(ACCEL, CASES, sys.argv[3:])
