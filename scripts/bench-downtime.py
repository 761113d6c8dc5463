#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Benchmark: migrate a guest (idle by default) over a unix socket with kvmig
(default, then x-early-dirty-log-stop, then x-switchover-at-threshold) and
QEMU, interleaved, and compare.

usage: scripts/bench-downtime.py [--build DIR] [--mem 8G] [--runs 3] [--no-qemu]
                                 [--workload 'churn size=3G' --ready C]
                                 [--accel thread,dirty=soft]

Each round runs, in this order: kvmig, kvmig with x-early-dirty-log-stop,
kvmig with x-switchover-at-threshold (QEMU's switchover rule, no settling),
qemu-system-x86_64 on the same guest ELF and workload (-accel kvm when
--accel is kvm and /dev/kvm opens, else tcg, labelled), so they
are interleaved (A B C D A B C D ...) on a shared, noisy machine.  With
--ready X the migration starts once the source's serial shows X (e.g. `C`
when churn is done, `F` when fill is), else --settle seconds after start.  Both
VMMs keep their default parameters.  Prints one JSON line per migration,
then a table of medians, the ratios to QEMU, and one JSON line per variant
with the medians.  Downtime: what each VMM reports (integer ms); for kvmig
also the sum of x-downtime-phases (µs resolution).  Destination RSS is read
from /proc 0.3 s after the migration completed.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "migration"))
from qmp import QMP  # noqa: E402
<<<<<<< HEAD
from benchlib import (accel_note, add_vmm_args, qemu_accel_for, med, mem_available, mem_bytes,  # noqa: E402
                      ratio, wait_migration)
=======
from benchlib import (add_vmm_args, med, mem_available, mem_bytes,  # noqa: E402
                      ratio, wait_migration, with_retries, BadRun)
>>>>>>> wip-18


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


class Proc:
    def __init__(self, args, qmp_path):
        self.p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while not os.path.exists(qmp_path):
            if self.p.poll() is not None:
                raise RuntimeError(f"{args[0]} exited: {self.p.stderr.read().decode()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{args[0]}: no QMP socket")
            time.sleep(0.01)
        self.qmp = QMP(qmp_path)

    def kill(self):
        try:
            self.qmp.close()
        except Exception:
            pass
        if self.p.poll() is None:
            self.p.kill()
        self.p.wait()


def vmm_args(vmm, a, d, name, incoming=None):
    qmp = os.path.join(d, f"{name}.qmp")
    serial = f"file:{os.path.join(d, name + '.serial')}"
    app = "workload=" + a.workload
    if vmm == "qemu":
        args = [a.qemu, "-accel", a.qemu_accel, "-m", a.mem, "-display", "none",
                "-kernel", a.guest, "-append", app, "-serial", serial,
                "-qmp", f"unix:{qmp},server=on,wait=off"]
    else:
        args = [a.kvmig, "-accel", a.accel, "-m", a.mem, "-append", app,
                "-serial", serial, "-display", "none",
                "-qmp", f"unix:{qmp},server=on,wait=off"]
    if incoming:
        args += ["-incoming", incoming]
    return args, qmp


def one_run(vmm, variant, a):
    d = tempfile.mkdtemp(prefix="bench-downtime-")
    uri = f"unix:{d}/mig.sock"
    src = dst = None
    try:
        src = Proc(*vmm_args(vmm, a, d, "src"))
        dst = Proc(*vmm_args(vmm, a, d, "dst", incoming=uri))
        if variant != "default":
            src.qmp.command("migrate-set-capabilities",
                            capabilities=[{"capability": variant, "state": True}])
        if a.ready:
            wait_serial(os.path.join(d, "src.serial"), a.ready, a.timeout)
        else:
            time.sleep(a.settle)    # the guest reaches its idle loop
        src.qmp.command("migrate", uri=uri)
        info = wait_migration(src.qmp, vmm, a.timeout, 0.005)
        time.sleep(0.3)
        phases = info.get("x-downtime-phases")
        row = {
            "bench": "downtime", "vmm": vmm, "variant": variant, "mem": a.mem,
            "accel": a.qemu_accel if vmm == "qemu" else a.accel,
            "workload": a.workload,
            "total_ms": info["total-time"], "downtime_ms": info["downtime"],
            "downtime_precise_ms": round(sum(phases.values()), 3) if phases else None,
            "setup_ms": info.get("setup-time"),
            "bytes": info["ram"]["transferred"],
            "downtime_bytes": info["ram"].get("downtime-bytes"),
            "dst_rss_mib": round(rss_mib(dst.p.pid), 1),
            "dst_status": dst.qmp.command("query-status")["status"],
        }
        if row["dst_status"] != "running":
            raise BadRun(f"{vmm} {variant}: the destination is {row['dst_status']}")
        if phases:
            row["phases"] = phases
        return row
    finally:
        for p in (src, dst):
            if p:
                p.kill()
        shutil.rmtree(d, ignore_errors=True)


def wait_serial(path, char, timeout):
    deadline = time.monotonic() + timeout
    while True:
        try:
            with open(path, "rb") as f:
                if char.encode() in f.read():
                    return
        except FileNotFoundError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"no {char!r} on {path} in {timeout} s")
        time.sleep(0.05)


def fmt(v, unit=""):
    if v is None:
        return "-"
    if isinstance(v, float) and v != int(v):
        return f"{v:.3f}{unit}"
    return f"{int(v)}{unit}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_vmm_args(ap)
    ap.add_argument("--mem", default="8G")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--settle", type=float, default=0.5, help="s between start and migrate")
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--no-qemu", action="store_true")
    ap.add_argument("--workload", default="idle", help="the guest's workload= words")
    ap.add_argument("--ready", default="", help="serial character to wait for")
    ap.add_argument("--accel", default="thread", help="kvmig's -accel")
    a = ap.parse_args()
    a.qemu_accel = qemu_accel_for(a.accel)
    a.kvmig = a.kvmig or os.path.join(a.build, "kvmig")
    a.guest = a.guest or os.path.join(a.build, "guest", "kvmig-guest.elf")
    with_qemu = not a.no_qemu and shutil.which(a.qemu)
    if not a.no_qemu and not with_qemu:
        print(f"# {a.qemu} not found: kvmig only", file=sys.stderr)
    # QEMU reads every page on both sides: on kernels without a shared zero
    # page both processes end up with all of RAM resident
    if with_qemu and mem_available() < 2.2 * mem_bytes(a.mem):
        print(f"# only {mem_available() >> 30} GiB available, QEMU needs about "
              f"{2.2 * mem_bytes(a.mem) / (1 << 30):.1f}: kvmig only", file=sys.stderr)
        with_qemu = False

    variants = [("kvmig", "default"), ("kvmig", "x-early-dirty-log-stop"),
                ("kvmig", "x-switchover-at-threshold")]
    if with_qemu:
        variants.append(("qemu", "default"))
    rows = {v: [] for v in variants}
    for run in range(a.runs):
        for vmm, variant in variants:
            # a run that reports no time is retried, never a median input
            row = with_retries(lambda: one_run(vmm, variant, a), f"{vmm} {variant}")
            row["run"] = run + 1
            rows[(vmm, variant)].append(row)
            print(json.dumps(row), flush=True)

    summary = {}
    for v in variants:
        rs = rows[v]
        summary[v] = {
            "total_ms": med(rs, "total_ms"), "downtime_ms": med(rs, "downtime_ms"),
            "downtime_precise_ms": med(rs, "downtime_precise_ms"),
            "bytes": med(rs, "bytes"), "dst_rss_mib": med(rs, "dst_rss_mib"),
            "downtime_bytes": med(rs, "downtime_bytes"),
        }
    q = summary.get(("qemu", "default"))

    print()
    print(f"{a.mem} guest, workload={a.workload}, over a unix socket, {a.runs} runs, medians; "
          f"kvmig -accel {a.accel}" + (f", QEMU -accel {a.qemu_accel}" if q else ""))
    print(f"{'vmm':<6} {'variant':<26} {'total ms':>9} {'downtime ms':>12} "
          f"{'(precise)':>10} {'bytes':>11} {'in downtime':>12} {'dst RSS MiB':>12}")
    for (vmm, variant), s in summary.items():
        print(f"{vmm:<6} {variant:<26} {fmt(s['total_ms']):>9} {fmt(s['downtime_ms']):>12} "
              f"{fmt(s['downtime_precise_ms']):>10} {fmt(s['bytes']):>11} "
              f"{fmt(s['downtime_bytes']):>12} {fmt(s['dst_rss_mib']):>12}")
    if q:
        print()
        print(accel_note(a.accel, a.qemu_accel))
        print("QEMU / kvmig (higher is better for kvmig)")
        for (vmm, variant), s in summary.items():
            if vmm == "qemu":
                continue
            down = s["downtime_precise_ms"] or s["downtime_ms"]
            print(f"  {variant:<26} total x{fmt(ratio(q['total_ms'], s['total_ms']))}  "
                  f"downtime x{fmt(ratio(q['downtime_ms'], down))}  "
                  f"bytes x{fmt(ratio(q['bytes'], s['bytes']))}  "
                  f"dst RSS x{fmt(ratio(q['dst_rss_mib'], s['dst_rss_mib']))}")
    print()
    for (vmm, variant), s in summary.items():
        out = {"bench": "downtime-summary", "vmm": vmm, "variant": variant, "mem": a.mem,
               "runs": a.runs, **s}
        if q and vmm != "qemu":
            down = s["downtime_precise_ms"] or s["downtime_ms"]
            out["qemu_ratio"] = {
                "total": ratio(q["total_ms"], s["total_ms"]),
                "downtime": ratio(q["downtime_ms"], down),
                "bytes": ratio(q["bytes"], s["bytes"]),
            }
        print(json.dumps(out))


if __name__ == "__main__":
    main()
