#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""migration-test, rdma: the rdma: transport.

usage: test-rdma.py KVMIG ACCEL CASE...

Cases without a device (no-device-*): `migrate rdma:...` fails at once with
"no RDMA device was found" and the source runs on; `-incoming rdma:...`
exits 1 with that message before any guest runs; `migrate-incoming
rdma:...` after `-incoming defer` is refused and the process serves on.
They exit 77 (skip) on a machine that has an RDMA device.  In a build
without RDMA support they expect "RDMA support is not compiled in".

Live cases (live, live-pin-all) migrate a running pagewalk guest over
rdma: and check the destination's memory.  They need an RDMA device: an
existing one (its interface's IPv4 address is used, or KVMIG_RDMA_ADDR),
or Soft-RoCE set up here when `modprobe rdma_rxe` works (`rdma link add
kvmig-rxe0 type rxe netdev IFACE`, removed at the end), and enough
locked memory (root, or `ulimit -l unlimited`).  Otherwise they exit 77
with the reason.
"""
import json
import os
import shutil
import subprocess
import sys
import time

from framework import (SKIP, VM, check_selected, TestDir, check_pagewalk_invariant, converge,
                       free_tcp_port, kvm_gate, kvm_skip_reason, query, run_cases, set_params,
                       wait_migration)
from qmp import QMPError

KVMIG = sys.argv[1]
ACCEL = sys.argv[2]
MEM = "512M" if ACCEL == "thread" else "128M"
MEM_BYTES = int(MEM[:-1]) << 20
FAST = 100 * 1000 * 1000 * 1000
WARMUP = 2 if ACCEL == "thread" else 1


def rdma_compiled_in():
    """CONFIG_RDMA of the build kvmig comes from (config-host.h beside it)."""
    try:
        with open(os.path.join(os.path.dirname(os.path.abspath(KVMIG)), "config-host.h")) as f:
            return "#define CONFIG_RDMA" in f.read()
    except OSError:
        return True


BUILT = rdma_compiled_in()
# without librdmacm/libibverbs the stub's message takes the place of the device's
NEEDLE = "no RDMA device was found" if BUILT else "RDMA support is not compiled in"
RXE_LINK = "kvmig-rxe0"


def run(*cmd):
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        return 127, str(e)
    return p.returncode, (p.stdout + p.stderr).strip()


def rdma_devices():
    try:
        return sorted(os.listdir("/sys/class/infiniband"))
    except OSError:
        return []


def ipv4_of(iface):
    rc, out = run("ip", "-4", "-o", "addr", "show", "dev", iface)
    for line in out.splitlines() if rc == 0 else []:
        words = line.split()
        if "inet" in words:
            return words[words.index("inet") + 1].split("/")[0]
    return None


def rdma_netdevs():
    """Interfaces that carry an RDMA link (rdma link show: 'netdev IFACE')."""
    rc, out = run("rdma", "-j", "link", "show")
    if rc != 0:
        return []
    try:
        return [l["netdev"] for l in json.loads(out) if l.get("netdev")]
    except (ValueError, TypeError, KeyError):
        return []


class RdmaSetup:
    """Find or make an RDMA device; .addr is the address to migrate over."""

    def __init__(self):
        self.addr = os.environ.get("KVMIG_RDMA_ADDR")
        self.created = False
        self.reason = None

    def prepare(self, may_create=True):
        if not rdma_devices():
            if not may_create:
                self.reason = ("no RDMA device (Soft-RoCE is not set up while no-device "
                               "cases run: run the live cases alone)")
                return False
            self.try_soft_roce()
        if not rdma_devices():
            return False
        if not self.addr:
            for dev in rdma_netdevs():
                self.addr = "127.0.0.1" if dev == "lo" else ipv4_of(dev)
                if self.addr:
                    break
        if not self.addr:
            self.reason = ("an RDMA device exists but no IPv4 address was found on its "
                           "interface: set KVMIG_RDMA_ADDR")
            return False
        return True

    def try_soft_roce(self):
        if not shutil.which("rdma"):
            self.reason = "no RDMA device, and the 'rdma' tool (iproute2) is missing"
            return
        rc, out = run("modprobe", "rdma_rxe")
        if rc != 0:
            self.reason = (f"no RDMA device, and Soft-RoCE is unavailable: modprobe "
                           f"rdma_rxe: {out or 'failed'}")
            return
        # loopback first (the kernel may refuse it), then the first interface with IPv4
        rc, out = run("ip", "-o", "link", "show", "up")
        ifaces = ["lo"] + [l.split(":")[1].strip().split("@")[0]
                           for l in out.splitlines() if ": lo:" not in l] if rc == 0 else ["lo"]
        errors = []
        for iface in ifaces:
            addr = "127.0.0.1" if iface == "lo" else ipv4_of(iface)
            if not addr:
                continue
            rc, out = run("rdma", "link", "add", RXE_LINK, "type", "rxe", "netdev", iface)
            if rc == 0:
                self.created = True
                self.addr = self.addr or addr
                return
            errors.append(f"{iface}: {out}")
        self.reason = ("no RDMA device, and rdma link add ... type rxe failed: " +
                       "; ".join(errors))

    def cleanup(self):
        if self.created:
            run("rdma", "link", "delete", RXE_LINK)


def vm(d, name, **kw):
    kw.setdefault("accel", ACCEL)
    kw.setdefault("mem", MEM)
    return VM(KVMIG, d, name, **kw).connect()


def source_keeps_running(src):
    if src.status() != "running":
        raise AssertionError(f"source run state {src.status()}")
    n = src.serial_text().count("B")
    src.wait_serial_count("B", n + 2)


# ---- without a device ----

def case_no_device_source():
    """migrate rdma: fails at once; query-migrate says why; the guest runs on."""
    with TestDir() as d:
        src = vm(d, "src")
        try:
            src.wait_serial_count("B", WARMUP, timeout=120)
            port = free_tcp_port()
            t0 = time.monotonic()
            try:
                src.qmp.command("migrate", uri=f"rdma:127.0.0.1:{port}")
                raise AssertionError("migrate rdma: succeeded without an RDMA device")
            except QMPError as e:
                if NEEDLE not in e.desc:
                    raise AssertionError(f"migrate error {e.desc!r} lacks {NEEDLE!r}")
                print(f"  migrate: {e.desc}")
            if time.monotonic() - t0 > 5:
                raise AssertionError("migrate rdma: did not fail at once")
            info = query(src)
            if info.get("status") != "failed" or NEEDLE not in info.get("error-desc", ""):
                raise AssertionError(f"query-migrate after the failure: {info}")
            # IPv6 spelling too, and HMP says the same
            out = src.qmp.command("human-monitor-command",
                                  **{"command-line": f"migrate -d rdma:[::1]:{port}"})
            if NEEDLE not in out:
                raise AssertionError(f"HMP migrate printed {out!r}")
            source_keeps_running(src)
            # a tcp: migration still works afterwards: nothing was left half-open
            dport = free_tcp_port()
            dst = vm(d, "dst", incoming=f"tcp:127.0.0.1:{dport}")
            try:
                set_params(src, max_bandwidth=FAST, downtime_limit=1)
                src.qmp.command("migrate", uri=f"tcp:127.0.0.1:{dport}")
                info = converge(src)
                if info["status"] != "completed":
                    raise AssertionError(f"tcp: after rdma: {info}")
            finally:
                dst.kill()
        finally:
            src.kill()


def case_no_device_destination():
    """-incoming rdma: exits 1 with the message before any guest runs."""
    with TestDir() as d:
        for uri in (f"rdma:127.0.0.1:{free_tcp_port()}", f"rdma:[::1]:{free_tcp_port()}"):
            dst = VM(KVMIG, d, "dst", accel=ACCEL, mem=MEM, incoming=uri)
            try:
                rc = dst.wait_exit()
                err = dst.stderr().strip().splitlines()
                if rc != 1:
                    raise AssertionError(f"{uri}: exit status {rc}, stderr {err}")
                if len(err) != 1 or NEEDLE not in err[0]:
                    raise AssertionError(f"{uri}: stderr {err}, expected one line with "
                                         f"{NEEDLE!r}")
                if dst.serial_text():
                    raise AssertionError(f"{uri}: the guest ran: {dst.serial_text()!r}")
                print(f"  {err[0]}")
            finally:
                dst.kill()


def case_no_device_deferred():
    """-incoming defer, then migrate-incoming rdma: is refused; kvmig serves on."""
    with TestDir() as d:
        dst = vm(d, "dst", incoming="defer")
        try:
            try:
                dst.qmp.command("migrate-incoming", uri=f"rdma:127.0.0.1:{free_tcp_port()}")
                raise AssertionError("migrate-incoming rdma: succeeded without a device")
            except QMPError as e:
                if NEEDLE not in e.desc:
                    raise AssertionError(f"migrate-incoming error {e.desc!r}")
            if dst.status() != "inmigrate":
                raise AssertionError(f"run state {dst.status()}")
        finally:
            dst.kill()


# ---- with a device ----

def live(pin_all):
    with TestDir() as d:
        src = vm(d, "src")
        port = free_tcp_port()
        dst = vm(d, "dst", incoming=f"rdma:{SETUP.addr}:{port}")
        try:
            src.wait_serial_count("B", WARMUP, timeout=120)
            caps = [{"capability": "events", "state": True}]
            if pin_all:
                caps.append({"capability": "rdma-pin-all", "state": True})
            src.qmp.command("migrate-set-capabilities", capabilities=caps)
            set_params(src, max_bandwidth=FAST, downtime_limit=1)
            src.qmp.command("migrate", uri=f"rdma:{SETUP.addr}:{port}")
            info = converge(src)
            if info["status"] != "completed":
                raise AssertionError(f"migration {info['status']}: {info.get('error-desc')}")
            ram = info["ram"]
            print(f"  rdma{' pin-all' if pin_all else ''} {MEM} {ACCEL}: total-time "
                  f"{info['total-time']} ms, downtime {info['downtime']} ms, transferred "
                  f"{ram['transferred'] >> 20} MiB, normal {ram.get('normal')}, "
                  f"duplicate {ram.get('duplicate')}", flush=True)
            if src.status() != "postmigrate":
                raise AssertionError(f"source run state {src.status()}")
            n = dst.serial_text().count("B")
            dst.wait_serial_count("B", n + 2, timeout=120)
            if dst.status() != "running":
                raise AssertionError(f"destination run state {dst.status()}")
            dst.qmp.command("stop")
            check_pagewalk_invariant(dst.pmemsave(MEM_BYTES, os.path.join(d, "dst.mem")))
        finally:
            src.kill()
            dst.kill()


def case_live():
    live(False)


def case_live_pin_all():
    live(True)


NO_DEVICE_CASES = [
    ("no-device-source", case_no_device_source),
    ("no-device-destination", case_no_device_destination),
    ("no-device-deferred", case_no_device_deferred),
]
LIVE_CASES = [
    ("live", case_live),
    ("live-pin-all", case_live_pin_all),
]
SETUP = RdmaSetup()

if __name__ == "__main__":
    check_selected([n for n, _ in NO_DEVICE_CASES + LIVE_CASES], sys.argv[3:])
    selected = sys.argv[3:] or [n for n, _ in NO_DEVICE_CASES + LIVE_CASES]
    if ACCEL == "kvm":
        kvm_gate()
    want_live = [c for c in LIVE_CASES if c[0] in selected]
    want_none = [c for c in NO_DEVICE_CASES if c[0] in selected]
    cases = []
    try:
        if want_none:
            if rdma_devices() and BUILT:
                print(f"SKIP no-device cases: this machine has RDMA devices "
                      f"{rdma_devices()}")
            else:
                cases += want_none
        if want_live:
            if not BUILT:
                print("SKIP live cases: this kvmig was built without RDMA support "
                      "(libibverbs-dev, librdmacm-dev, -Drdma=enabled)")
            elif SETUP.prepare(may_create=not any(c in cases for c in NO_DEVICE_CASES)):
                print(f"  RDMA devices {rdma_devices()}, migrating over {SETUP.addr}"
                      f"{' (Soft-RoCE set up by this test)' if SETUP.created else ''}")
                cases += want_live
            else:
                print(f"SKIP live cases: {SETUP.reason}")
        if not cases:
            sys.exit(SKIP)
        run_cases(cases, [])     # @cases holds the selected ones that can run
    finally:
        SETUP.cleanup()
