#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Boot the test guest under an accelerator and watch its workloads run;
under KVM, also guests that crash, and how kvmig reports them.

usage: test-boot.py KVMIG ACCEL
Exit status 77 (meson's "skip") with the reason when the accelerator is not
usable here (no /dev/kvm); with KVMIG_KVM_TESTS=enabled (meson -Dkvm_tests=
enabled) that is a failure instead.
"""
import os
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                "migration"))
from framework import kvm_gate  # noqa: E402
from qmp import QMP  # noqa: E402

GUEST_PADDR = 0x100000


def multiboot_elf(code, data=b""):
    """A 32-bit Multiboot ELF: @code at GUEST_PADDR + 0x10 (the entry),
    @data at GUEST_PADDR + 0x80."""
    seg = bytearray(0x100)
    seg[0:12] = struct.pack("<III", 0x1BADB002, 0, (-0x1BADB002) & 0xffffffff)
    seg[0x10:0x10 + len(code)] = code
    seg[0x80:0x80 + len(data)] = data
    ehdr = struct.pack("<4sBBB9xHHIIIIIHHHHHH", b"\x7fELF", 1, 1, 1, 2, 3, 1,
                       GUEST_PADDR + 0x10, 52, 0, 0, 52, 32, 1, 0, 0, 0)
    phdr = struct.pack("<IIIIIIII", 1, 0x1000, GUEST_PADDR, GUEST_PADDR, 0x100, 0x100, 5,
                       0x1000)
    elf = bytearray(0x1000)
    elf[0:len(ehdr)] = ehdr
    elf[52:52 + len(phdr)] = phdr
    return bytes(elf) + bytes(seg)


# Code fetched from guest-physical memory with no RAM behind it: KVM cannot
# emulate that (emulation failure, KVM_EXIT_INTERNAL_ERROR).
INTERNAL_ERROR_CODE = b"\xb8\x00\x00\x00\xe0" + b"\xff\xe0"     # mov eax, 0xe0000000; jmp eax
# An empty IDT, then #UD: #GP, #DF, triple fault (KVM_EXIT_SHUTDOWN).
TRIPLE_FAULT_CODE = (b"\x0f\x01\x1d" + struct.pack("<I", GUEST_PADDR + 0x80) +  # lidt [idt]
                     b"\x0f\x0b")                                             # ud2


def crash_case(kvmig, name, code, data, check):
    """Boot a crashing guest with a QMP monitor and hand it to @check, which
    must see the crash at once (every wait here is a bound, not a pace)."""
    with tempfile.TemporaryDirectory() as tmp:
        elf = os.path.join(tmp, "crash.elf")
        with open(elf, "wb") as f:
            f.write(multiboot_elf(code, data))
        qmp_path = os.path.join(tmp, "qmp.sock")
        errlog = os.path.join(tmp, "err.log")
        with open(errlog, "wb") as err:
            proc = subprocess.Popen([kvmig, "-accel", "kvm", "-m", "64M", "-kernel", elf,
                                     "-S", "-serial", "none", "-display", "none", "-qmp",
                                     f"unix:{qmp_path},server=on,wait=off"],
                                    stdout=subprocess.DEVNULL, stderr=err)
        try:
            deadline = time.monotonic() + 30
            while not os.path.exists(qmp_path):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"{name}: no QMP socket ({proc.poll()})")
                time.sleep(0.02)
            qmp = QMP(qmp_path)
            qmp.command("cont")
            check(proc, qmp, lambda: open(errlog, encoding="utf-8", errors="replace").read())
            print(f"ok: kvm {name}")
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()


def wait_for(what, pred, proc, timeout=30):
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not seen in {timeout} s")
        time.sleep(0.02)


def check_internal_error(proc, qmp, stderr):
    """QEMU's behaviour: the VM stops in internal-error with a STOP event,
    the process stays up for the monitors, and cont is refused."""
    wait_for("run state internal-error",
             lambda: qmp.command("query-status")["status"] == "internal-error", proc)
    if proc.poll() is not None:
        raise AssertionError(f"kvmig exited ({proc.returncode}) on an internal error")
    # the run state changes before the STOP event is sent: read events
    # (each command collects those that arrived) until it is there
    wait_for("a STOP event",
             lambda: qmp.command("query-status") is not None and
             any(e.get("event") == "STOP" for e in qmp.events), proc)
    lines = [ln for ln in stderr().splitlines() if "internal error" in ln]
    if len(lines) != 1:
        raise AssertionError(f"want one 'internal error' line on stderr: {stderr()!r}")
    try:
        qmp.command("cont")
    except Exception as e:      # QMPError: what QEMU says
        if "Resetting the Virtual Machine is required" not in str(e):
            raise
    else:
        raise AssertionError("cont was accepted in internal-error")


def check_triple_fault(proc, qmp, stderr):
    """A triple fault resets a PC; kvmig has no reset: SHUTDOWN with reason
    guest-reset and exit status 1 (as a crash), at once."""
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"kvmig still running after a triple fault: {stderr()!r}")
    if proc.returncode != 1:
        raise AssertionError(f"exit status {proc.returncode} after a triple fault")
    try:
        while True:     # the events sent before the socket closed
            qmp.events.append(qmp._read())
    except (EOFError, OSError):
        pass
    shut = [e for e in qmp.events if e.get("event") == "SHUTDOWN"]
    if not shut or shut[0].get("data", {}).get("reason") != "guest-reset":
        raise AssertionError(f"no SHUTDOWN guest-reset event: {qmp.events}")
    if "triple fault" not in stderr():
        raise AssertionError(f"stderr does not say triple fault: {stderr()!r}")


def wait_serial(path, predicate, proc, timeout):
    """Poll the serial log until predicate(text) holds; generous timeouts only."""
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        with open(path, "rb") as f:
            text = f.read().decode("latin-1")
        if predicate(text):
            return text
        if proc.poll() is not None:
            raise AssertionError(f"kvmig exited with {proc.returncode}; serial: {text!r}")
        time.sleep(0.05)
    raise AssertionError(f"timed out; serial so far: {text[:200]!r}")


def run_case(kvmig, accel, mem, append, predicate, timeout):
    with tempfile.TemporaryDirectory() as tmp:
        log = os.path.join(tmp, "serial.log")
        cmd = [kvmig, "-accel", accel, "-m", mem, "-append", append,
               "-serial", f"file:{log}", "-display", "none"]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            open(log, "ab").close()
            text = wait_serial(log, predicate, proc, timeout)
            print(f"ok: {accel} {append}: serial {text[:40]!r}")
        finally:
            proc.terminate()
            try:
                _, err = proc.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                raise AssertionError("kvmig did not exit on SIGTERM")
        if proc.returncode != 0:
            raise AssertionError(f"kvmig exit status {proc.returncode}: {err.decode()}")


def main():
    kvmig, accel = sys.argv[1], sys.argv[2]
    if accel == "kvm":
        kvm_gate()      # exits: 77 where KVM cannot run, 1 under -Dkvm_tests=enabled
        # No vCPU is silently parked: SMP is refused under KVM, in one line.
        r = subprocess.run([kvmig, "-accel", "kvm", "-smp", "2", "-m", "64M", "-display",
                            "none"], capture_output=True, text=True, timeout=60)
        if r.returncode != 1 or len(r.stderr.strip().splitlines()) != 1 or \
                "-smp 2" not in r.stderr:
            raise AssertionError(f"-smp 2 under kvm: status {r.returncode}, {r.stderr!r}")
        print("ok: kvm -smp 2 refused")
        crash_case(kvmig, "internal-error", INTERNAL_ERROR_CODE, b"", check_internal_error)
        crash_case(kvmig, "triple-fault", TRIPLE_FAULT_CODE, bytes(6), check_triple_fault)
        # This machine class's KVM emulates guest code: small guest, long timeout.
        run_case(kvmig, "kvm", "128M", "workload=pagewalk",
                 lambda t: t.count("B") >= 2, 600)
        return 0
    run_case(kvmig, "thread", "1G", "workload=pagewalk", lambda t: t.count("B") >= 3, 120)
    run_case(kvmig, "thread", "256M", "workload=fill size=64M ratio=3",
             lambda t: "F" in t, 120)
    run_case(kvmig, "thread", "256M", "workload=churn size=64M",
             lambda t: "C" in t and "V" in t and "X" not in t, 120)
    run_case(kvmig, "thread", "256M", "workload=stress mb=64",
             lambda t: t.count("\n") >= 2 and t.startswith("S"), 120)
    run_case(kvmig, "thread", "256M", "workload=random",
             lambda t: t.count("R") >= 2, 120)
    return 0


if __name__ == "__main__":
    sys.exit(main())
