#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""migration-test, downtime and never-written memory: an idle large guest
moves almost nothing and leaves the destination small; x-downtime-phases is
reported on both sides and by HMP; x-early-dirty-log-stop still migrates; a
partly written guest arrives exactly (holes as zero, the rest as written);
the rest of a pass goes before the switchover, not inside it (settle).

Bytes and memory are asserted, never times: the machines are shared.

usage: test-downtime.py KVMIG ACCEL [CASE...]
Both accelerators run a 2 GiB idle guest (never-touched memory costs
nothing under KVM too).  Under KVM, where a nested host makes every guest
store slow, the written cases write a few MiB instead of hundreds and
settle caps the bandwidth so that a pass is still unsent at the first
check; kvm exits 77 (skip) with the reason when /dev/kvm cannot be opened.
"""
import os
import sys

from framework import (main, SKIP, VM, TestDir, kvm_skip_reason, query, run_cases,
                       wait_migration)

KVMIG = sys.argv[1]
ACCEL = sys.argv[2]
THREAD = ACCEL.startswith("thread")
BIG = "2G"
# partly-written's fill, settle's fill and the bandwidth settle runs at
PARTLY = (48 << 20) if THREAD else (4 << 20)
SETTLE_FILL = "400M" if THREAD else "8M"
SETTLE_BW = None if THREAD else 20 * 1000 * 1000
# threshold = bandwidth * limit must cover the whole (mostly hole) RAM at the
# first check, so QEMU's rule switches over with the fill unsent
SETTLE_LIMIT_MS = 10000 if THREAD else 2000 * 1000
MAX_WIRE = 1 << 20          # bytes an idle guest may cost on the wire
MAX_DST_RSS = 64 << 20      # destination resident size after an idle guest
PHASES = ["vcpu-stop", "pre-switchover", "final-dirty-sync", "ram-send",
          "device-state-save", "stream-flush", "dirty-log-stop",
          "destination-load", "destination-resume", "return-path"]


def rss(vm):
    with open(f"/proc/{vm.proc.pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) << 10
    raise AssertionError("no VmRSS")


def vm(d, name, mem, append="workload=idle", **kw):
    return VM(KVMIG, d, name, accel=ACCEL, mem=mem, append=append, **kw).connect()


def migrate(d, mem, append="workload=idle", caps=()):
    """Migrate a fresh guest over a unix socket; returns (src, dst, info)."""
    uri = f"unix:{d}/mig.sock"
    src = vm(d, "src", mem, append)
    dst = vm(d, "dst", mem, append, incoming=uri)
    if caps:
        src.qmp.command("migrate-set-capabilities",
                        capabilities=[{"capability": c, "state": True} for c in caps])
    src.qmp.command("migrate", uri=uri)
    info = wait_migration(src)
    if info["status"] != "completed":
        src.kill()
        dst.kill()
        raise AssertionError(f"migration {info['status']}: {info.get('error-desc')}")
    return src, dst, info


def check_phases(info, dst):
    phases = info.get("x-downtime-phases")
    if phases is None or list(phases) != PHASES:
        raise AssertionError(f"x-downtime-phases: {phases}")
    if any(not isinstance(v, (int, float)) or v < 0 for v in phases.values()):
        raise AssertionError(f"x-downtime-phases values: {phases}")
    # contiguous phases: their sum is the downtime (ms, rounded; 1 ms slack)
    if abs(sum(phases.values()) - info["downtime"]) > 1:
        raise AssertionError(f"phases sum to {sum(phases.values())} ms, downtime "
                             f"{info['downtime']} ms")
    dinfo = query(dst)
    if list(dinfo.get("x-downtime-phases", {})) != ["destination-load", "destination-resume"]:
        raise AssertionError(f"destination query-migrate: {dinfo}")


def case_idle_large():
    """An idle guest: < 1 MiB on the wire, the destination stays small."""
    with TestDir() as d:
        src, dst, info = migrate(d, BIG)
        try:
            ram = info["ram"]
            print(f"  {BIG} idle {ACCEL}: total-time {info['total-time']} ms, downtime "
                  f"{info['downtime']} ms, transferred {ram['transferred']} bytes, "
                  f"destination RSS {rss(dst) >> 20} MiB", flush=True)
            if ram["transferred"] >= MAX_WIRE:
                raise AssertionError(f"{ram['transferred']} bytes on the wire")
            pages = ram["duplicate"] + ram["normal"]
            if pages * ram["page-size"] < ram["total"]:
                raise AssertionError(f"{pages} pages sent of {ram['total']} bytes")
            if rss(dst) >= MAX_DST_RSS:
                raise AssertionError(f"destination RSS {rss(dst) >> 20} MiB")
            if dst.status() != "running":
                raise AssertionError(f"destination run state {dst.status()}")
            check_phases(info, dst)
            hmp = src.qmp.command("human-monitor-command", **{"command-line": "info migrate"})
            line = [x for x in hmp.splitlines() if x.startswith("downtime phases (ms):")]
            if not line or "final-dirty-sync" not in line[0]:
                raise AssertionError(f"info migrate:\n{hmp}")
        finally:
            src.kill()
            dst.kill()


def case_early_dirty_log_stop():
    """The old order (teardown inside the downtime) still migrates."""
    with TestDir() as d:
        src, dst, info = migrate(d, BIG, caps=["x-early-dirty-log-stop"])
        try:
            if info["ram"]["transferred"] >= MAX_WIRE:
                raise AssertionError(f"{info['ram']['transferred']} bytes on the wire")
            check_phases(info, dst)
        finally:
            src.kill()
            dst.kill()


def case_partly_written():
    """fill writes 48 MiB (4 under KVM) then idles: holes arrive as zero, the
    rest exactly."""
    mem, span = "512M", 128 << 20
    app = f"workload=fill size={PARTLY >> 20}M"
    with TestDir() as d:
        uri = f"unix:{d}/mig.sock"
        src = vm(d, "src", mem, app)
        dst = None
        try:
            src.wait_serial_count("F", 1, timeout=120)
            dst = vm(d, "dst", mem, app, incoming=uri)
            src.qmp.command("migrate", uri=uri)
            info = wait_migration(src)
            if info["status"] != "completed":
                raise AssertionError(f"migration {info['status']}: {info.get('error-desc')}")
            ram = info["ram"]
            # the holes did not go as data: what fill wrote and a little more
            if ram["normal-bytes"] > PARTLY + (4 << 20):
                raise AssertionError(f"{ram['normal-bytes']} bytes of pages sent")
            # memory, not time: RSS follows what was written, plus huge pages
            if rss(dst) > PARTLY + MAX_DST_RSS:
                raise AssertionError(f"destination RSS {rss(dst) >> 20} MiB")
            # from 4 MiB up: below is the guest's own code and data, which a
            # KVM guest keeps changing on the running destination
            a = src.pmemsave(span, os.path.join(d, "src.mem"))[4 << 20:]
            b = dst.pmemsave(span, os.path.join(d, "dst.mem"))[4 << 20:]
            if a != b:
                first = next(i for i in range(len(a)) if a[i] != b[i])
                raise AssertionError(f"memory differs from byte 0x{first + (4 << 20):x}")
        finally:
            src.kill()
            if dst:
                dst.kill()


def case_settle():
    """A large downtime-limit lets QEMU's rule switch over mid-pass with most
    of a written guest still unsent; kvmig sends that rest first and stops
    with almost nothing left (x-switchover-at-threshold keeps QEMU's rule).
    Bytes sent inside the downtime are compared, not times.  Under KVM the
    guest writes 8 MiB, and max-bandwidth with the largest downtime-limit
    makes QEMU's rule switch over at the first check, most of it unsent."""
    got = {}
    for caps in ((), ("x-switchover-at-threshold",)):
        with TestDir() as d:
            uri = f"unix:{d}/mig.sock"
            app = f"workload=fill size={SETTLE_FILL}"
            src = vm(d, "src", "512M", app)
            dst = None
            try:
                src.wait_serial_count("F", 1, timeout=300)
                dst = vm(d, "dst", "512M", app, incoming=uri)
                if caps:
                    src.qmp.command("migrate-set-capabilities", capabilities=[
                        {"capability": c, "state": True} for c in caps])
                src.qmp.command("migrate-set-parameters",
                                **{"downtime-limit": SETTLE_LIMIT_MS})
                if SETTLE_BW:
                    src.qmp.command("migrate-set-parameters",
                                    **{"max-bandwidth": SETTLE_BW})
                src.qmp.command("migrate", uri=uri)
                info = wait_migration(src)
                if info["status"] != "completed":
                    raise AssertionError(f"migration {info['status']}: {info.get('error-desc')}")
                got[caps] = info["ram"]["downtime-bytes"]
                if dst.status() != "running":
                    raise AssertionError(f"destination run state {dst.status()}")
            finally:
                src.kill()
                if dst:
                    dst.kill()
    settled, qemu_rule = got[()], got[("x-switchover-at-threshold",)]
    print(f"  512M {ACCEL}, fill {SETTLE_FILL}, downtime-limit {SETTLE_LIMIT_MS} ms: "
          f"downtime-bytes "
          f"{settled} settled, "
          f"{qemu_rule} with x-switchover-at-threshold", flush=True)
    if settled >= 1 << 20:
        raise AssertionError(f"settled switchover sent {settled} bytes in the downtime")
    if qemu_rule <= settled:
        raise AssertionError(f"x-switchover-at-threshold sent {qemu_rule} bytes in the "
                             f"downtime, settled {settled}")


CASES = [
    ("idle-large", case_idle_large),
    ("early-dirty-log-stop", case_early_dirty_log_stop),
    ("partly-written", case_partly_written),
    ("settle", case_settle),
]

if __name__ == "__main__":
    main(ACCEL, CASES, sys.argv[3:])
