#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Boot the test guest under an accelerator and watch its workloads run.

usage: test-boot.py KVMIG ACCEL
Exit status 77 (meson's "skip") with the reason when the accelerator is not
usable here (no /dev/kvm).
"""
import os
import subprocess
import sys
import tempfile
import time

SKIP = 77


def kvm_usable():
    try:
        fd = os.open("/dev/kvm", os.O_RDWR)
    except OSError as e:
        return f"/dev/kvm cannot be opened: {e.strerror}"
    os.close(fd)
    return None


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
        reason = kvm_usable()
        if reason:
            print(f"SKIP: {reason}")
            return SKIP
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
