#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""migration-test, faults: a migration that fails or is cancelled at any
point costs the source nothing.

One guest is carried through every fault: after each one the source must
still be running and making progress (more `B` on serial), then it migrates
for real to a new destination, which must pass the pagewalk invariant and
becomes the source of the next fault.  Faults: the destination killed in
setup, mid-bulk-pass, mid-iteration and during device state; migrate_cancel
in setup, active, pre-switchover and device; the network cut under a TCP
proxy (the source notices through TCP_USER_TIMEOUT / keepalive); file: on a
full tmpfs (a skip where no tmpfs can be mounted: meson.build runs it as
its own test, so that the skip counts as one); a second migrate while one runs; destinations with another RAM
size or device set; last, the source killed mid-migration (the destination
exits 1 with one line and never runs the guest).  corrupt-streams: a few
corruptions of a real stream given to a real destination (exit 1, one
line); tests/unit/test-loadvm-corrupt.c does thousands in memory.

usage: test-faults.py KVMIG ACCEL [CASE...]   (ACCEL: thread; kvm skips)
"""
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time

from framework import (SKIP, VM, ProxyBase, Skip, TestDir, check_pagewalk_invariant, converge,
                       free_tcp_port, kvm_skip_reason, query, run_cases, set_params,
                       wait_migration)
from qmp import QMPError

KVMIG = sys.argv[1]
ACCEL = sys.argv[2]
MEM = "256M"
MEM_BYTES = 256 << 20
FAST = 100 * 1000 * 1000 * 1000     # max-bandwidth: effectively unlimited
# Faults run with downtime-limit 0: with the guest writing, it never converges.
SLOW = 16 * 1000 * 1000             # the bulk pass takes ~16 s: time to act in it
# A hang, not a timing: a cut connection must end long before this.
NET_CUT_BOUND = 120


def vm(d, name, **kw):
    kw.setdefault("accel", ACCEL)
    kw.setdefault("mem", MEM)
    return VM(KVMIG, d, name, **kw).connect()


def wait_sock(path, proc, timeout=30):
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"no listener at {path}")
        time.sleep(0.02)


def wait_status(src, want, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        info = query(src)
        if info.get("status") in want:
            return info
        if info.get("status") in ("completed", "failed", "cancelled"):
            raise AssertionError(f"waiting for {want}: {info}")
        if time.monotonic() > deadline:
            raise AssertionError(f"waiting for {want}: still {info}")
        time.sleep(0.02)


def wait_ram(src, key, n, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        info = query(src)
        if info.get("ram", {}).get(key, 0) >= n:
            return info
        if info.get("status") not in ("setup", "active"):
            raise AssertionError(f"waiting for {key} >= {n}: {info}")
        if time.monotonic() > deadline:
            raise AssertionError(f"waiting for {key} >= {n}: {info}")
        time.sleep(0.02)


def set_caps(v, **caps):
    v.qmp.command("migrate-set-capabilities",
                  capabilities=[{"capability": k.replace("_", "-"), "state": s}
                                for k, s in caps.items()])


def expect_end(src, status, why):
    info = wait_migration(src)
    if info["status"] != status:
        raise AssertionError(f"{why}: migration {info['status']}, expected {status}: "
                             f"{info.get('error-desc')}")
    if status == "failed" and not info.get("error-desc"):
        raise AssertionError(f"{why}: failed without error-desc")
    print(f"  {why}: {status}" + (f": {info['error-desc']}" if info.get("error-desc") else ""),
          flush=True)
    return info


def source_keeps_running(src):
    """Running, and the guest makes progress: another pagewalk pass."""
    deadline = time.monotonic() + 30
    while src.status() != "running":
        if time.monotonic() > deadline:
            raise AssertionError(f"source run state {src.status()}")
        time.sleep(0.05)
    n = src.serial_text().count("B")
    src.wait_serial_count("B", n + 1)


class Chain:
    """The guest under test and where it runs now."""

    def __init__(self, d):
        self.d = d
        self.n = 0
        self.dests = []         # every destination, killed at the end if still there
        self.src = vm(d, "g0")
        self.src.wait_serial_count("B", 1, timeout=120)

    def name(self, what):
        self.n += 1
        return f"{what}{self.n}"

    def migrate_ok(self):
        """After a fault: a real migration, the invariant, the new source."""
        src = self.src
        source_keeps_running(src)
        name = self.name("g")
        path = f"{self.d}/{name}.sock"
        dst = vm(self.d, name, incoming=f"unix:{path}")
        try:
            set_caps(src, pause_before_switchover=False, x_switchover_at_threshold=False)
            set_params(src, max_bandwidth=FAST, downtime_limit=1)
            src.qmp.command("migrate", uri=f"unix:{path}")
            info = converge(src)
            if info["status"] != "completed":
                raise AssertionError(f"following migration {info['status']}: "
                                     f"{info.get('error-desc')}")
            n = dst.serial_text().count("B")
            dst.wait_serial_count("B", n + 1)
            dst.qmp.command("stop")
            mem_path = os.path.join(self.d, "dst.mem")
            check_pagewalk_invariant(dst.pmemsave(MEM_BYTES, mem_path))
            os.unlink(mem_path)
            dst.qmp.command("cont")
        except BaseException:
            dst.kill()
            raise
        src.kill()
        self.src = dst

    def ensure(self):
        """After a failed case: a fresh guest if the chain's one is gone."""
        try:
            if self.src.proc.poll() is None and self.src.status() == "running" and \
                    query(self.src).get("status") not in ("setup", "active", "device",
                                                         "pre-switchover", "cancelling"):
                return
        except Exception:       # the QMP connection died with it
            pass
        print("  (a fresh guest: the last case left none running)", flush=True)
        self.src.kill()
        self.src = vm(self.d, self.name("g"))
        self.src.wait_serial_count("B", 1, timeout=120)

    def close(self):
        self.src.kill()
        for d in self.dests:
            if d.proc.poll() is None:
                d.proc.send_signal(signal.SIGCONT)
                d.proc.kill()
                d.proc.wait()


def dest(chain, **kw):
    name = chain.name("d")
    path = f"{chain.d}/{name}.sock"
    d = VM(KVMIG, chain.d, name, accel=ACCEL, mem=kw.pop("mem", MEM),
           incoming=f"unix:{path}", **kw)
    chain.dests.append(d)
    wait_sock(path, d.proc)
    return d, f"unix:{path}"


def dest_exit(d, why):
    """A destination whose stream ended: exit 1, one line, never a signal."""
    try:
        rc = d.wait_exit(60)
    finally:
        d.kill()
    lines = [ln for ln in d.stderr().splitlines() if "incoming migration failed" in ln]
    if rc != 1 or len(lines) != 1:
        raise AssertionError(f"{why}: destination exit {rc}, stderr {d.stderr()!r}")
    print(f"  destination: {lines[0]}", flush=True)


def dest_paused_or_exit(d, why):
    """After a cancel in device the destination may hold the whole stream
    (it fit in the socket buffers): then it said READY, never got GO, and
    must stay paused and up (main.rst, the switchover handshake); else it
    exits as dest_exit says.  Either way its guest never runs."""
    deadline = time.monotonic() + 60
    while d.proc.poll() is None and time.monotonic() < deadline:
        try:
            if d.qmp is None:
                d.connect()
            info = query(d)
            status = d.status() if info.get("status") == "failed" else None
        except Exception:           # exiting: its QMP socket went away
            time.sleep(0.05)
            continue
        if status is not None:
            if status == "running":
                raise AssertionError(f"{why}: the destination runs the guest too")
            print(f"  destination: {status}, {info.get('error-desc')}", flush=True)
            d.kill()
            return
        time.sleep(0.05)
    dest_exit(d, why)


# ---- the destination killed ----

def fault_dst_killed_setup(c):
    d, uri = dest(c)
    d.proc.send_signal(signal.SIGSTOP)      # the kernel still completes the connect
    set_params(c.src, max_bandwidth=SLOW, downtime_limit=0)
    c.src.qmp.command("migrate", uri=uri)
    state = query(c.src).get("status")
    d.proc.kill()
    d.kill()
    print(f"  killed with the source in {state}")
    expect_end(c.src, "failed", "destination killed in setup")


def fault_dst_killed_bulk(c):
    d, uri = dest(c)
    set_params(c.src, max_bandwidth=SLOW, downtime_limit=0)
    c.src.qmp.command("migrate", uri=uri)
    info = wait_ram(c.src, "transferred", 8 << 20)
    if info["ram"]["dirty-sync-count"] > 1:
        raise AssertionError(f"bulk pass already over: {info}")
    d.proc.kill()
    d.kill()
    expect_end(c.src, "failed", "destination killed mid-bulk-pass")


def fault_dst_killed_iteration(c):
    d, uri = dest(c)
    # downtime-limit 0 still converges when a starved guest dirtied nothing
    # between two syncs (a loaded CI machine): pause-before-switchover keeps
    # such a migration from completing before the kill.
    set_caps(c.src, pause_before_switchover=True)
    set_params(c.src, max_bandwidth=FAST, downtime_limit=0)
    c.src.qmp.command("migrate", uri=uri)
    deadline = time.monotonic() + 120
    while True:
        info = query(c.src)
        if (info["status"] == "pre-switchover" or
                info.get("ram", {}).get("dirty-sync-count", 0) >= 3):
            break
        if info["status"] not in ("setup", "active") or time.monotonic() > deadline:
            raise AssertionError(f"no iteration to interrupt: {info}")
        time.sleep(0.02)
    set_params(c.src, max_bandwidth=SLOW)
    d.proc.kill()
    d.kill()
    # The source notices the dead destination when it writes again; if it
    # converges first (it may still be active here) it waits in
    # pre-switchover, as QEMU does, until migrate-continue.
    deadline = time.monotonic() + 120
    while True:
        status = query(c.src)["status"]
        if status == "pre-switchover":
            c.src.qmp.command("migrate-continue", state="pre-switchover")
            break
        if status not in ("setup", "active") or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    expect_end(c.src, "failed", "destination killed mid-iteration")


def to_device_state(c, d, uri):
    """Migrate to a stopped destination until the source is in device.
    QEMU's switchover rule (x-switchover-at-threshold): with the huge
    downtime-limit it stops with most of RAM still to send, so the stream is
    mid-RAM when the destination stops reading; kvmig's settling would send
    that rest first, and the whole final stream could fit in the socket's
    buffers -- a cancel would then leave the destination a complete stream."""
    set_caps(c.src, pause_before_switchover=True, x_switchover_at_threshold=True)
    set_params(c.src, max_bandwidth=FAST, downtime_limit=60000)
    c.src.qmp.command("migrate", uri=uri)
    wait_status(c.src, ("pre-switchover",))
    d.proc.send_signal(signal.SIGSTOP)      # it reads nothing more
    c.src.qmp.command("migrate-continue", state="pre-switchover")
    wait_status(c.src, ("device",))


def fault_dst_killed_device(c):
    d, uri = dest(c)
    to_device_state(c, d, uri)
    d.proc.kill()
    d.kill()
    expect_end(c.src, "failed", "destination killed during device state")


def case_dst_killed(chain):
    for fault in (fault_dst_killed_setup, fault_dst_killed_bulk,
                  fault_dst_killed_iteration, fault_dst_killed_device):
        fault(chain)
        chain.migrate_ok()


# ---- migrate_cancel in every state ----

def cancel_setup(c):
    """Setup: connecting to a listener whose accept queue is full blocks."""
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(0)
    port = lsock.getsockname()[1]
    fillers = []
    try:
        for _ in range(4):      # fill the accept queue (backlog 0 holds one or two)
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            fillers.append(s)
        time.sleep(0.2)
        set_params(c.src, max_bandwidth=FAST, downtime_limit=0)
        c.src.qmp.command("migrate", uri=f"tcp:127.0.0.1:{port}")
        time.sleep(0.5)
        info = query(c.src)
        if info.get("status") != "setup":
            raise AssertionError(f"not in setup: {info}")
        c.src.qmp.command("migrate_cancel")
        expect_end(c.src, "cancelled", "cancelled in setup")
    finally:
        for s in fillers:
            s.close()
        lsock.close()


def cancel_active(c):
    d, uri = dest(c)
    set_params(c.src, max_bandwidth=SLOW, downtime_limit=0)
    c.src.qmp.command("migrate", uri=uri)
    wait_ram(c.src, "transferred", 4 << 20)
    c.src.qmp.command("migrate_cancel")
    expect_end(c.src, "cancelled", "cancelled in active")
    dest_exit(d, "cancelled in active")


def cancel_pre_switchover(c):
    d, uri = dest(c)
    set_caps(c.src, pause_before_switchover=True)
    set_params(c.src, max_bandwidth=FAST, downtime_limit=60000)
    c.src.qmp.command("migrate", uri=uri)
    wait_status(c.src, ("pre-switchover",))
    c.src.qmp.command("migrate_cancel")
    expect_end(c.src, "cancelled", "cancelled in pre-switchover")
    dest_exit(d, "cancelled in pre-switchover")


def cancel_device(c):
    d, uri = dest(c)
    to_device_state(c, d, uri)
    c.src.qmp.command("migrate_cancel")
    expect_end(c.src, "cancelled", "cancelled in device")
    d.proc.send_signal(signal.SIGCONT)
    dest_paused_or_exit(d, "cancelled in device")


def case_cancel(chain):
    for fault in (cancel_setup, cancel_active, cancel_pre_switchover, cancel_device):
        fault(chain)
        chain.migrate_ok()


# ---- the network cut ----

class Proxy(ProxyBase):
    """A TCP proxy that forwards until cut(), then holds both connections
    open and silent: to each end, the network dropped everything."""

    def __init__(self, to_port):
        super().__init__(to_port)
        self.forwarding = True
        self.stop = False
        self.start()

    def run(self):
        a, b = self.accept_pair()
        peer = {a: b, b: a}
        while not self.stop:
            if not self.forwarding:
                time.sleep(0.05)
                continue
            r, _, _ = select.select([a, b], [], [], 0.05)
            for s in r:
                try:
                    data = s.recv(1 << 16)
                except OSError:
                    data = b""
                if not data:
                    self.stop = True
                    break
                peer[s].sendall(data)

    def cut(self):
        self.forwarding = False

    def close(self):
        self.stop = True
        self.thread.join(5)
        for s in self.socks + [self.lsock]:
            s.close()


def fault_net_cut(c):
    port = free_tcp_port()
    name = c.name("d")
    d = VM(KVMIG, c.d, name, accel=ACCEL, mem=MEM, incoming=f"tcp:127.0.0.1:{port}")
    c.dests.append(d)
    proxy = None
    try:
        d.connect()
        proxy = Proxy(port)
        set_params(c.src, max_bandwidth=SLOW, downtime_limit=0)
        c.src.qmp.command("migrate", uri=f"tcp:127.0.0.1:{proxy.port}")
        wait_ram(c.src, "transferred", 4 << 20)
        proxy.cut()
        t0 = time.monotonic()
        info = wait_migration(c.src, timeout=NET_CUT_BOUND)
        if info["status"] != "failed":
            raise AssertionError(f"after the cut: {info}")
        print(f"  network cut: failed after {time.monotonic() - t0:.0f} s: "
              f"{info.get('error-desc')}", flush=True)
    finally:
        if proxy:
            proxy.close()
        d.kill()


def case_net_cut(chain):
    fault_net_cut(chain)
    chain.migrate_ok()


# ---- file: on a full filesystem ----

def case_file_full(chain):
    mnt = os.path.join(chain.d, "small")
    os.mkdir(mnt)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8M", "tmpfs", mnt],
                       capture_output=True, text=True)
    if r.returncode:
        raise Skip(f"cannot mount a tmpfs: {r.stderr.strip() or f'mount exited {r.returncode}'}")
    try:
        set_params(chain.src, max_bandwidth=FAST, downtime_limit=0)
        chain.src.qmp.command("migrate", uri=f"file:{mnt}/stream")
        info = expect_end(chain.src, "failed", "file: on a full filesystem")
        if "space" not in info["error-desc"]:
            raise AssertionError(f"error-desc does not say the disk is full: {info}")
    finally:
        subprocess.run(["umount", "-l", mnt])
    chain.migrate_ok()


# ---- refusals ----

def case_two_at_once(chain):
    d, uri = dest(chain)
    set_params(chain.src, max_bandwidth=SLOW, downtime_limit=0)
    chain.src.qmp.command("migrate", uri=uri)
    try:
        chain.src.qmp.command("migrate", uri=f"unix:{chain.d}/other.sock")
        raise AssertionError("a second migrate was accepted")
    except QMPError as e:
        if "in progress" not in e.desc:
            raise AssertionError(f"second migrate: {e.desc}")
        print(f"  second migrate: {e.desc}")
    if query(chain.src)["status"] not in ("setup", "active"):
        raise AssertionError(f"the first migration was disturbed: {query(chain.src)}")
    chain.src.qmp.command("migrate_cancel")
    expect_end(chain.src, "cancelled", "first migration cancelled")
    dest_exit(d, "cancelled")
    chain.migrate_ok()


def caps(src, **on):
    src.qmp.command("migrate-set-capabilities", capabilities=[
        {"capability": k.replace("_", "-"), "state": v} for k, v in on.items()])


def case_capability_refusals(chain):
    """Capabilities that cannot do what they say are refused, not ignored:
    xbzrle or compress with rdma: (the pages go straight into the
    destination's RAM) at migrate, in one line, before any connection;
    return-path on a one-way channel (exec:) fails the migration with
    QEMU's text.  Each time the source runs on."""
    src = chain.src
    for cap in ("xbzrle", "compress"):
        caps(src, **{cap: True})
        try:
            try:
                src.qmp.command("migrate", uri="rdma:127.0.0.1:1")
                raise AssertionError(f"rdma: with {cap} was accepted")
            except QMPError as e:
                if f"{cap} is not supported by rdma:" not in e.desc or "\n" in e.desc:
                    raise AssertionError(f"rdma: with {cap}: {e.desc}")
                print(f"  rdma: with {cap}: {e.desc}")
        finally:
            caps(src, **{cap: False})
    caps(src, return_path=True)
    try:
        set_params(src, max_bandwidth=FAST, downtime_limit=0)
        src.qmp.command("migrate", uri="exec:cat > /dev/null")
        info = expect_end(src, "failed", "return-path on exec:")
        if not info["error-desc"].startswith("Unable to open return-path"):
            raise AssertionError(f"return-path on exec:: {info['error-desc']}")
    finally:
        caps(src, return_path=False)
    source_keeps_running(src)


def refused(chain, why, needle, **kw):
    d, uri = dest(chain, **kw)
    set_params(chain.src, max_bandwidth=FAST, downtime_limit=0)
    chain.src.qmp.command("migrate", uri=uri)
    info = expect_end(chain.src, "failed", why)
    if "kvmig-machine" not in info["error-desc"] or needle not in info["error-desc"]:
        # the machine-shape section precedes RAM: refused before any page
        raise AssertionError(f"{why}: not refused by the machine check: {info}")
    dest_exit(d, why)
    if "B" in d.serial_text():
        raise AssertionError(f"{why}: the destination ran the guest")


def case_mismatch(chain):
    refused(chain, "destination with other RAM size", "RAM", mem="128M")
    chain.migrate_ok()
    refused(chain, "destination with another device set", "devices",
            extra=("-device", "virtio-balloon"))
    chain.migrate_ok()


# ---- the source killed ----

def case_src_killed(chain):
    d, uri = dest(chain)
    set_params(chain.src, max_bandwidth=SLOW, downtime_limit=0)
    chain.src.qmp.command("migrate", uri=uri)
    wait_ram(chain.src, "transferred", 8 << 20)
    chain.src.proc.kill()
    dest_exit(d, "source killed mid-migration")
    if d.serial_text():
        raise AssertionError("the destination started the guest of a half stream")


# ---- corrupt streams given to a real destination ----

SEED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fuzz", "corpus",
                    "loadvm", "fill-paused")


def corruptions(data):
    """(what, bytes) pairs; the unit test test-loadvm-corrupt does thousands."""
    block = data.find(b"\x06pc.ram")            # in MEM_SIZE
    page = data.find(b"\x06pc.ram", block + 1)  # the first page record's block
    serial = data.find(b"\x06serial")
    vmdesc = data.rfind(b"\x06")
    while int.from_bytes(data[vmdesc + 1:vmdesc + 5], "big") + vmdesc + 5 != len(data):
        vmdesc = data.rfind(b"\x06", 0, vmdesc)

    def patch(at, new):
        return data[:at] + new + data[at + len(new):]

    out = [(f"truncated at {n}", data[:n])
           for n in (0, 3, 17, block, page + 100, len(data) // 2, vmdesc - 1)]
    out += [("header byte flipped", patch(5, bytes([data[5] ^ 0x40]))),
            ("giant configuration length", patch(9, b"\xff\xff\xff\xff")),
            ("giant vmdesc length", patch(vmdesc + 1, b"\x7f\xff\xff\xff")),
            ("giant MEM_SIZE block length", patch(block + 7, b"\xff" * 8)),
            ("unknown section name", patch(serial, b"\x06serjal")),
            ("block name that does not exist", patch(page, b"\x06pc.rom")),
            ("page offset outside the block",
             patch(page - 8, ((1 << 40) | (int.from_bytes(data[page - 8:page], "big") & 0xfff))
                   .to_bytes(8, "big")))]
    return out


def case_corrupt_streams(chain):
    with open(SEED, "rb") as f:
        data = f.read()
    for i, (what, bad) in enumerate(corruptions(data)):
        path = os.path.join(chain.d, f"bad{i}")
        with open(path, "wb") as f:
            f.write(bad)
        d = VM(KVMIG, chain.d, f"bad{i}", accel=ACCEL, mem="16M",
               incoming=f"file:{path}")
        dest_exit(d, what)
    print(f"  {i + 1} corrupt streams, each refused with exit 1 and one line")


CASES = [
    ("dst-killed", case_dst_killed),
    ("cancel", case_cancel),
    ("net-cut", case_net_cut),
    ("file-full", case_file_full),
    ("two-at-once", case_two_at_once),
    ("mismatch", case_mismatch),
    ("capability-refusals", case_capability_refusals),
    ("corrupt-streams", case_corrupt_streams),
    ("src-killed", case_src_killed),    # last: it ends the chain
]


def main():
    if ACCEL == "kvm":
        reason = kvm_skip_reason()
        print(f"SKIP: {reason or 'the fault tests run on the thread accelerator'}")
        sys.exit(SKIP)
    selected = sys.argv[3:]
    with TestDir() as d:
        chain = Chain(d)
        try:
            def step(fn):
                chain.ensure()
                fn(chain)
            run_cases([(n, lambda fn=fn: step(fn)) for n, fn in CASES], selected)
        finally:
            chain.close()


if __name__ == "__main__":
    main()
