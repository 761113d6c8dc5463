#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""migration-test, postcopy: a pagewalk guest that precopy cannot finish
(downtime-limit 1 ms) switches to postcopy after two dirty syncs; the
destination runs it while its pages still arrive (userfaultfd), and the
pagewalk invariant holds on the destination while postcopy runs (guest
stopped there, pages pulled in by the read) and after it completes.  Also:
with multifd in the precopy phase; with postcopy-blocktime (the fault
counters); a destination killed in postcopy (the source stays paused and
says why, refuses `cont`, migrate_cancel, and a resume to nowhere leaves
it paused); a cut made by a proxy (both sides postcopy-paused, then
migrate-recover + migrate -r finish it; then migrate-pause and recovery
again); with postcopy-preempt, a recovery reopens its channel;
migrate_cancel in each state; the refusals of postcopy-preempt,
migrate-pause and migrate-recover outside their states.

usage: test-postcopy.py KVMIG ACCEL [CASE...]
ACCEL kvm exits 77 (skip) with the reason when /dev/kvm cannot be opened.
"""
import os
import socket
import select
import sys
import threading
import time

from framework import (main, VM, TestDir, check_pagewalk_invariant, compare_paused_memory,
                       free_tcp_port, query, set_params, wait_migration, wait_status)
from qmp import QMPError

KVMIG = sys.argv[1]
ACCEL = sys.argv[2]
MEM = "256M" if ACCEL == "thread" else "128M"
MEM_BYTES = int(MEM[:-1]) << 20
# precopy slow enough that postcopy has work left: a pass takes about 2 s
PRECOPY_BW = MEM_BYTES // 2
# postcopy slow enough for the fault cases to catch it in postcopy-active
SLOW_POSTCOPY_BW = 8 << 20


def vm(d, name, **kw):
    kw.setdefault("accel", ACCEL)
    kw.setdefault("mem", MEM)
    return VM(KVMIG, d, name, **kw).connect()


def hmp(v, line):
    return v.qmp.command("human-monitor-command", **{"command-line": line})


def caps(v, **on):
    v.qmp.command("migrate-set-capabilities",
                  capabilities=[{"capability": k.replace("_", "-"), "state": val}
                                for k, val in on.items()])


def expect_error(fn, text):
    try:
        fn()
    except QMPError as e:
        if text not in str(e):
            raise AssertionError(f"error {e!r}, want {text!r}")
        return
    raise AssertionError(f"no error, want {text!r}")


def pair(d, uri=None, multifd=False, blocktime=False, postcopy_bw=0, start=True,
         preempt=False):
    uri = uri or f"unix:{d}/mig.sock"
    src = vm(d, "src")
    dst = vm(d, "dst", incoming="defer")
    for v in (src, dst):
        caps(v, postcopy_ram=True, events=True, multifd=multifd, postcopy_blocktime=blocktime,
             postcopy_preempt=preempt)
    dst.qmp.command("migrate-incoming", uri=uri)
    set_params(src, max_bandwidth=PRECOPY_BW, downtime_limit=1,
               max_postcopy_bandwidth=postcopy_bw)
    src.wait_serial_count("B", 2)
    if start:
        src.qmp.command("migrate", uri=uri)
    return src, dst


def wait_syncs(v, n, timeout=120):
    deadline = time.monotonic() + timeout
    while True:
        info = query(v)
        if info.get("ram", {}).get("dirty-sync-count", 0) >= n:
            return info
        if info.get("status") in ("failed", "cancelled", "completed"):
            raise AssertionError(f"precopy ended before {n} syncs: {info}")
        v.check_alive()
        if time.monotonic() > deadline:
            raise AssertionError(f"no {n} syncs: {info}")
        time.sleep(0.02)


def start_postcopy(src, dst):
    """After two syncs (a full pass and re-dirtied pages), switch; both sides
    reach postcopy-active."""
    wait_syncs(src, 2)
    hmp(src, "migrate_start_postcopy")
    info = wait_status(src, "postcopy-active")
    if src.status() != "finish-migrate":
        raise AssertionError(f"source in postcopy is {src.status()}")
    return info


def check_dst_invariant(dst, d, tag):
    """Stop the destination guest, read its RAM (missing pages are faulted
    in through userfaultfd), check pagewalk's invariant, and go on."""
    dst.qmp.command("stop")
    mem = dst.pmemsave(MEM_BYTES, os.path.join(d, f"dst-{tag}.mem"))
    check_pagewalk_invariant(mem)
    dst.qmp.command("cont")


def finish(src, dst, d):
    set_params(src, max_postcopy_bandwidth=0)
    info = wait_migration(src, timeout=300)
    if info["status"] != "completed":
        raise AssertionError(f"source: {info}")
    dinfo = wait_migration(dst, timeout=60)
    if dinfo["status"] != "completed":
        raise AssertionError(f"destination: {dinfo}")
    if src.status() != "postmigrate":
        raise AssertionError(f"source after postcopy is {src.status()}")
    # the guest goes on at the destination: more passes, and the invariant
    b = dst.serial_text().count("B")
    dst.wait_serial_count("B", b + 1)
    check_dst_invariant(dst, d, "after")
    return info, dinfo


def case_postcopy():
    with TestDir() as d:
        src, dst = pair(d)
        try:
            start_postcopy(src, dst)
            wait_status(dst, "postcopy-active")
            # LISTEN comes first, RUN ends the package: running soon after
            deadline = time.monotonic() + 30
            while dst.status() != "running":
                if time.monotonic() > deadline:
                    raise AssertionError(f"destination in postcopy is {dst.status()}")
                dst.check_alive()
                time.sleep(0.02)
            check_dst_invariant(dst, d, "during")
            info, _ = finish(src, dst, d)
            ram = info["ram"]
            if ram["postcopy-bytes"] <= 0:
                raise AssertionError(f"nothing sent in postcopy: {ram}")
            out = hmp(src, "info migrate")
            if "postcopy ram:" not in out:
                raise AssertionError(f"info migrate without postcopy ram: {out}")
            print(f"  postcopy: {ram['postcopy-requests']} requests, "
                  f"{ram['postcopy-bytes'] >> 10} KiB after the switch, downtime "
                  f"{info.get('downtime')} ms", flush=True)
        finally:
            src.kill()
            dst.kill()


def case_multifd():
    with TestDir() as d:
        src, dst = pair(d, multifd=True)
        try:
            start_postcopy(src, dst)
            # a read of the destination's RAM right after the switch, often
            # before its LISTEN: a discarded page read then must still be
            # fetched, not stay a zero page (it once did); finish() checks
            dst.pmemsave(MEM_BYTES, os.path.join(d, "dst-early.mem"))
            info, _ = finish(src, dst, d)
            if info["ram"]["multifd-bytes"] <= 0:
                raise AssertionError(f"no multifd bytes in the precopy phase: {info['ram']}")
        finally:
            src.kill()
            dst.kill()


def case_blocktime():
    """postcopy-blocktime: the destination counts its faults: latency,
    the per-vCPU figures and a histogram that adds up."""
    with TestDir() as d:
        src, dst = pair(d, blocktime=True, postcopy_bw=SLOW_POSTCOPY_BW)
        try:
            start_postcopy(src, dst)
            dst.wait_serial_count("B", dst.serial_text().count("B") + 1, timeout=300)
            _, dinfo = finish(src, dst, d)
            for k in ("postcopy-blocktime", "postcopy-vcpu-blocktime", "postcopy-latency",
                      "postcopy-vcpu-latency", "postcopy-latency-dist"):
                if k not in dinfo:
                    raise AssertionError(f"destination's query-migrate lacks {k}: {dinfo}")
            dist = dinfo["postcopy-latency-dist"]
            if sum(dist) <= 0 or dinfo["postcopy-latency"] <= 0:
                raise AssertionError(f"no fault measured: {dinfo}")
            print(f"  no preempt: median <= {dist_percentile(dist, 0.5)} us, "
                  f"p99 <= {dist_percentile(dist, 0.99)} us", flush=True)
            if len(dinfo["postcopy-vcpu-latency"]) != 1 or dinfo["postcopy-vcpu-latency"][0] <= 0:
                raise AssertionError(f"vCPU 0's faults not attributed: {dinfo}")
            out = hmp(dst, "info migrate")
            if "postcopy blocktime" not in out or "Postcopy Latency" not in out:
                raise AssertionError(f"info migrate on the destination: {out}")
            print(f"  faults {sum(dist)}, mean latency {dinfo['postcopy-latency'] // 1000} us, "
                  f"vCPU blocked {dinfo['postcopy-vcpu-blocktime']} ms", flush=True)
        finally:
            src.kill()
            dst.kill()


def dist_percentile(dist, q):
    """The upper bound (µs) of the postcopy-latency-dist bucket holding the
    @q quantile: bucket i counts faults in [2^i, 2^(i+1)) µs."""
    total = sum(dist)
    seen = 0
    for i, n in enumerate(dist):
        seen += n
        if seen >= q * total:
            return 2 << i
    return 2 << len(dist)


def case_preempt():
    """postcopy-preempt: requested pages on their own channel.  The same
    checks as `postcopy` (invariant while it runs and after), with the
    destination's fault figures; the bulk pass is rate-limited so that
    requests must overtake it."""
    with TestDir() as d:
        src, dst = pair(d, preempt=True, blocktime=True, postcopy_bw=SLOW_POSTCOPY_BW)
        try:
            start_postcopy(src, dst)
            wait_status(dst, "postcopy-active")
            check_dst_invariant(dst, d, "during")
            b = dst.serial_text().count("B")
            dst.wait_serial_count("B", b + 1, timeout=300)
            _, dinfo = finish(src, dst, d)
            dist = dinfo["postcopy-latency-dist"]
            if sum(dist) <= 0:
                raise AssertionError(f"no fault measured: {dinfo}")
            print(f"  preempt: {sum(dist)} faults, mean {dinfo['postcopy-latency'] // 1000} us, "
                  f"median <= {dist_percentile(dist, 0.5)} us, "
                  f"p99 <= {dist_percentile(dist, 0.99)} us", flush=True)
        finally:
            src.kill()
            dst.kill()


def check_source_stuck(src, what):
    info = wait_status(src, "postcopy-paused", timeout=120)
    if not info.get("error-desc"):
        raise AssertionError(f"paused without a reason: {info}")
    if src.status() == "running":
        raise AssertionError("the source resumed a guest the destination ran")
    expect_error(lambda: src.qmp.command("cont"), "Migration is not finalized yet")
    expect_error(lambda: src.qmp.command("migrate_cancel"),
                 "Postcopy migration in progress, cannot cancel.")
    print(f"  {what}: source paused: {info['error-desc']}", flush=True)
    return info


def check_resume_fails(src):
    """`migrate -r` to nowhere: back to postcopy-paused, saying so, stopped."""
    src.qmp.command("migrate", uri="unix:/nonexistent/kvmig.sock", resume=True)
    deadline = time.monotonic() + 30
    while True:
        info = query(src)
        if info["status"] == "postcopy-paused" and "recovery failed" in info.get("error-desc", ""):
            break
        if time.monotonic() > deadline:
            raise AssertionError(f"a failed resume: {info}")
        time.sleep(0.05)
    if src.status() == "running":
        raise AssertionError("the source resumed a guest the destination ran")


def case_dest_killed():
    with TestDir() as d:
        src, dst = pair(d, postcopy_bw=SLOW_POSTCOPY_BW)
        try:
            start_postcopy(src, dst)
            wait_status(dst, "postcopy-active")
            dst.kill()
            check_source_stuck(src, "destination killed")
            check_resume_fails(src)
        finally:
            src.kill()
            dst.kill()


class Proxy:
    """A TCP proxy between source and destination that cut() closes."""

    def __init__(self, to_port):
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(4)
        self.port = self.lsock.getsockname()[1]
        self.to_port = to_port
        self.stop = False
        self.socks = []
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        a, _ = self.lsock.accept()
        b = socket.create_connection(("127.0.0.1", self.to_port))
        self.socks = [a, b]
        peer = {a: b, b: a}
        while not self.stop:
            r, _, _ = select.select([a, b], [], [], 0.05)
            for s in r:
                try:
                    data = s.recv(1 << 16)
                    if not data:
                        self.stop = True
                        break
                    peer[s].sendall(data)
                except OSError:
                    self.stop = True
                    break

    def cut(self):
        self.stop = True
        self.thread.join(5)
        for s in self.socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()
        self.lsock.close()


def recover(src, dst, d, n):
    """migrate-recover on the destination, `migrate -r` on the source (HMP,
    as a user types it), over a new unix: socket."""
    uri = f"unix:{d}/recover{n}.sock"
    dst.qmp.command("migrate-recover", uri=uri)
    hmp(src, f"migrate -r {uri}")


def case_recover():
    """A cut made by a proxy in postcopy-active: both sides postcopy-paused,
    the destination alive and waiting; migrate-recover + migrate -r exchange
    the received bitmaps and finish, with the invariant.  Then migrate-pause
    (QEMU's way to cut on purpose) and recovery again, in the same run."""
    with TestDir() as d:
        port = free_tcp_port()
        src = vm(d, "src")
        dst = vm(d, "dst", incoming="defer")
        proxy = None
        try:
            for v in (src, dst):
                caps(v, postcopy_ram=True, events=True)
            dst.qmp.command("migrate-incoming", uri=f"tcp:127.0.0.1:{port}")
            proxy = Proxy(port)
            set_params(src, max_bandwidth=PRECOPY_BW, downtime_limit=1,
                       max_postcopy_bandwidth=SLOW_POSTCOPY_BW)
            src.wait_serial_count("B", 2)
            src.qmp.command("migrate", uri=f"tcp:127.0.0.1:{proxy.port}")
            start_postcopy(src, dst)
            wait_status(dst, "postcopy-active")
            proxy.cut()
            check_source_stuck(src, "cut")
            dinfo = wait_status(dst, "postcopy-paused", timeout=60)
            if not dinfo.get("error-desc"):
                raise AssertionError(f"destination paused without a reason: {dinfo}")
            dst.check_alive()      # paused, not exited: the guest waits for its pages
            recover(src, dst, d, 1)
            wait_status(src, "postcopy-active")
            wait_status(dst, "postcopy-active")
            # and once more, cut on purpose from the destination
            dst.qmp.command("migrate-pause")
            wait_status(src, "postcopy-paused")
            wait_status(dst, "postcopy-paused")
            recover(src, dst, d, 2)
            wait_status(src, "postcopy-active")
            info, _ = finish(src, dst, d)
            print(f"  recovered twice: {info['ram']['postcopy-requests']} requests, "
                  f"{info['ram']['postcopy-bytes'] >> 10} KiB after the switch", flush=True)
        finally:
            if proxy:
                proxy.cut()
            src.kill()
            dst.kill()


def case_preempt_recover():
    """postcopy-preempt through a recovery: migrate-pause cuts the link
    (both channels), migrate-recover + migrate -r reconnect the main channel
    and then a new preempt channel, as QEMU does; the pages the destination
    asks for after that (the re-requests, the faults of a full read of its
    RAM) come on the new preempt channel: x-postcopy-preempt-pages grows on
    both sides after the recovery, and the invariant holds during and after."""
    with TestDir() as d:
        src, dst = pair(d, preempt=True, postcopy_bw=SLOW_POSTCOPY_BW)
        try:
            start_postcopy(src, dst)
            wait_status(dst, "postcopy-active")
            dst.qmp.command("migrate-pause")
            wait_status(src, "postcopy-paused")
            wait_status(dst, "postcopy-paused")
            src_before = query(src)["ram"]["x-postcopy-preempt-pages"]
            dst_before = query(dst)["x-postcopy-preempt-pages"]
            recover(src, dst, d, 1)
            wait_status(src, "postcopy-active")
            wait_status(dst, "postcopy-active")
            check_dst_invariant(dst, d, "recovered")
            src_mid = query(src)["ram"]["x-postcopy-preempt-pages"]
            dst_mid = query(dst)["x-postcopy-preempt-pages"]
            info, dinfo = finish(src, dst, d)
            print(f"  preempt pages before the pause: source {src_before}, destination "
                  f"{dst_before}; after the recovery and a full read: {src_mid}, {dst_mid}; "
                  f"at the end: {info['ram']['x-postcopy-preempt-pages']}, "
                  f"{dinfo['x-postcopy-preempt-pages']}", flush=True)
            if src_mid <= src_before or dst_mid <= dst_before:
                raise AssertionError("no requested page came on a preempt channel after the "
                                     "recovery")
            if "postcopy preempt pages:" not in hmp(src, "info migrate"):
                raise AssertionError("info migrate without the preempt pages")
        finally:
            src.kill()
            dst.kill()


def case_cancel():
    """migrate_cancel as QEMU: before the switch the source goes on as if
    nothing happened; in postcopy-active it is refused and the migration
    still completes with the invariant."""
    with TestDir() as d:
        src, dst = pair(d, start=False)
        try:
            expect_error(lambda: src.qmp.command("migrate-start-postcopy"),
                         "Postcopy must be started after migration has been started")
            src.qmp.command("migrate", uri=f"unix:{d}/mig.sock")
            wait_syncs(src, 1)
            src.qmp.command("migrate_cancel")
            info = wait_migration(src)
            if info["status"] != "cancelled" or src.status() != "running":
                raise AssertionError(f"cancel in active: {info}, {src.status()}")
        finally:
            src.kill()
            dst.kill()
    with TestDir() as d:
        src, dst = pair(d, postcopy_bw=SLOW_POSTCOPY_BW)
        try:
            start_postcopy(src, dst)
            expect_error(lambda: src.qmp.command("migrate_cancel"),
                         "Postcopy migration in progress, cannot cancel.")
            finish(src, dst, d)
            src.qmp.command("migrate_cancel")     # completed: nothing to cancel
        finally:
            src.kill()
            dst.kill()


def case_no_switch():
    """postcopy-ram on, migrate-start-postcopy never given: a guest that
    converges completes as precopy (ADVISE sent, nothing else), and its
    memory arrives exact."""
    with TestDir() as d:
        src = vm(d, "src", append="workload=idle")
        dst = vm(d, "dst", append="workload=idle", incoming="defer")
        try:
            for v in (src, dst):
                caps(v, postcopy_ram=True)
            dst.qmp.command("migrate-incoming", uri=f"unix:{d}/mig.sock")
            src.qmp.command("stop")
            src.qmp.command("migrate", uri=f"unix:{d}/mig.sock")
            info = wait_migration(src)
            if info["status"] != "completed" or info["ram"]["postcopy-bytes"] != 0:
                raise AssertionError(f"precopy with postcopy-ram on: {info}")
            compare_paused_memory(src, dst, d, MEM_BYTES)
        finally:
            src.kill()
            dst.kill()


def case_refusals():
    with TestDir() as d:
        v = vm(d, "src")
        try:
            expect_error(lambda: v.qmp.command("migrate-start-postcopy"),
                         "Enable postcopy with migrate_set_capability")
            expect_error(lambda: caps(v, postcopy_preempt=True),
                         "Postcopy preempt requires postcopy-ram")
            expect_error(lambda: v.qmp.command("migrate-recover", uri="tcp:127.0.0.1:1"),
                         "Migrate recover can only be run when postcopy is paused.")
            expect_error(lambda: v.qmp.command("migrate-pause"),
                         "migrate-pause is currently only supported")
            caps(v, postcopy_ram=True)
            v.qmp.command("migrate", uri=f"file:{d}/one-way")
            info = wait_migration(v)
            if info["status"] != "failed" or "return-path" not in info.get("error-desc", ""):
                raise AssertionError(f"postcopy over file: {info}")
            if v.status() != "running":
                raise AssertionError(f"source after a refused postcopy: {v.status()}")
        finally:
            v.kill()


CASES = [
    ("postcopy", case_postcopy),
    ("multifd", case_multifd),
    ("blocktime", case_blocktime),
    ("preempt", case_preempt),
    ("dest-killed", case_dest_killed),
    ("recover", case_recover),
    ("preempt-recover", case_preempt_recover),
    ("cancel", case_cancel),
    ("no-switch", case_no_switch),
    ("refusals", case_refusals),
]

if __name__ == "__main__":
    main(ACCEL, CASES, sys.argv[3:])
