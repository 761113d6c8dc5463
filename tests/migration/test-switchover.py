#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""migration-test, switchover: never two running copies of one guest.

On a two-way channel the destination loads everything, says READY, and
runs the guest only after the source's GO (migration/return-path.h).  A
proxy between the two cuts the link at the worst moments:

  drop-ready  READY never reaches the source: the source fails and resumes
              its guest; the destination stays paused (and up).
  drop-go     GO never reaches the destination: the source has sent it, so
              it completes and stays in postmigrate; the destination stays
              paused.  As a management tool would (the source says
              completed), the test then `cont`s the destination, whose
              guest must run on intact.

Each case ends with exactly one guest running, checked by run state and by
its serial output (`B` per pagewalk pass), and the pagewalk invariant.

usage: test-switchover.py KVMIG ACCEL [CASE...]
ACCEL thread runs 256 MiB guests; kvm runs 128 MiB pagewalk guests and exits
77 (skip) with the reason when /dev/kvm cannot be opened.
"""
import os
import select
import socket
import struct
import sys
import time

from framework import (VM, ProxyBase, TestDir, check_pagewalk_invariant, free_tcp_port, main, query,
                       set_params, wait_migration)

KVMIG = sys.argv[1]
ACCEL = sys.argv[2]
MEM = "256M" if ACCEL.startswith("thread") else "128M"
MEM_BYTES = int(MEM[:-1]) << 20
FAST = 100 * 1000 * 1000 * 1000
WARMUP = 2 if ACCEL.startswith("thread") else 1
# return-path message types (migration/return-path.h)
RP_READY = 0x82


class HandshakeProxy(ProxyBase):
    """A TCP proxy for the main channel that reads the return path's frames
    (be16 type, be16 length, payload).  mode "drop-ready": when READY comes
    from the destination, drop it and close both ends.  mode "drop-go":
    forward READY, then drop what the source sends next (GO) and close."""

    def __init__(self, to_port, mode):
        super().__init__(to_port)
        self.mode = mode
        self.dropped = None
        self.start()

    def run(self):
        src, dst = self.accept_pair()
        rp = b""            # return-path bytes not yet forwarded
        ready_passed = False
        while self.dropped is None:
            r, _, _ = select.select([src, dst], [], [], 0.05)
            for s in r:
                try:
                    data = s.recv(1 << 16)
                except OSError:
                    data = b""
                if not data:
                    self.close_ends()
                    return
                if s is src:
                    if ready_passed:
                        self.dropped = f"GO ({len(data)} bytes)"
                        break
                    dst.sendall(data)
                    continue
                rp += data
                while len(rp) >= 4:
                    typ, length = struct.unpack(">HH", rp[:4])
                    if len(rp) < 4 + length:
                        break
                    frame, rp = rp[:4 + length], rp[4 + length:]
                    if typ == RP_READY and self.mode == "drop-ready":
                        self.dropped = "READY"
                        break
                    src.sendall(frame)
                    if typ == RP_READY:
                        ready_passed = True
                if self.dropped:
                    break
        self.close_ends()

    def close_ends(self):
        for s in self.socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()
        self.socks = []

    def close(self):
        self.thread.join(10)
        self.lsock.close()


def vm(d, name, **kw):
    kw.setdefault("accel", ACCEL)
    kw.setdefault("mem", MEM)
    return VM(KVMIG, d, name, **kw).connect()


def wait_incoming(dst, want, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        info = query(dst)
        if info.get("status") == want:
            return info
        if time.monotonic() > deadline:
            raise AssertionError(f"destination: waiting for {want}, still {info}")
        time.sleep(0.05)


def check_runs(v, what):
    """@v's guest runs: run state, and two more pagewalk passes on serial."""
    if v.status() != "running":
        raise AssertionError(f"{what}: run state {v.status()}, expected running")
    n = v.serial_text().count("B")
    v.wait_serial_count("B", n + 2, timeout=120)


def check_paused(v, what):
    """@v's guest does not run: run state, and no new pass over a while."""
    if v.status() == "running":
        raise AssertionError(f"{what}: the guest runs")
    n = v.serial_text().count("B")
    time.sleep(1)
    if v.serial_text().count("B") != n or v.status() == "running":
        raise AssertionError(f"{what}: the guest made progress while it should be paused")


def migrate_through_proxy(d, mode):
    src = vm(d, "src")
    src.wait_serial_count("B", WARMUP, timeout=120)
    port = free_tcp_port()
    dst = vm(d, "dst", incoming=f"tcp:127.0.0.1:{port}")
    proxy = HandshakeProxy(port, mode)
    try:
        set_params(src, max_bandwidth=FAST, downtime_limit=300)
        src.qmp.command("migrate", uri=f"tcp:127.0.0.1:{proxy.port}")
        info = wait_migration(src, timeout=300)
    finally:
        proxy.close()
    if proxy.dropped is None:
        raise AssertionError(f"the proxy dropped nothing (source: {info})")
    print(f"  {mode}: dropped {proxy.dropped}; source {info['status']}, "
          f"{info.get('error-desc', '')}", flush=True)
    return src, dst, info


def case_drop_ready():
    with TestDir() as d:
        src, dst, info = migrate_through_proxy(d, "drop-ready")
        try:
            if info["status"] != "failed":
                raise AssertionError(f"source: {info}")
            dinfo = wait_incoming(dst, "failed")
            check_paused(dst, "destination")
            check_runs(src, "source")
            dst.check_alive()
            print(f"  destination: {dinfo.get('error-desc')}", flush=True)
            src.qmp.command("stop")
            check_pagewalk_invariant(src.pmemsave(MEM_BYTES, os.path.join(d, "src.mem")))
        finally:
            src.kill()
            dst.kill()


def case_drop_go():
    with TestDir() as d:
        src, dst, info = migrate_through_proxy(d, "drop-go")
        try:
            if info["status"] != "completed" or src.status() != "postmigrate":
                raise AssertionError(f"source: {info}, run state {src.status()}")
            wait_incoming(dst, "failed")
            check_paused(dst, "destination")
            check_paused(src, "source")
            # the management tool's move: the source completed, so the guest is here
            dst.qmp.command("cont")
            check_runs(dst, "destination after cont")
            if src.status() == "running":
                raise AssertionError("the source runs too")
            dst.qmp.command("stop")
            check_pagewalk_invariant(dst.pmemsave(MEM_BYTES, os.path.join(d, "dst.mem")))
        finally:
            src.kill()
            dst.kill()


CASES = [("drop-ready", case_drop_ready), ("drop-go", case_drop_go)]

if __name__ == "__main__":
    main(ACCEL, CASES, sys.argv[3:])
