#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Benchmark: raw vs compress vs multifd (none/zlib/zstd/lz4), kvmig and QEMU 7.2.

usage: scripts/bench-compress.py [--build DIR] [--mem 4G] [--runs 1]
           [--bandwidth 125M,unlimited] [--only raw,compress,...] [--no-qemu] [--json]
           [--kvmig-b PATH]

The guest is the project's ELF with `-append 'workload=fill size=512M
ratio=3'` (512 MiB of data that zlib level 1 compresses about 3:1, the rest
of RAM never touched), booted by kvmig (--accel, thread by default) and by
qemu-system-x86_64 (-kernel; -accel kvm iff --accel is kvm, else tcg); the migration starts once the
guest printed `F` on its serial port.  Both destinations start with
`-incoming defer`, get the same capabilities and parameters as their
source, then `migrate-incoming` (QEMU requires that order for multifd).

Rows (--only picks some): raw, compress (QEMU's compress capability, its
default parameters: 8 threads, level 1, 2 decompress threads, wait on),
multifd-none, multifd-zlib, multifd-zstd (multifd with default channels and
levels), multifd-lz4 (kvmig only: QEMU 7.2 has no lz4).  Each row runs at
each --bandwidth: a max-bandwidth in bytes/s (K/M/G suffixes are decimal:
125M = 125,000,000 B/s, 1 GbE) or `unlimited` (max-bandwidth 100 GB/s; QEMU's
default would be 32 MiB/s).  downtime-limit stays at each VMM's default.

Measured per migration: total-time and downtime (what the source reports,
ms), bytes (ram transferred), and the CPU seconds (utime + stime from
/proc/PID/stat) the source and destination processes used between the
migrate command and the end (for the destination: until it reports
running).  Runs are interleaved kvmig, QEMU, kvmig, QEMU ... row by row
and --runs rounds are taken; the table shows medians and, per VMM and
bandwidth, the ratios to that VMM's raw row (time: raw / row, higher is
better; bytes: row / raw), and kvmig vs QEMU on the same row (QEMU's total
time / kvmig's).  --json prints one JSON line per migration and per
median instead of the table.

--kvmig-b PATH adds a second kvmig binary (vmm "kvmig-b", e.g. a build
of another commit) run right after kvmig on every row and round, so a
change is measured before/after, interleaved, in one run (the ratio
column then also shows kvmig-b's total time / kvmig's).

Python standard library only; the QMP client is tests/migration/qmp.py.
"""
import argparse
import json
import os
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "migration"))
import benchlib  # noqa: E402
from benchlib import (accel_note, add_accel_arg, add_vmm_args, qemu_accel_for, med, mem_available, mem_bytes,  # noqa: E402
                      ratio)

ROWS = ["raw", "compress", "multifd-none", "multifd-zlib", "multifd-zstd", "multifd-lz4"]
QEMU_ROWS = ["raw", "compress", "multifd-none", "multifd-zlib", "multifd-zstd"]
UNLIMITED = 100 * 1000 * 1000 * 1000
Side = benchlib.Side


def vmm_args(vmm, a):
    append = f"workload=fill size={a.fill} ratio={a.ratio}"
    if vmm == "qemu":
        return [a.qemu, "-accel", a.qemu_accel, "-m", a.mem, "-kernel", a.guest, "-append", append,
                "-nodefaults"]
    binary = a.kvmig_b if vmm == "kvmig-b" else a.kvmig
    return [binary, "-accel", a.accel, "-m", a.mem, "-append", append]


def row_settings(row):
    """(capabilities, parameters) for a row, the same on both sides."""
    if row == "raw":
        return [], {}
    if row == "compress":
        return ["compress"], {}
    method = row.split("-", 1)[1]
    return ["multifd"], {"multifd-compression": method}


def one_run(vmm, row, bw, a):
    d = tempfile.mkdtemp(prefix="bench-compress-")
    uri = f"unix:{d}/mig.sock"
    src = dst = None
    caps, params = row_settings(row)
    try:
        src = Side(vmm_args(vmm, a), d, "src")
        dst = Side(vmm_args(vmm, a), d, "dst", incoming="defer")
        deadline = time.monotonic() + a.fill_timeout
        while not src.serial_has("F"):
            if src.proc.poll() is not None:
                raise RuntimeError(f"{vmm} source exited: {src.stderr()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{vmm}: no F on the serial after {a.fill_timeout} s")
            time.sleep(0.05)
        capl = [{"capability": c, "state": True} for c in caps]
        for side in (src, dst):
            if capl:
                side.qmp.command("migrate-set-capabilities", capabilities=capl)
            if params:
                side.qmp.command("migrate-set-parameters", **params)
        src.qmp.command("migrate-set-parameters", **{"max-bandwidth": bw})
        dst.qmp.command("migrate-incoming", uri=uri)
        time.sleep(0.2)     # the destination listens
        info, src_cpu, dst_cpu = benchlib.migrate_measured(src, dst, uri, f"{vmm} {row}",
                                                           a.timeout)
        return {
            "bench": "compress", "vmm": vmm, "row": row,
            "accel": a.qemu_accel if vmm == "qemu" else a.accel,
            "bandwidth": "unlimited" if bw == UNLIMITED else bw, "mem": a.mem,
            "total_ms": benchlib.check_completed(info, f"{vmm} {row}")["total-time"],
            "downtime_ms": info["downtime"],
            "bytes": info["ram"]["transferred"],
            "src_cpu_s": round(src_cpu, 2), "dst_cpu_s": round(dst_cpu, 2),
            "compression": info.get("compression"),
        }
    finally:
        for p in (src, dst):
            if p:
                p.kill()
        shutil.rmtree(d, ignore_errors=True)


def fmt(v, nd=0):
    if v is None:
        return "-"
    return f"{v:.{nd}f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_vmm_args(ap)
    ap.add_argument("--mem", default="4G")
    ap.add_argument("--fill", default="512M", help="the fill workload's size")
    ap.add_argument("--ratio", default="3", help="the fill workload's ratio")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--bandwidth", default="125M,unlimited",
                    help="comma-separated: bytes/s (decimal suffixes) or unlimited")
    ap.add_argument("--only", help="comma-separated rows: " + ",".join(ROWS))
    ap.add_argument("--no-qemu", action="store_true")
    ap.add_argument("--json", action="store_true", help="JSON lines only")
    ap.add_argument("--fill-timeout", type=float, default=300)
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--kvmig-b", help="a second kvmig binary, run interleaved with kvmig")
    add_accel_arg(ap)
    a = ap.parse_args()
    a.qemu_accel = qemu_accel_for(a.accel)
    if not a.json:
        print(accel_note(a.accel, a.qemu_accel), flush=True)
    a.kvmig = a.kvmig or os.path.join(a.build, "kvmig")
    a.guest = a.guest or os.path.join(a.build, "guest", "kvmig-guest.elf")
    rows = a.only.split(",") if a.only else ROWS
    for r in rows:
        if r not in ROWS:
            ap.error(f"unknown row {r}; rows: {','.join(ROWS)}")
    bws = [parse_bandwidth(b) for b in a.bandwidth.split(",")]
    with_qemu = not a.no_qemu and shutil.which(a.qemu)
    if not a.no_qemu and not with_qemu:
        print(f"# {a.qemu} not found: kvmig only", file=sys.stderr)
    if with_qemu and mem_available() < 2.5 * mem_bytes(a.fill) + (1 << 30):
        print("# not enough memory available for QEMU too: kvmig only", file=sys.stderr)
        with_qemu = False

    results = {}
    for run in range(a.runs):
        for bw in bws:
            for row in rows:
                vmms = (["kvmig"] + (["kvmig-b"] if a.kvmig_b else []) +
                        (["qemu"] if with_qemu and row in QEMU_ROWS else []))
                for vmm in vmms:
                    try:
                        r = one_run(vmm, row, bw, a)
                    except RuntimeError as e:
                        r = {"bench": "compress", "vmm": vmm, "row": row,
                             "bandwidth": "unlimited" if bw == UNLIMITED else bw,
                             "error": str(e)}
                    r["run"] = run + 1
                    results.setdefault((vmm, row, bw), []).append(r)
                    if a.json:
                        print(json.dumps(r), flush=True)
                    else:
                        print("# " + json.dumps(r), file=sys.stderr, flush=True)

    summary = {}
    for key, rs in results.items():
        ok = [r for r in rs if "error" not in r]
        summary[key] = {k: med(ok, k) for k in ("total_ms", "downtime_ms", "bytes",
                                                 "src_cpu_s", "dst_cpu_s")}
        summary[key]["ok"] = len(ok)
        summary[key]["errors"] = sorted({r["error"] for r in rs if "error" in r})
    for (vmm, row, bw), s in summary.items():
        raw = summary.get((vmm, "raw", bw))
        s["time_vs_raw"] = ratio(raw and raw["total_ms"], s["total_ms"])
        s["bytes_vs_raw"] = ratio(s["bytes"], raw and raw["bytes"])
        if vmm == "kvmig":
            q = summary.get(("qemu", row, bw))
            s["qemu_time_ratio"] = ratio(q and q["total_ms"], s["total_ms"])
            b = summary.get(("kvmig-b", row, bw))
            if b:
                s["kvmig_b_time_ratio"] = ratio(b["total_ms"], s["total_ms"])

    if a.json:
        for (vmm, row, bw), s in summary.items():
            print(json.dumps({"bench": "compress-summary", "vmm": vmm, "row": row,
                              "bandwidth": "unlimited" if bw == UNLIMITED else bw,
                              "mem": a.mem, "runs": a.runs, **s}))
        return
    print(f"fill {a.fill} ratio {a.ratio} guest of {a.mem}, {a.runs} run(s), medians")
    print(f"{'vmm':<7} {'row':<13} {'bandwidth':>10} {'total ms':>9} {'down ms':>8} "
          f"{'bytes':>11} {'src cpu s':>9} {'dst cpu s':>9} {'time/raw':>9} "
          f"{'bytes/raw':>9} {'qemu/kvmig':>10}" + (" kvmig-b/kvmig" if a.kvmig_b else ""))
    for bw in bws:
        for row in rows:
            for vmm in ("kvmig", "kvmig-b", "qemu"):
                s = summary.get((vmm, row, bw))
                if not s:
                    continue
                bws_ = "unlimited" if bw == UNLIMITED else f"{bw / 1e6:g}M"
                if not s["ok"]:
                    print(f"{vmm:<7} {row:<13} {bws_:>10}  error: {s['errors'][0][:80]}")
                    continue
                print(f"{vmm:<7} {row:<13} {bws_:>10} {fmt(s['total_ms']):>9} "
                      f"{fmt(s['downtime_ms']):>8} {fmt(s['bytes']):>11} "
                      f"{fmt(s['src_cpu_s'], 2):>9} {fmt(s['dst_cpu_s'], 2):>9} "
                      f"{fmt(s['time_vs_raw'], 2):>9} {fmt(s['bytes_vs_raw'], 3):>9} "
                      f"{fmt(s.get('qemu_time_ratio'), 2):>10}"
                      + (f" {fmt(s.get('kvmig_b_time_ratio'), 2):>13}" if a.kvmig_b else ""))


if __name__ == "__main__":
    main()
