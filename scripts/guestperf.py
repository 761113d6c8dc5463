#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""guestperf: migrate a busy guest and record what it costs the guest.

usage:
  scripts/guestperf.py --mem SIZE --workload 'WL' [--smp N]
                       [--accel kvm|thread|thread,dirty=uffd|thread,dirty=soft]
                       [--cap NAME]... [--param NAME=VALUE]... [--qemu] --output DIR
                       [--warmup S] [--max-time S] [--post S]
                       [--postcopy N|Ts] [--postcopy-preempt]
  scripts/guestperf.py --methods precopy,auto-converge,postcopy,postcopy-preempt
                       [--runs N] [the options above but --postcopy-preempt] --output DIR
  scripts/guestperf.py --replot DIR
  scripts/guestperf.py --compare DIR1 DIR2 [--output DIR]

Starts a source and a destination (kvmig, or with --qemu qemu-system-x86_64
-accel kvm with --accel kvm where /dev/kvm opens, else tcg, booting the
same guest ELF with -kernel), lets the guest warm up,
sets the capabilities (on both sides) and parameters (on the source),
migrates over TCP on 127.0.0.1, samples query-migrate every 100 ms and the
guest's own progress -- the stress workload's `S<ms-per-GiB>` lines on both
serial logs, timestamped as they appear (polled every 20 ms) -- and keeps
watching the guest on the destination for --post seconds.  A migration still
running after --max-time seconds is cancelled and recorded as such.

--postcopy N switches to postcopy (migrate-start-postcopy) once the source
has made N dirty syncs, --postcopy Ts at T seconds after the migrate
command (capability postcopy-ram on both sides, postcopy-blocktime on the
destination); --postcopy-preempt adds postcopy-preempt (and implies
--postcopy 1 when --postcopy is not given).  The summary then has when
the switch came, the requests and bytes after it, and the destination's
fault figures (postcopy-blocktime, -latency, -latency-dist); the plot
shades the postcopy phase.

Writes DIR/result.json {"guest": [...], "migration": [...], "summary": {...}}
(times in seconds from the migrate command) and the plots DIR/guest.png
(ms per GiB over time, migration phases shaded: setup, precopy, throttled,
downtime) and DIR/migration.png (bandwidth, remaining bytes and the
throttle over time).  The summary also has each VMM's CPU seconds from
the migrate command to its side's end (cpu_s: utime+stime of the process
and of its vCPU threads, which run the guest), end_s, and the guest's steady
pre-migration ms/GiB (first-touch lines left out), the longest gap between
two progress entries during the migration and the time after completion
until it is back within 2x (guest_ms_per_gib).  --compare plots two result
directories side by side (DIR/compare.png, DIR defaulting to the current
directory) and prints their headline figures.

--methods migrates the same guest (a fresh pair of VMMs per run) once per
method and round, the method order rotating each round: precopy (--cap as
given), auto-converge (plus that capability), postcopy and postcopy-preempt
(switching at --postcopy, default 1 dirty sync).  With --qemu each run is
made on kvmig and on QEMU, both labelled with their accelerator.  Per run:
the result (a migration still running at --max-time is cancelled: "did not
finish"; a run that failed is a row saying so), total time, downtime, the
switch and the part after it, the destination's postcopy-blocktime, each
VMM's CPU seconds from migrate to its side's end (/proc utime+stime: the
whole process, and without its vCPU threads), the longest gap between two
progress entries during the migration, and how long after completion the
guest stayed above 2 x its steady pre-migration ms/GiB.  Writes
DIR/runs/ROUND-METHOD-VMM/ (a single run's files), DIR/methods.json (every
run's figures and guest series, medians per method), DIR/methods.md (the
table, printed too) and DIR/methods.png (every run's ms/GiB, time 0 at
migrate, switch and completion marked).  --replot DIR redraws the last two
from DIR/methods.json.

Progress entries are the stress workload's S lines; for pagewalk, which
prints a `B` per pass, the host's time between polls that saw one, per GiB
walked.

Python 3 standard library plus matplotlib (Debian's python3-matplotlib;
hence /usr/bin/python3).  The QMP client is tests/migration/qmp.py.
"""
import argparse
import json
import math
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "migration"))
import benchlib  # noqa: E402
from qmp import QMPError  # noqa: E402

SAMPLE_S = 0.1          # query-migrate period
SERIAL_POLL_S = 0.02    # serial log poll period
WARMUP_LINES = 3        # S lines (GiB written) the guest shows before migrating
FINAL = ("completed", "failed", "cancelled")
STRESS_LINE = re.compile(rb"S(\d+)\r?\n")


# ---- processes ----

def free_tcp_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Side(benchlib.Side):
    """One VMM process (kvmig or QEMU) with a QMP socket and a serial log."""

    def __init__(self, args, d, name, incoming=None):
        super().__init__(args, d, name, incoming=incoming, new_session=True)
        self.offset = 0
        self.partial = b""

    def new_progress(self):
        """(ms-per-GiB values of the S lines completed since the last call,
        the number of pagewalk `B` marks since then)."""
        try:
            with open(self.serial, "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except FileNotFoundError:
            return [], 0
        self.offset += len(data)
        buf = self.partial + data
        out = [int(m.group(1)) for m in STRESS_LINE.finditer(buf)]
        cut = buf.rfind(b"\n")
        self.partial = buf[cut + 1:] if cut >= 0 else buf
        return out, data.count(b"B")

    def cpu_now(self):
        """(process CPU seconds, {tid: vCPU thread seconds}) now; None once
        the process is reaped."""
        try:
            total = self.cpu()
        except OSError:
            return None
        return total, benchlib.vcpu_thread_seconds(self.proc.pid)

    def status(self):
        """query-migrate's status, or None if the process no longer answers."""
        try:
            return self.qmp.command("query-migrate").get("status")
        except (OSError, EOFError, ValueError, QMPError):
            return None


def cpu_used(before, after):
    """{"total", "vcpu"} CPU seconds between two Side.cpu_now() readings:
    the whole process, and its vCPU threads (the guest) alone."""
    if before is None or after is None:
        return None
    vcpu = sum(s - before[1].get(tid, 0.0) for tid, s in after[1].items())
    return {"total": round(after[0] - before[0], 2), "vcpu": round(vcpu, 2)}


def vmm_args(a):
    append = a.workload if a.workload.startswith("workload=") else f"workload={a.workload}"
    if a.qemu:
        # debug-threads: vCPU threads named "CPU n/KVM", told apart in cpu_used()
        return [a.qemu_binary, "-accel", a.qemu_accel, "-m", a.mem, "-smp", str(a.smp),
                "-kernel", a.guest_elf, "-append", append, "-nodefaults",
                "-name", "guestperf,debug-threads=on"]
    return [a.kvmig, "-accel", a.accel, "-m", a.mem, "-smp", str(a.smp), "-append", append]


def accel_arg(v):
    if v in ("kvm", "thread", "thread,dirty=uffd", "thread,dirty=soft"):
        return v
    raise argparse.ArgumentTypeError(
        f"invalid accelerator '{v}' (expected kvm, thread or thread,dirty=uffd|soft)")


# ---- one run ----

def sample_of(info, t):
    """The part of a query-migrate reply kept per sample."""
    ram = info.get("ram", {})
    s = {"t": round(t, 3), "status": info.get("status")}
    for k in ("total-time", "expected-downtime", "downtime", "setup-time",
              "cpu-throttle-percentage"):
        if k in info:
            s[k] = info[k]
    for k in ("transferred", "remaining", "mbps", "dirty-pages-rate", "dirty-sync-count",
              "postcopy-requests", "postcopy-bytes"):
        if k in ram:
            s[k] = ram[k]
    if "x-convergence" in info:
        s["x-convergence"] = info["x-convergence"]
    return s


def workload_name(a):
    first = a.workload.split()[0] if a.workload.split() else ""
    return first[len("workload="):] if first.startswith("workload=") else first


def guest_vcpus(a):
    """vCPUs the workload runs on: every one under the thread accelerator;
    the guest ELF (kvm, QEMU) runs it on vCPU 0 only (guest/main.c)."""
    return a.smp if not a.qemu and a.accel.startswith("thread") else 1


def first_touch_lines(a):
    """Progress entries before migrating that include memory written for the
    first time (much slower): stress's first ceil(share / GiB) S lines of
    each vCPU; pagewalk's first pass sets the reference time, no entry."""
    if workload_name(a) != "stress":
        return 0
    n = guest_vcpus(a)
    m = re.search(r"\bmb=(\d+)", a.workload)
    share = int(m.group(1)) << 20 if m else (benchlib.mem_bytes(a.mem) - (4 << 20)) // n
    return n * -(-share // (1 << 30))


def migrate_once(a):
    """One migration as @a says; returns {"guest", "migration", "summary"}."""
    d = tempfile.mkdtemp(prefix="guestperf-")
    port = free_tcp_port()
    uri = f"tcp:127.0.0.1:{port}"
    guest, migration = [], []
    src = dst = None
    t0 = time.monotonic()      # re-based to the migrate command below
    pagewalk = workload_name(a) == "pagewalk"
    walk_gib = (benchlib.mem_bytes(a.mem) - (4 << 20)) / (1 << 30)
    last_pass = None           # host time of the last poll that saw a `B`

    def poll_serial(now):
        nonlocal last_pass
        for side in (src, dst):
            values, passes = side.new_progress()
            for v in values:
                g = {"t": now - t0, "side": side.name, "ms_per_gib": v}
                # one vCPU: the host clock's view too, line to line (src then dst)
                if a.smp == 1 and guest:
                    g["host_ms"] = round((now - t0 - guest[-1]["t"]) * 1000)
                guest.append(g)
            if pagewalk and passes:
                # pagewalk prints no times: the host clock's, per GiB walked
                if last_pass is not None:
                    guest.append({"t": now - t0, "side": side.name, "host": True,
                                  "ms_per_gib": round((now - last_pass) * 1000 / passes /
                                                      walk_gib, 1)})
                last_pass = now

    skip = first_touch_lines(a)
    try:
        src = Side(vmm_args(a), d, "src")
        dst = Side(vmm_args(a), d, "dst", incoming=uri)
        # warm up: past the memory written for the first time (much slower
        # to write), then --warmup seconds and WARMUP_LINES of steady state
        deadline = time.monotonic() + a.warmup
        while time.monotonic() < deadline or \
                (sum(1 for g in guest if g["side"] == "src") < skip + WARMUP_LINES and
                 time.monotonic() < deadline + 300):
            poll_serial(time.monotonic())
            time.sleep(SERIAL_POLL_S)
        caps = [{"capability": c, "state": True} for c in a.cap]
        if a.postcopy:
            caps += [{"capability": "postcopy-ram", "state": True}]
            if a.postcopy_preempt:
                caps += [{"capability": "postcopy-preempt", "state": True}]
        if caps:
            for side in (src, dst):
                side.qmp.command("migrate-set-capabilities", capabilities=caps)
        if a.postcopy:
            # the destination's fault figures (QEMU 10.1 names; QEMU 7.2 has blocktime only)
            dst.qmp.command("migrate-set-capabilities",
                            capabilities=[{"capability": "postcopy-blocktime", "state": True}])
        params = dict(benchlib.parse_param(p) for p in a.param)
        if params:
            src.qmp.command("migrate-set-parameters", **params)
        # the destination's own (x-postcopy-request-window): kvmig's names, not QEMU's
        dparams = dict(benchlib.parse_param(p) for p in a.dst_param)
        if dparams and not a.qemu:
            dst.qmp.command("migrate-set-parameters", **dparams)
        start = time.monotonic()
        # guest samples so far move to negative times
        for g in guest:
            g["t"] = g["t"] - (start - t0)
        t0 = start
        cpu0 = (src.cpu_now(), dst.cpu_now())
        src.qmp.command("migrate", uri=uri)
        next_sample = 0.0
        end_at = None
        timed_out = False
        last = {}
        postcopy_at = None
        src_cpu1 = dst_cpu1 = None
        dst_status = None
        while True:
            now = time.monotonic()
            poll_serial(now)
            if end_at is not None:
                # the destination's end: its own final status (or its exit)
                if dst_cpu1 is None and now - t0 >= next_sample:
                    next_sample += SAMPLE_S
                    dst_status = dst.status()
                    if dst_status in FINAL or dst_status is None:
                        dst_cpu1 = dst.cpu_now()
                        if dst_status is None:
                            # as QEMU, a destination whose migration failed quits
                            rc = dst.proc.poll()
                            dst_status = "no answer" if rc is None else f"exited ({rc})"
                if now >= end_at:
                    break
            elif now - t0 >= next_sample:
                next_sample += SAMPLE_S
                last = src.qmp.command("query-migrate")
                migration.append(sample_of(last, now - t0))
                if (a.postcopy and postcopy_at is None and last.get("status") == "active" and
                        postcopy_due(a.postcopy, last, now - t0)):
                    postcopy_at = round(now - t0, 3)
                    src.qmp.command("migrate-start-postcopy")
                if last.get("status") in FINAL:
                    src_cpu1 = src.cpu_now()
                    end_at = now + (a.post if last["status"] == "completed" else 1.0)
                elif now - t0 > a.max_time and not timed_out:
                    timed_out = True
                    src.qmp.command("migrate_cancel")
            time.sleep(SERIAL_POLL_S)
        poll_serial(time.monotonic())
        observed = time.monotonic() - t0
        if dst_cpu1 is None:
            dst_cpu1 = dst.cpu_now()
        summary = summarize(a, guest, migration, last, timed_out)
        summary["cpu_s"] = {
            "src": cpu_used(cpu0[0], src_cpu1), "dst": cpu_used(cpu0[1], dst_cpu1),
            # the destination's reading: at its own final status, else at the end
            "dst_status": dst_status,
        }
        completed_at = (last["total-time"] / 1000.0
                        if last.get("status") == "completed" and last.get("total-time")
                        else None)
        if last.get("error-desc"):
            summary["error_desc"] = last["error-desc"]
        final = next((m for m in migration if m["status"] in FINAL), None)
        summary["end_s"] = completed_at or (final["t"] if final else None)
        summary["guest_ms_per_gib"].update(
            progress_figures(guest, skip, completed_at,
                             summary["end_s"] or (migration[-1]["t"] if migration else 0.0),
                             observed))
        if a.postcopy:
            try:
                dinfo = dst.qmp.command("query-migrate")
            except (OSError, EOFError, ValueError, QMPError) as e:
                dinfo = {"error": str(e)}
            summary["postcopy"] = {
                "start_s": postcopy_at,
                "requests": last.get("ram", {}).get("postcopy-requests"),
                "bytes": last.get("ram", {}).get("postcopy-bytes"),
                # from migrate-start-postcopy to the source's total-time
                "after_switch_s": round(completed_at - postcopy_at, 3)
                if postcopy_at is not None and completed_at is not None else None,
            }
            for k in ("postcopy-blocktime", "postcopy-vcpu-blocktime", "postcopy-latency",
                      "postcopy-latency-dist"):
                if k in dinfo:
                    summary["postcopy"][k] = dinfo[k]
    finally:
        for side in (src, dst):
            if side:
                side.kill()
        shutil.rmtree(d, ignore_errors=True)
    return {"guest": guest, "migration": migration, "summary": summary}


def progress_figures(guest, skip, completed_at, end, observed):
    """The guest's progress around a migration that ran [0, @end] (completed
    at @completed_at, None if not), watched until @observed:
    - steady_before_median: ms/GiB before migrating, first-touch entries
      (@skip) left out;
    - longest_gap_s: the longest time between two progress entries (either
      side) that overlaps the migration, and where it began; open if no
      entry ended it before @observed;
    - back_within_2x_s: from completion to the first entry on the
      destination within 2 x steady_before_median after the last one above
      it (not_back if the last one seen was above: not back by the end);
      an entry covers the GiB one vCPU wrote before it, so one that began
      during the migration counts.  first_within_2x_s: to the first entry
      within 2 x."""
    before = [g["ms_per_gib"] for g in guest if g["t"] < 0][skip:]
    base = med(before)
    out = {"steady_before_median": base, "steady_before_entries": len(before),
           "first_touch_skipped": skip,
           "longest_gap_s": None, "longest_gap_at_s": None, "longest_gap_open": False,
           "back_within_2x_s": None, "first_within_2x_s": None,
           "worst_after_completion_ms_per_gib": None}
    ts = sorted(g["t"] for g in guest)
    for i, t1 in enumerate(ts):
        t2 = ts[i + 1] if i + 1 < len(ts) else observed
        if t2 > 0 and t1 < end and (out["longest_gap_s"] is None or
                                     t2 - t1 > out["longest_gap_s"]):
            out["longest_gap_s"] = round(t2 - t1, 3)
            out["longest_gap_at_s"] = round(t1, 3)
            out["longest_gap_open"] = i + 1 == len(ts)
    after = sorted((g for g in guest if g["side"] == "dst" and completed_at is not None and
                    g["t"] > completed_at), key=lambda g: g["t"])
    if after and base:
        out["worst_after_completion_ms_per_gib"] = max(g["ms_per_gib"] for g in after)
        slow = [i for i, g in enumerate(after) if g["ms_per_gib"] > 2 * base]
        fast = [i for i, g in enumerate(after) if g["ms_per_gib"] <= 2 * base]
        if fast:
            out["first_within_2x_s"] = round(after[fast[0]]["t"] - completed_at, 3)
        # the first entry within 2 x after the last one above it
        back = slow[-1] + 1 if slow else 0
        if back < len(after):
            out["back_within_2x_s"] = round(after[back]["t"] - completed_at, 3)
        else:
            out["not_back"] = True
    return out


def run(a):
    os.makedirs(a.output, exist_ok=True)
    result = migrate_once(a)
    write_run(result, a.output)
    print(json.dumps(result["summary"], indent=1))
    return 0


def write_run(result, outdir):
    os.makedirs(outdir, exist_ok=True)
    with open(os.path.join(outdir, "result.json"), "w") as f:
        json.dump(result, f, indent=1)
    plot_run(result, outdir)


def postcopy_due(when, info, t):
    """--postcopy N (dirty syncs) or Ts (seconds): time to switch?"""
    if when.endswith("s"):
        return t >= float(when[:-1])
    return info.get("ram", {}).get("dirty-sync-count", 0) >= int(when)


def phases(migration):
    """(setup_end, active_end, end, downtime_s, throttled spans) from the samples."""
    if not migration:
        return None
    active = [s["t"] for s in migration if s["status"] in ("active", "postcopy-active")]
    setup_end = active[0] if active else migration[-1]["t"]
    final = next((s for s in migration if s["status"] in FINAL), None)
    end = final["t"] if final else migration[-1]["t"]
    downtime_s = (final.get("downtime", 0) / 1000.0) if final else 0.0
    active_end = end - downtime_s if final and final["status"] == "completed" else end
    spans, cur = [], None
    for s in migration:
        on = s.get("cpu-throttle-percentage", 0) > 0
        if on and cur is None:
            cur = s["t"]
        elif not on and cur is not None:
            spans.append((cur, s["t"]))
            cur = None
    if cur is not None:
        spans.append((cur, end))
    pc = [s["t"] for s in migration if s["status"] == "postcopy-active"]
    if pc:
        # postcopy: the downtime is at the switch, postcopy runs to the end
        active_end = max(setup_end, pc[0] - downtime_s)
    return {"setup_end": setup_end, "active_end": active_end, "end": end,
            "downtime_s": downtime_s, "throttled": spans,
            "postcopy": (pc[0], end) if pc else None}


def med(v):
    return statistics.median(v) if v else None


def summarize(a, guest, migration, last, timed_out):
    ph = phases(migration) or {"end": 0, "throttled": []}
    end = ph["end"]
    before = [g["ms_per_gib"] for g in guest if g["t"] < 0]
    during_g = [g for g in guest if 0 <= g["t"] <= end]
    # the destination's first line spans the switchover: count it as "during"
    dst = [g for g in guest if g["side"] == "dst"]
    if dst and last.get("status") == "completed" and dst[0] not in during_g:
        during_g.append(dst[0])
    dst = [g for g in dst if g not in during_g]
    during = [g["ms_per_gib"] for g in during_g]
    during_host = [g["host_ms"] for g in during_g if "host_ms" in g]
    after = [g["ms_per_gib"] for g in dst if g["t"] > end]
    active_samples = [s for s in migration if s["status"] == "active"]
    conv = [s["x-convergence"] for s in migration if "x-convergence" in s]
    not_conv = next((s for s in migration
                     if s.get("x-convergence", {}).get("converging") is False), None)
    ram = last.get("ram", {})
    return {
        "vmm": "qemu" if a.qemu else "kvmig",
        "version": vmm_version(a),
        "accel": a.qemu_accel if a.qemu else a.accel,
        "mem": a.mem, "smp": a.smp, "workload": a.workload,
        "caps": a.cap, "params": dict(benchlib.parse_param(p) for p in a.param),
        "dst_params": dict(benchlib.parse_param(p) for p in a.dst_param),
        "status": last.get("status"),
        "timed_out": timed_out,
        "max_time_s": a.max_time,
        "active_s": round(active_samples[-1]["t"] - active_samples[0]["t"], 2)
        if active_samples else 0,
        "total_time_ms": last.get("total-time"),
        "downtime_ms": last.get("downtime"),
        "setup_time_ms": last.get("setup-time"),
        "transferred_bytes": ram.get("transferred", (migration[-2] if len(migration) > 1
                                                     else {}).get("transferred")),
        "dirty_sync_count": max((s.get("dirty-sync-count", 0) for s in migration), default=0),
        "max_cpu_throttle_pct": max((s.get("cpu-throttle-percentage", 0) for s in migration),
                                    default=0),
        "throttled_s": round(sum(b - a_ for a_, b in ph["throttled"]), 2),
        "first_not_converging_s": not_conv["t"] if not_conv else None,
        "last_convergence": conv[-1] if conv else None,
        "guest_ms_per_gib": {
            "before_median": med(before),
            "during_median": med(during),
            "during_worst": max(during) if during else None,
            "after_median": med(after),
            # smp 1: the same, timed by the host as the lines appeared
            "host_during_worst": max(during_host) if during_host else None,
            "samples": len(guest),
        },
    }


def vmm_version(a):
    binary = a.qemu_binary if a.qemu else a.kvmig
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True,
                             timeout=10).stdout.strip().splitlines()
        return out[0] if out else binary
    except (OSError, subprocess.SubprocessError):
        return binary


# ---- plots ----

def load_plt():
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        return plt
    except ImportError:
        raise SystemExit("guestperf: matplotlib is missing (apt install python3-matplotlib; "
                         "run with /usr/bin/python3)")


def shade(ax, ph):
    if not ph:
        return
    ax.axvspan(0, ph["setup_end"], color="0.85", label="setup")
    ax.axvspan(ph["setup_end"], ph["active_end"], color="tab:blue", alpha=0.10,
               label="precopy")
    for i, (x0, x1) in enumerate(ph["throttled"]):
        ax.axvspan(x0, x1, color="tab:orange", alpha=0.25,
                   label="throttled" if i == 0 else None)
    if ph.get("postcopy"):
        ax.axvspan(ph["postcopy"][0], ph["postcopy"][1], color="tab:green", alpha=0.15,
                   label="postcopy")
    if ph["downtime_s"] > 0:
        # at least 1/400 of the axis wide so a millisecond downtime is seen
        w = max(ph["downtime_s"], (ph["end"] + 1) / 400)
        ax.axvspan(ph["active_end"], ph["active_end"] + w, color="tab:red", alpha=0.7,
                   label=f"downtime {ph['downtime_s'] * 1000:.0f} ms")


def title_of(s):
    head = f"{s['vmm']} ({s['accel']}) {s['mem']} smp {s['smp']} '{s['workload']}'"
    opts = " ".join(s["caps"] + [f"{k}={v}" for k, v in s["params"].items()])
    if s["status"] == "completed":
        res = (f"completed in {s['total_time_ms'] / 1000:.1f} s, downtime "
               f"{s['downtime_ms']} ms")
    elif s["timed_out"]:
        res = f"still active after {s['max_time_s']:g} s (cancelled)"
    else:
        res = s["status"]
    return f"{head}\n{opts}\n{res}"


def plot_guest(ax, result, xmax=None):
    ph = phases(result["migration"])
    shade(ax, ph)
    for side, color in (("src", "tab:blue"), ("dst", "tab:green")):
        pts = [(g["t"], g["ms_per_gib"]) for g in result["guest"] if g["side"] == side]
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], ".-", color=color,
                    markersize=3, linewidth=0.8, label=f"guest on {side}")
    host = [(g["t"], g["host_ms"]) for g in result["guest"] if "host_ms" in g]
    if host:
        ax.plot([p[0] for p in host], [p[1] for p in host], "x", color="0.4",
                markersize=3, label="same, host clock (line to line)")
    ax.set_yscale("log")
    ax.set_xlabel("time from migrate (s)")
    ax.set_ylabel("guest ms per GiB written (log)")
    if xmax is not None:
        ax.set_xlim(right=xmax)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")


def plot_migration(ax, result, xmax=None):
    mig = result["migration"]
    ph = phases(mig)
    shade(ax, ph)
    live = [s for s in mig if "mbps" in s]
    t = [s["t"] for s in live]
    ax.plot(t, [s["mbps"] / 8 for s in live], color="tab:blue", label="bandwidth (MB/s)")
    ax.set_ylabel("bandwidth (MB/s)")
    ax.set_xlabel("time from migrate (s)")
    ax2 = ax.twinx()
    ax2.plot(t, [s.get("remaining", 0) / (1 << 20) for s in live], color="tab:purple",
             label="remaining (MiB)")
    ax2.plot(t, [s.get("cpu-throttle-percentage", 0) for s in live], color="tab:orange",
             linestyle="--", label="cpu throttle (%)")
    ax2.set_ylabel("remaining (MiB) / throttle (%)")
    if xmax is not None:
        ax.set_xlim(right=xmax)
    ax.grid(True, alpha=0.3)
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, fontsize=7, loc="upper right")


def plot_run(result, outdir):
    plt = load_plt()
    s = result["summary"]
    fig, ax = plt.subplots(figsize=(10, 5))
    plot_guest(ax, result)
    ax.set_title(title_of(s), fontsize=9)
    fig.tight_layout()
    fig.savefig(os.path.join(outdir, "guest.png"), dpi=110)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(10, 5))
    plot_migration(ax, result)
    ax.set_title(title_of(s), fontsize=9)
    fig.tight_layout()
    fig.savefig(os.path.join(outdir, "migration.png"), dpi=110)
    plt.close(fig)


def headline(s):
    g = s["guest_ms_per_gib"]
    return (f"{s['vmm']:5} {s['accel']:6} status {s['status']}"
            f"{' (timed out)' if s['timed_out'] else ''}, total {s['total_time_ms']} ms, "
            f"downtime {s['downtime_ms']} ms, max throttle {s['max_cpu_throttle_pct']}%, "
            f"guest ms/GiB before {g['before_median']} during median {g['during_median']} "
            f"worst {g['during_worst']} (host clock {g.get('host_during_worst')}) "
            f"after {g['after_median']}")


def compare(dirs, outdir):
    plt = load_plt()
    results = []
    for d in dirs:
        with open(os.path.join(d, "result.json")) as f:
            results.append(json.load(f))
    xmax = max(max([m["t"] for m in r["migration"]] + [g["t"] for g in r["guest"]] + [0])
               for r in results)
    fig, axes = plt.subplots(2, len(results), figsize=(8 * len(results), 9), squeeze=False)
    # one y range for the guest plots so the two can be read against each other
    ys = [g["ms_per_gib"] for r in results for g in r["guest"]]
    for i, r in enumerate(results):
        plot_guest(axes[0][i], r, xmax)
        if ys:
            axes[0][i].set_ylim(max(min(ys) * 0.7, 1), max(ys) * 1.5)
        axes[0][i].set_title(f"{dirs[i]}\n" + title_of(r["summary"]), fontsize=8)
        plot_migration(axes[1][i], r, xmax)
    fig.tight_layout()
    os.makedirs(outdir, exist_ok=True)
    path = os.path.join(outdir, "compare.png")
    fig.savefig(path, dpi=100)
    plt.close(fig)
    for d, r in zip(dirs, results):
        print(f"{d}: {headline(r['summary'])}")
    print(f"wrote {path}")
    return 0


# ---- --methods: the same guest migrated by each method, interleaved ----

METHODS = ("precopy", "auto-converge", "postcopy", "postcopy-preempt")
METHOD_CAPS = ("auto-converge", "postcopy-ram", "postcopy-preempt")
COLORS = {"precopy": "tab:red", "auto-converge": "tab:orange", "postcopy": "tab:blue",
          "postcopy-preempt": "tab:green"}


def methods_arg(v):
    ms = [m.strip() for m in v.split(",") if m.strip()]
    bad = [m for m in ms if m not in METHODS]
    if bad or not ms or len(set(ms)) != len(ms):
        raise argparse.ArgumentTypeError(
            f"invalid --methods '{v}' (a list of {', '.join(METHODS)}, each once)")
    return ms


def method_args(a, method, vmm):
    """@a for one run: @method's capabilities on @vmm (kvmig or qemu)."""
    b = argparse.Namespace(**vars(a))
    b.qemu = vmm == "qemu"
    b.cap = list(a.cap) + (["auto-converge"] if method == "auto-converge" else [])
    b.postcopy = (a.postcopy or "1") if method.startswith("postcopy") else None
    b.postcopy_preempt = method == "postcopy-preempt"
    return b


def rotate(seq, n):
    n %= len(seq)
    return list(seq[n:]) + list(seq[:n])


def postcopy_bandwidth(params):
    """Bytes/s the part after the switch may use: max-postcopy-bandwidth if
    set (0 is unlimited), else max-bandwidth; None if neither is set."""
    bw = params.get("max-postcopy-bandwidth") or params.get("max-bandwidth")
    return bw if isinstance(bw, int) and bw > 0 else None


def result_text(s, max_time):
    if s.get("error"):
        return f"error: {s['error']}"
    if s["status"] == "completed":
        if s["total_time_ms"] is not None and s["total_time_ms"] / 1000 > max_time:
            return f"completed after {max_time:g} s"
        return "completed"
    if s["timed_out"]:
        return f"did not finish in {max_time:g} s"
    return f"{s['status']}: {s['error_desc']}" if s.get("error_desc") else f"{s['status']}"


def row_of(a, rnd, method, vmm, result, rdir):
    """The figures of one run, flat; the guest series for the plot."""
    s = result["summary"]
    g = s["guest_ms_per_gib"]
    pc = s.get("postcopy") or {}
    bw = postcopy_bandwidth(s["params"])
    cpu = s.get("cpu_s") or {}
    row = {
        "round": rnd, "method": method, "vmm": vmm, "accel": s["accel"],
        "version": s["version"], "dir": rdir,
        "status": s["status"], "timed_out": s["timed_out"],
        "completed": s["status"] == "completed" and s["total_time_ms"] is not None and
        s["total_time_ms"] / 1000 <= a.max_time,
        "result": result_text(s, a.max_time),
        "total_s": s["total_time_ms"] / 1000 if s["total_time_ms"] is not None else None,
        # completion (total-time), else the sample that saw it end
        "end_s": s["end_s"],
        "downtime_ms": s["downtime_ms"],
        "max_cpu_throttle_pct": s["max_cpu_throttle_pct"],
        "switch_s": pc.get("start_s"),
        "after_switch_s": pc.get("after_switch_s"),
        # the part after the switch against RAM / the bandwidth it may use
        "after_switch_per_ram_time": round(pc["after_switch_s"] /
                                           (benchlib.mem_bytes(a.mem) / bw), 3)
        if pc.get("after_switch_s") is not None and bw else None,
        "blocktime_ms": pc.get("postcopy-blocktime"),
        "vcpu_blocktime_ms": pc.get("postcopy-vcpu-blocktime"),
        "postcopy_requests": pc.get("requests"),
        "postcopy_bytes": pc.get("bytes"),
        "transferred_bytes": s["transferred_bytes"],
        "src_cpu_s": (cpu.get("src") or {}).get("total"),
        "src_vcpu_cpu_s": (cpu.get("src") or {}).get("vcpu"),
        "dst_cpu_s": (cpu.get("dst") or {}).get("total"),
        "dst_vcpu_cpu_s": (cpu.get("dst") or {}).get("vcpu"),
        "dst_status": cpu.get("dst_status"),
        "before_ms_per_gib": g["steady_before_median"],
        "before_entries": g["steady_before_entries"],
        "during_worst_ms_per_gib": g["during_worst"],
        "longest_gap_s": g["longest_gap_s"],
        "longest_gap_at_s": g["longest_gap_at_s"],
        "longest_gap_open": g["longest_gap_open"],
        "back_within_2x_s": g["back_within_2x_s"],
        "first_within_2x_s": g["first_within_2x_s"],
        "not_back": g.get("not_back", False),
        "worst_after_completion_ms_per_gib": g["worst_after_completion_ms_per_gib"],
        "guest": [[round(x["t"], 3), x["side"], x["ms_per_gib"]] for x in result["guest"]],
    }
    for k in ("src", "dst"):
        c = cpu.get(k)
        row[f"{k}_vmm_cpu_s"] = round(c["total"] - c["vcpu"], 2) if c else None
    return row


def error_row(a, rnd, method, vmm, err):
    b = method_args(a, method, vmm)
    return {"round": rnd, "method": method, "vmm": vmm,
            "accel": b.qemu_accel if b.qemu else b.accel, "status": "error",
            "completed": False, "result": f"error: {err}", "guest": []}


MEDIAN_KEYS = ("total_s", "downtime_ms", "switch_s", "after_switch_s",
               "after_switch_per_ram_time", "blocktime_ms", "src_cpu_s", "src_vmm_cpu_s",
               "dst_cpu_s", "dst_vmm_cpu_s", "before_ms_per_gib", "longest_gap_s",
               "back_within_2x_s", "first_within_2x_s")


def medians(methods, rows):
    """Per method and VMM: medians over the completed runs, or over all runs
    where none completed (the row says which)."""
    out = []
    for vmm in dict.fromkeys(r["vmm"] for r in rows):
        for method in methods:
            group = [r for r in rows if r["method"] == method and r["vmm"] == vmm]
            if not group:
                continue
            done = [r for r in group if r["completed"]]
            over = done or group
            m = {"method": method, "vmm": vmm, "accel": group[0]["accel"],
                 "runs": len(group), "completed": len(done),
                 "over": "completed runs" if done else "all runs (none completed)"}
            for k in MEDIAN_KEYS:
                m[k] = benchlib.med(over, k)
            # a run not back by the end of --post is slower than any that was
            backs = [math.inf if r.get("not_back") else r.get("back_within_2x_s")
                     for r in over]
            backs = [b for b in backs if b is not None]
            back = statistics.median(backs) if backs else None
            m["not_back"] = back == math.inf
            m["back_within_2x_s"] = None if m["not_back"] else back
            out.append(m)
    return out


def fmt(v, digits=1):
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def cpu_cell(total, vmm_only):
    return "-" if total is None else f"{total:.1f} ({fmt(vmm_only)})"


TABLE_HEAD = ("run", "method", "vmm (accel)", "result", "total s", "downtime ms",
              "switch s", "after switch s", "÷ RAM/bw", "blocktime ms",
              "src CPU s (VMM)", "dst CPU s (VMM)", "longest gap s", "back ≤2× s",
              "before ms/GiB")


def cell(text):
    """@text as one markdown table cell (a VMM's error may hold | or lines)."""
    return " ".join(str(text).split()).replace("|", "\\|")


def table_row(label, r, result):
    gap = fmt(r.get("longest_gap_s"), 2)
    if r.get("longest_gap_open"):
        gap = f"≥{gap} (open)"
    return (label, r["method"], f"{r['vmm']} ({r['accel']})", cell(result),
            fmt(r.get("total_s")),
            fmt(r.get("downtime_ms"), 0), fmt(r.get("switch_s")),
            fmt(r.get("after_switch_s"), 2), fmt(r.get("after_switch_per_ram_time"), 2),
            fmt(r.get("blocktime_ms"), 0), cpu_cell(r.get("src_cpu_s"), r.get("src_vmm_cpu_s")),
            cpu_cell(r.get("dst_cpu_s"), r.get("dst_vmm_cpu_s")), gap,
            back_cell(r), fmt(r.get("before_ms_per_gib"), 0))


def back_cell(r):
    if r.get("back_within_2x_s") is None and not r.get("not_back"):
        return "-"
    back = "not back" if r.get("not_back") else fmt(r.get("back_within_2x_s"), 2)
    return f"{back} ({fmt(r.get('first_within_2x_s'), 2)})"


def table(data):
    rows, meds = data["runs"], data["medians"]
    cfg = data["config"]
    bw = postcopy_bandwidth(cfg["params"])
    lines = [f"guestperf --methods: {cfg['mem']} smp {cfg['smp']} '{cfg['workload']}', "
             f"params {cfg['params'] or 'none'}, caps {cfg['caps'] or 'none'}, "
             + (f"kvmig destination params {cfg['dst_params']}, " if cfg.get("dst_params") else "")
             + f"postcopy switch at {cfg['postcopy']}, max-time {cfg['max_time_s']:g} s, "
             f"{cfg['runs']} rounds (method order rotating)", ""]
    lines += [f"{n}" for n in data["notes"]] + [""]
    lines.append("| " + " | ".join(TABLE_HEAD) + " |")
    lines.append("|" + "|".join("---" for _ in TABLE_HEAD) + "|")
    for r in rows:
        lines.append("| " + " | ".join(table_row(str(r["round"]), r, r["result"])) + " |")
    for m in meds:
        res = (f"completed {m['completed']}/{m['runs']}" if m["completed"]
               else f"none of {m['runs']} completed")
        lines.append("| " + " | ".join(table_row(f"**median** ({m['over']})", m, res)) + " |")
    lines += ["",
              "total: the source's total-time; switch: migrate-start-postcopy, s after "
              "migrate; after switch: from it to total-time; ÷ RAM/bw: that over "
              f"RAM ÷ {'%d B/s' % bw if bw else '(no bandwidth set)'} "
              "(max-postcopy-bandwidth, else max-bandwidth); blocktime: the "
              "destination's postcopy-blocktime; CPU: utime+stime of each VMM process "
              "from migrate to its side's end (in brackets without its vCPU threads, "
              "which run the guest); longest gap: between two progress entries (S "
              "lines; pagewalk: polls that saw a B), overlapping the migration; back "
              "≤2×: completion to the first entry on the destination within 2× 'before' "
              "(the steady pre-migration median, first-touch lines left out) after the "
              "last one above it, within --post; in brackets to the first within 2×."]
    return "\n".join(lines) + "\n"


def plot_methods(data, path):
    plt = load_plt()
    rows = data["runs"]
    cfg = data["config"]
    # the whole runs, and, where the fastest method's completed runs end much
    # earlier (precopy may run for minutes), a second panel up to those
    spans = [None]
    full = max((p[0] for r in rows for p in r["guest"]), default=0.0)
    ends = {}
    for r in rows:
        if r["completed"]:
            ends[r["method"], r["vmm"]] = max(ends.get((r["method"], r["vmm"]), 0.0),
                                              r["total_s"] + cfg["post_s"])
    if ends and min(ends.values()) < 0.6 * full:
        spans.append(min(ends.values()))
    fig, axes = plt.subplots(len(spans), 1, figsize=(14, 5.5 * len(spans)), squeeze=False)
    styles = {"kvmig": "-", "qemu": "--"}
    marks = "o^sDvP*X"
    walk = workload_name(argparse.Namespace(workload=cfg["workload"])) == "pagewalk"
    bases = [r["before_ms_per_gib"] for r in rows if r.get("before_ms_per_gib")]
    for ax, xmax in zip([x[0] for x in axes], spans):
        for r in rows:
            pts = sorted((p[0], p[2]) for p in r["guest"] if xmax is None or p[0] <= xmax)
            color = COLORS[r["method"]]
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], styles[r["vmm"]],
                        marker=marks[(r["round"] - 1) % len(marks)], color=color,
                        markersize=2.5, linewidth=0.7, alpha=0.8)
            if r.get("switch_s") is not None:
                ax.axvline(r["switch_s"], color=color, linestyle=":", linewidth=1)
            if r.get("end_s") is not None:
                ax.axvline(r["end_s"], color=color, linewidth=1.2,
                           linestyle="-" if r["status"] == "completed" else "-.")
        # the legend: one entry per method and VMM with its runs' results
        for m in data["medians"]:
            res = [r["result"] for r in rows
                   if r["method"] == m["method"] and r["vmm"] == m["vmm"]]
            shown = "; ".join(f"{n}× {t}" for t, n in
                              ((t, res.count(t)) for t in dict.fromkeys(res)))
            ax.plot([], [], styles[m["vmm"]], color=COLORS[m["method"]],
                    label=f"{m['method']}, {m['vmm']} ({m['accel']}): {shown}")
        for i in range(min(cfg["runs"], len(marks))):
            ax.plot([], [], linestyle="none", marker=marks[i], color="0.3", markersize=3,
                    label=f"round {i + 1}")
        if bases:
            ax.axhline(2 * statistics.median(bases), color="0.4", linestyle="--",
                       linewidth=0.8, label="2 × pre-migration median (all runs)")
        ax.axvline(0, color="black", linewidth=0.8)
        ax.plot([], [], ":", color="0.3", label="switch to postcopy")
        ax.plot([], [], "-", color="0.3", label="completed")
        ax.plot([], [], "-.", color="0.3", label="ended otherwise (cancelled, failed)")
        if any(r["guest"] for r in rows):
            ax.set_yscale("log")
        else:
            ax.text(0.5, 0.5, "no progress entries in any run", transform=ax.transAxes,
                    ha="center")
        ax.set_xlabel("time from migrate (s)")
        ax.set_ylabel("pagewalk: ms per GiB walked, host clock (log)" if walk
                      else "guest ms per GiB written (log)")
        if xmax is not None:
            ax.set_xlim(right=xmax)
            ax.set_title(f"the first {xmax:.0f} s: up to the fastest method's last "
                         "completion + --post", fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    axes[0][0].set_title(
        f"{cfg['mem']} smp {cfg['smp']} '{cfg['workload']}' "
        f"{' '.join(f'{k}={v}' for k, v in cfg['params'].items())}, postcopy switch at "
        f"{cfg['postcopy']}, {cfg['runs']} rounds\n" + "; ".join(data["notes"]), fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_methods(outdir, data):
    with open(os.path.join(outdir, "methods.json"), "w") as f:
        json.dump(data, f, indent=1)
    with open(os.path.join(outdir, "methods.md"), "w") as f:
        f.write(table(data))


def run_methods(a):
    os.makedirs(a.output, exist_ok=True)
    vmms = ["kvmig", "qemu"] if a.qemu else ["kvmig"]
    notes = []
    if a.qemu:
        notes.append(benchlib.accel_note(a.accel, a.qemu_accel).lstrip("# "))
    if a.smp > 1 and (guest_vcpus(a) < a.smp or a.qemu):
        notes.append(f"the guest ELF (kvm, QEMU) runs the workload on vCPU 0 only; "
                     f"-accel thread on all {a.smp}")
    if a.qemu and not (a.postcopy or "").endswith("s"):
        notes.append("--postcopy N counts each VMM's dirty-sync-count: QEMU's is 1 from "
                     "its setup sync, kvmig's 0 until its first pass ends, so they switch "
                     "one pass apart (--postcopy Ts switches both at T)")
    data = {"config": {"mem": a.mem, "smp": a.smp, "workload": a.workload,
                       "accel": a.accel, "qemu_accel": a.qemu_accel if a.qemu else None,
                       "caps": a.cap, "params": dict(benchlib.parse_param(p) for p in a.param),
                       "dst_params": dict(benchlib.parse_param(p) for p in a.dst_param),
                       "postcopy": a.postcopy or "1", "methods": a.methods,
                       "runs": a.runs, "max_time_s": a.max_time, "post_s": a.post,
                       "warmup_s": a.warmup},
            "notes": notes, "runs": [], "medians": []}
    for rnd in range(1, a.runs + 1):
        for method in rotate(a.methods, rnd - 1):
            for vmm in rotate(vmms, rnd - 1):
                b = method_args(a, method, vmm)
                rdir = os.path.join(a.output, "runs", f"{rnd}-{method}-{vmm}")
                print(f"# round {rnd}/{a.runs}: {method} on {vmm} "
                      f"({b.qemu_accel if b.qemu else b.accel})", file=sys.stderr, flush=True)
                try:
                    result = migrate_once(b)
                    write_run(result, rdir)
                    row = row_of(a, rnd, method, vmm, result, rdir)
                except Exception as e:   # noqa: BLE001
                    # whatever broke one run is that run's row, never a gap
                    row = error_row(a, rnd, method, vmm, f"{type(e).__name__}: {e}")
                print(f"#   {row['result']}, total {fmt(row.get('total_s'))} s",
                      file=sys.stderr, flush=True)
                data["runs"].append(row)
                data["medians"] = medians(a.methods, data["runs"])
                write_methods(a.output, data)
    return replot(a.output, data)


def replot(outdir, data=None):
    """Table and picture of a --methods result (DIR/methods.json)."""
    if data is None:
        with open(os.path.join(outdir, "methods.json")) as f:
            data = json.load(f)
        data["medians"] = medians(data["config"]["methods"], data["runs"])
        write_methods(outdir, data)
    plot_methods(data, os.path.join(outdir, "methods.png"))
    print(table(data), end="")
    print(f"wrote {os.path.join(outdir, 'methods.md')}, methods.json, methods.png")
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mem", default="1G")
    ap.add_argument("--workload", default="stress")
    ap.add_argument("--smp", type=int, default=1)
    ap.add_argument("--accel", default="thread", type=accel_arg,
                    help="kvm, thread, or thread,dirty=uffd|soft (the thread "
                         "accelerator's dirty log; passed through to -accel)")
    ap.add_argument("--cap", action="append", default=[], metavar="NAME")
    ap.add_argument("--param", action="append", default=[], metavar="NAME=VALUE")
    ap.add_argument("--dst-param", action="append", default=[], metavar="NAME=VALUE",
                    help="a parameter set on kvmig's destination (not on QEMU's), "
                         "e.g. x-postcopy-request-window=1")
    ap.add_argument("--qemu", action="store_true",
                    help="run qemu-system-x86_64 with the guest ELF instead (-accel kvm "
                         "with --accel kvm where /dev/kvm opens, else tcg)")
    ap.add_argument("--output", help="result directory")
    ap.add_argument("--compare", nargs=2, metavar=("DIR1", "DIR2"))
    ap.add_argument("--warmup", type=float, default=5.0, help="seconds before migrating")
    ap.add_argument("--max-time", type=float, default=300.0,
                    help="cancel a migration still running after this many seconds")
    ap.add_argument("--post", type=float, default=5.0,
                    help="seconds to watch the guest on the destination")
    ap.add_argument("--postcopy", metavar="N|Ts",
                    help="switch to postcopy after N dirty syncs, or at T seconds")
    ap.add_argument("--postcopy-preempt", action="store_true",
                    help="postcopy with postcopy-preempt (implies --postcopy 1)")
    ap.add_argument("--methods", type=methods_arg, metavar="M,M,...",
                    help="migrate the same guest once per method and round "
                         f"({', '.join(METHODS)}); with --qemu each on kvmig and on QEMU")
    ap.add_argument("--replot", metavar="DIR",
                    help="redraw DIR/methods.png and methods.md from DIR/methods.json")
    ap.add_argument("--runs", type=int, default=3,
                    help="--methods: rounds; the method order rotates each round")
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--kvmig")
    ap.add_argument("--guest-elf")
    ap.add_argument("--qemu-binary", default="qemu-system-x86_64")
    a = ap.parse_args()
    if a.methods:
        if a.postcopy_preempt:
            ap.error("--methods: postcopy-preempt is a method, not an option")
        clash = [c for c in a.cap if c in METHOD_CAPS]
        if clash:
            ap.error(f"--methods: the methods set {', '.join(clash)}, not --cap")
        if a.runs < 1:
            ap.error("--runs must be at least 1")
    if a.postcopy_preempt and not a.postcopy:
        a.postcopy = "1"
    if a.postcopy and not (a.postcopy.endswith("s") or a.postcopy.isdigit()):
        ap.error(f"--postcopy {a.postcopy}: expected a number of syncs or seconds (e.g. 2.5s)")
    # before any run: the plots at its end need matplotlib
    benchlib.need_debian_python("matplotlib")
    if a.compare:
        return compare(a.compare, a.output or ".")
    if a.replot:
        return replot(a.replot)
    if not a.output:
        ap.error("--output DIR is required")
    a.kvmig = a.kvmig or os.path.join(a.build, "kvmig")
    a.qemu_accel = benchlib.qemu_accel_for(a.accel)
    if a.qemu:
        print(benchlib.accel_note(a.accel, a.qemu_accel), file=sys.stderr)
    a.guest_elf = a.guest_elf or os.path.join(a.build, "guest", "kvmig-guest.elf")
    if a.qemu:
        if not shutil.which(a.qemu_binary):
            ap.error(f"{a.qemu_binary} not found")
        if not os.path.exists(a.guest_elf):
            ap.error(f"{a.guest_elf} not found (build first, or --guest-elf)")
    if (not a.qemu or a.methods) and not os.path.exists(a.kvmig):
        ap.error(f"{a.kvmig} not found (build first, or --build/--kvmig)")
    if a.methods:
        # both sides hold all of RAM by the end, and the machine is shared
        need = 2 * benchlib.mem_bytes(a.mem) + (1 << 30)
        if benchlib.mem_available() < need:
            ap.error(f"--mem {a.mem}: {need >> 20} MiB needed (two guests and 1 GiB), "
                     f"{benchlib.mem_available() >> 20} MiB available")
        return run_methods(a)
    return run(a)


if __name__ == "__main__":
    sys.exit(main())
