# SPDX-License-Identifier: GPL-2.0-or-later
"""migration-test framework: start kvmig processes, drive them over QMP, check guests."""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

from qmp import QMP

SKIP = 77

# What kvmig prints on stderr when a guest can no longer run (accel/kvm-vcpu.c,
# system/cpus.c): a wait on such a guest fails at once, not by timeout.
GUEST_DEAD = ("internal error", "triple fault", "entry failed", "KVM_RUN failed",
              "unhandled exit reason", "unhandled system event")


def kvm_skip_reason():
    """None if the KVM cases run here, else why they skip: /dev/kvm does not
    open, or the build says -Dkvm_tests=disabled (KVMIG_KVM_TESTS)."""
    if os.environ.get("KVMIG_KVM_TESTS") == "disabled":
        return "KVM cases disabled (-Dkvm_tests=disabled)"
    try:
        fd = os.open("/dev/kvm", os.O_RDWR)
    except OSError as e:
        return f"/dev/kvm cannot be opened: {e.strerror}"
    os.close(fd)
    return None


def free_tcp_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ProxyBase:
    """A TCP proxy on 127.0.0.1 for one connection to @to_port: listens at
    once (self.port), and runs the subclass's run() in a daemon thread."""

    def __init__(self, to_port):
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(1)
        self.port = self.lsock.getsockname()[1]
        self.to_port = to_port
        self.socks = []
        self.thread = threading.Thread(target=self.run, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def accept_pair(self):
        """The source's connection and a new one to the destination."""
        a, _ = self.lsock.accept()
        b = socket.create_connection(("127.0.0.1", self.to_port))
        self.socks = [a, b]
        return a, b

    def run(self):
        raise NotImplementedError


class VM:
    """One kvmig process with a QMP socket and a serial log in a temp dir."""

    def __init__(self, kvmig, tmpdir, name, accel="thread", mem="512M",
                 append="workload=pagewalk", incoming=None, extra=(), pass_fds=()):
        self.name = name
        self.dir = tmpdir
        self.qmp_path = os.path.join(tmpdir, f"{name}.qmp")
        self.serial = os.path.join(tmpdir, f"{name}.log")
        self.errlog = os.path.join(tmpdir, f"{name}.err")
        self.mem = mem
        args = [kvmig, "-accel", accel, "-m", mem, "-append", append,
                "-qmp", f"unix:{self.qmp_path},server=on,wait=off",
                "-serial", f"file:{self.serial}", "-display", "none"]
        if incoming:
            args += ["-incoming", incoming]
        args += list(extra)
        self.err = open(self.errlog, "wb")
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=self.err,
                                     pass_fds=pass_fds)
        self.qmp = None

    def connect(self):
        deadline = time.monotonic() + 30
        while not os.path.exists(self.qmp_path):
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited with {self.proc.returncode}: "
                                     f"{self.stderr()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name}: no QMP socket")
            time.sleep(0.02)
        self.qmp = QMP(self.qmp_path)
        return self

    def stderr(self):
        with open(self.errlog, "rb") as f:
            return f.read().decode(errors="replace")

    def check_alive(self):
        """Raise at once if the process exited or its guest can no longer run."""
        if self.proc.poll() is not None:
            raise AssertionError(f"{self.name} exited with {self.proc.returncode}: "
                                 f"{self.stderr()}")
        err = self.stderr()
        if any(s in err for s in GUEST_DEAD):
            raise AssertionError(f"{self.name}: the guest stopped: {err.strip()}")

    def serial_text(self):
        try:
            with open(self.serial, "rb") as f:
                return f.read().decode("latin-1")
        except FileNotFoundError:
            return ""

    def wait_serial_count(self, ch, n, timeout=60):
        deadline = time.monotonic() + timeout
        while self.serial_text().count(ch) < n:
            self.check_alive()
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name}: fewer than {n} {ch!r} on serial")
            time.sleep(0.05)

    def status(self):
        return self.qmp.command("query-status")["status"]

    def wait_exit(self, timeout=30):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{self.name} did not exit")

    def kill(self):
        if self.qmp:
            self.qmp.close()
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.err.close()

    def pmemsave(self, size, path):
        self.qmp.command("pmemsave", val=0, size=size, filename=path)
        with open(path, "rb") as f:
            return f.read()


def query(vm):
    return vm.qmp.command("query-migrate")


def wait_migration(vm, states=("completed", "failed", "cancelled"), timeout=120):
    deadline = time.monotonic() + timeout
    while True:
        info = query(vm)
        if info.get("status") in states:
            return info
        vm.check_alive()
        if time.monotonic() > deadline:
            raise AssertionError(f"{vm.name}: migration still {info}")
        time.sleep(0.05)



def wait_status(vm, want, timeout=60):
    """Wait until @vm's query-migrate status is @want (any state, e.g.
    postcopy-active); fail at once if @vm died."""
    deadline = time.monotonic() + timeout
    while True:
        info = query(vm)
        if info.get("status") == want:
            return info
        vm.check_alive()
        if time.monotonic() > deadline:
            raise AssertionError(f"{vm.name}: status {info.get('status')}, want {want}: {info}")
        time.sleep(0.02)


def compare_paused_memory(src, dst, d, size):
    """A paused guest's RAM (@size bytes) arrived byte-exact: the destination
    completes, stays paused, and its memory equals the source's."""
    want = src.pmemsave(size, os.path.join(d, "src.mem"))
    deadline = time.monotonic() + 60
    while query(dst).get("status") != "completed":
        if time.monotonic() > deadline:
            raise AssertionError(f"destination: {query(dst)}")
        time.sleep(0.05)
    if dst.status() != "paused":
        raise AssertionError(f"destination of a paused guest is {dst.status()}")
    got = dst.pmemsave(size, os.path.join(d, "dst.mem"))
    if got != want:
        first = next(i for i in range(len(want)) if want[i] != got[i])
        raise AssertionError(f"memory differs first at 0x{first:x}")

def set_params(vm, **params):
    vm.qmp.command("migrate-set-parameters", **{k.replace("_", "-"): v
                                                 for k, v in params.items()})


def converge(vm, timeout=120):
    """As QEMU's migration-test: a tiny downtime-limit until the dirty log
    was synced at least twice (the guest really ran during migration), then
    a limit large enough to finish: the largest there is (2000 s), because
    the threshold is the measured wire bandwidth times the limit, and a
    compressed stream moves pages 100 times faster than its wire bytes say
    (a loaded machine kept compress's running case below 60 s of it)."""
    deadline = time.monotonic() + timeout
    while True:
        info = query(vm)
        if info.get("status") in ("failed", "cancelled", "completed"):
            break
        if info.get("ram", {}).get("dirty-sync-count", 0) >= 2:
            break
        if time.monotonic() > deadline:
            raise AssertionError(f"no second sync: {info}")
        time.sleep(0.02)
    set_params(vm, downtime_limit=2000 * 1000)
    return wait_migration(vm, timeout=timeout)


def check_pagewalk_invariant(mem, start=4 << 20):
    """DESIGN 4: along the pages from 4 MiB, the first byte is constant except
    for at most one step down by exactly 1 (mod 256)."""
    firsts = mem[start::4096]
    if not firsts:
        raise AssertionError("no pages to check")
    steps = []
    for i in range(1, len(firsts)):
        if firsts[i] != firsts[i - 1]:
            steps.append(i)
    if len(steps) > 1:
        raise AssertionError(f"pagewalk invariant broken: {len(steps)} changes, at pages "
                             f"{steps[:5]} (values {[firsts[i - 1] for i in steps[:5]]} -> "
                             f"{[firsts[i] for i in steps[:5]]})")
    if steps:
        i = steps[0]
        if (firsts[i - 1] - firsts[i]) % 256 != 1:
            raise AssertionError(f"pagewalk invariant broken: page {i} steps from "
                                 f"{firsts[i - 1]} to {firsts[i]}")
    return firsts[0], len(steps)


class TestDir:
    def __enter__(self):
        self.path = tempfile.mkdtemp(prefix="kvmig-mig-")
        return self.path

    def __exit__(self, *exc):
        shutil.rmtree(self.path, ignore_errors=True)


def check_selected(names, selected):
    """Exit 1 naming every @selected case that is not one of @names: a typo
    in meson.build must not run zero cases and pass."""
    unknown = [s for s in selected if s not in names]
    if unknown:
        print(f"unknown case{'s' if len(unknown) > 1 else ''}: {' '.join(unknown)} "
              f"(known: {' '.join(names)})", flush=True)
        sys.exit(1)


class Skip(Exception):
    """Raised by a case that cannot run here; its argument says why."""


def run_cases(cases, selected):
    """Run the @selected cases (all if empty) and exit with meson's meaning:
    1 if any failed or a selected name matches no case, 77 (skip) if any
    was skipped and none failed, else return.  A program whose cases were
    partly skipped exits 77 too: meson counts a program, and a case that
    could not run must never count as a pass.  Give a case that may skip
    its own meson test, so that the others still count."""
    check_selected([name for name, _ in cases], selected)
    failed, skipped, passed = [], [], []
    for name, fn in cases:
        if selected and name not in selected:
            continue
        t0 = time.monotonic()
        try:
            fn()
            passed.append(name)
            print(f"ok {name} ({time.monotonic() - t0:.1f}s)", flush=True)
        except Skip as e:
            skipped.append(name)
            print(f"SKIP {name}: {e}", flush=True)
        except Exception as e:     # report every case, then fail
            failed.append(name)
            print(f"FAIL {name}: {e}", flush=True)
    if failed:
        print(f"{len(failed)} failed: {' '.join(failed)}")
        sys.exit(1)
    if skipped:
        print(f"{len(skipped)} skipped ({' '.join(skipped)}), {len(passed)} passed: "
              f"exit {SKIP} (skip)", flush=True)
        sys.exit(SKIP)


def kvm_gate():
    """Exit 77 (skip) with the reason where the KVM cases cannot run; under
    -Dkvm_tests=enabled (KVMIG_KVM_TESTS=enabled) exit 1 instead."""
    reason = kvm_skip_reason()
    if not reason:
        return
    print(f"SKIP: {reason}")
    if os.environ.get("KVMIG_KVM_TESTS") == "enabled":
        print("FAIL: -Dkvm_tests=enabled and KVM is not usable here")
        sys.exit(1)
    sys.exit(SKIP)


def main(accel, cases, selected):
    """A test file's entry point: skip KVM cases where /dev/kvm is unusable
    (fail instead under -Dkvm_tests=enabled, KVMIG_KVM_TESTS=enabled), then
    run the selected cases (all if none)."""
    if accel == "kvm":
        kvm_gate()
    run_cases(cases, selected)
