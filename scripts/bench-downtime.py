#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Benchmark: migrate a guest (idle by default) over a unix socket with kvmig
(default, then x-early-dirty-log-stop, then x-switchover-at-threshold) and
QEMU, interleaved, and compare.

usage: scripts/bench-downtime.py [--build DIR] [--mem 8G] [--runs 3] [--no-qemu]
                                 [--workload 'churn size=3G' --ready C]
                                 [--accel thread,dirty=soft] [--smp N]
                                 [--downtime-limit MS] [--variants default,...]
                                 [--cap auto-converge ...] [--param NAME=VALUE ...]

Guest-observed downtime: with `vcpu1=blackout` in --workload (and --smp 2)
vCPU 1 runs the blackout workload (DESIGN.md section 4), which reports the
longest gap between two clock reads every second (`G<µs>`).  Each row then
has "blackout_ms": the longest gap in the destination's first two reports
(the second that holds the switchover, and the next), and
"blackout_idle_ms": the median report on the source before the migration
(the noise floor: host scheduling on a shared machine).  Under -accel thread
its clock is the host's monotonic clock; under KVM the migrated TSC stops
across the pause, so the gap does not show there (see blackout.c).  The
summary gives min / median / p90 / max of the downtime and of the blackout.

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
from benchlib import (accel_note, add_vmm_args, qemu_accel_for, med, parse_param,  # noqa: E402
                      mem_available, mem_bytes, ratio, wait_migration, with_retries, BadRun)


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


def blackout_reports(path):
    """The `G<µs>` reports on a serial log, in ms."""
    try:
        with open(path, "rb") as f:
            text = f.read().decode("latin-1")
    except FileNotFoundError:
        return []
    out = []
    for line in text.replace("S", "\nS").split("\n"):
        i = line.find("G")
        if i >= 0 and line[i + 1:].isdigit():
            out.append(int(line[i + 1:]) / 1000)
    return out


def dist(values):
    """min / median / p90 / max of a list (nearest-rank p90)."""
    v = sorted(x for x in values if x is not None)
    if not v:
        return None
    p90 = v[min(len(v) - 1, max(0, -(-9 * len(v) // 10) - 1))]
    return {"n": len(v), "min": v[0], "median": med([{"x": x} for x in v], "x"),
            "p90": p90, "max": v[-1]}


def vmm_args(vmm, a, d, name, incoming=None):
    qmp = os.path.join(d, f"{name}.qmp")
    serial = f"file:{os.path.join(d, name + '.serial')}"
    app = "workload=" + a.workload
    if vmm == "qemu":
        args = [a.qemu, "-accel", a.qemu_accel, "-m", a.mem, "-display", "none",
                "-smp", str(a.smp),
                "-kernel", a.guest, "-append", app, "-serial", serial,
                "-qmp", f"unix:{qmp},server=on,wait=off"]
    else:
        args = [a.kvmig, "-accel", a.accel, "-m", a.mem, "-append", app,
                "-serial", serial, "-display", "none", "-smp", str(a.smp),
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
        caps = list(a.cap) + ([variant] if variant != "default" else [])
        if caps:
            src.qmp.command("migrate-set-capabilities",
                            capabilities=[{"capability": c, "state": True} for c in caps])
        params = dict(a.param)
        if a.downtime_limit is not None:
            params["downtime-limit"] = a.downtime_limit
        if params:
            src.qmp.command("migrate-set-parameters", **params)
        if a.ready:
            wait_serial(os.path.join(d, "src.serial"), a.ready, a.timeout)
        else:
            time.sleep(a.settle)    # the guest reaches its idle loop
        idle = blackout_reports(os.path.join(d, "src.serial"))
        src.qmp.command("migrate", uri=uri)
        info = wait_migration(src.qmp, vmm, a.timeout, 0.005)
        time.sleep(0.3)
        blackout = around = None
        if "blackout" in a.workload:
            # the report that holds the switchover, and the next one
            deadline = time.monotonic() + 10
            while len(blackout_reports(os.path.join(d, "dst.serial"))) < 2:
                if time.monotonic() > deadline:
                    raise BadRun(f"{vmm} {variant}: no blackout report on the destination")
                time.sleep(0.1)
            dst_reports = blackout_reports(os.path.join(d, "dst.serial"))
            blackout = max(dst_reports[:2])
            # around the switchover: the source's last reports, the destination's first
            around = (blackout_reports(os.path.join(d, "src.serial"))[-3:], dst_reports[:3])
        phases = info.get("x-downtime-phases")
        row = {
            "bench": "downtime", "vmm": vmm, "variant": variant, "mem": a.mem,
            "accel": a.qemu_accel if vmm == "qemu" else a.accel,
            "workload": a.workload, "caps": caps, "params": dict(a.param),
            "total_ms": info["total-time"], "downtime_ms": info["downtime"],
            "downtime_precise_ms": round(sum(phases.values()), 3) if phases else None,
            "setup_ms": info.get("setup-time"),
            "bytes": info["ram"]["transferred"],
            "downtime_bytes": info["ram"].get("downtime-bytes"),
            "dst_rss_mib": round(rss_mib(dst.p.pid), 1),
            "dst_status": dst.qmp.command("query-status")["status"],
            "blackout_ms": blackout,
            "blackout_around_ms": around,
            "throttle_pct": info.get("cpu-throttle-percentage"),
            "blackout_idle_ms": med([{"x": x} for x in idle[1:]], "x") if len(idle) > 1 else None,
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
    ap.add_argument("--smp", type=int, default=1, help="vCPUs (2 for vcpu1=blackout)")
    ap.add_argument("--downtime-limit", type=int, default=None, help="ms (default: the VMM's)")
    ap.add_argument("--cap", action="append", default=[], metavar="NAME",
                    help="a capability set on the source of every run (e.g. auto-converge)")
    ap.add_argument("--param", action="append", default=[], type=parse_param,
                    metavar="NAME=VALUE", help="a parameter set on the source of every run")
    ap.add_argument("--variants", default="default,x-early-dirty-log-stop,"
                    "x-switchover-at-threshold", help="kvmig's variants, comma-separated")
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

    variants = [("kvmig", v) for v in a.variants.split(",")]
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
            "downtime_dist": dist(r["downtime_ms"] for r in rs),
            "blackout_dist": dist(r["blackout_ms"] for r in rs),
            "blackout_idle_ms": med(rs, "blackout_idle_ms"),
        }
    q = summary.get(("qemu", "default"))

    print()
    print(f"{a.mem} guest, workload={a.workload}, over a unix socket, {a.runs} runs, medians; "
          f"kvmig -accel {a.accel}" + (f", capabilities {'+'.join(a.cap)}" if a.cap else "")
          + "".join(f", {k}={v}" for k, v in a.param)
          + (f", QEMU -accel {a.qemu_accel}" if q else ""))
    print(f"{'vmm':<6} {'variant':<26} {'total ms':>9} {'downtime ms':>12} "
          f"{'(precise)':>10} {'bytes':>11} {'in downtime':>12} {'dst RSS MiB':>12}")
    for (vmm, variant), s in summary.items():
        print(f"{vmm:<6} {variant:<26} {fmt(s['total_ms']):>9} {fmt(s['downtime_ms']):>12} "
              f"{fmt(s['downtime_precise_ms']):>10} {fmt(s['bytes']):>11} "
              f"{fmt(s['downtime_bytes']):>12} {fmt(s['dst_rss_mib']):>12}")
    print()
    print("distributions over the runs, ms: min / median / p90 / max")
    for (vmm, variant), s in summary.items():
        for key, name in (("downtime_dist", "downtime (VMM)"), ("blackout_dist", "blackout (guest)")):
            dd = s[key]
            if dd:
                print(f"  {vmm:<6} {variant:<26} {name:<17} {fmt(dd['min'])} / "
                      f"{fmt(dd['median'])} / {fmt(dd['p90'])} / {fmt(dd['max'])}  (n={dd['n']})")
        if s["blackout_idle_ms"] is not None:
            print(f"  {vmm:<6} {variant:<26} blackout floor    {fmt(s['blackout_idle_ms'])} "
                  "(median report before the migration)")
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
