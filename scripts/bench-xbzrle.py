#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Benchmark: migrate a warmed-up pagewalk guest over a unix socket with
xbzrle on, then off (or only the variants asked for), until completion;
print one JSON line per migration with the xbzrle-cache counters, the
share of re-sent pages that went as XBZRLE records, the bulk pass time,
and the destination's pagewalk invariant.

usage: scripts/bench-xbzrle.py [--build DIR] [--mem 1G] [--cache 512M]
           [--bandwidth BYTES/S (0: unlimited; default: kvmig's default)]
           [--variants on,off] [--runs 1] [--paused] [--qemu] [--sample S]

--paused stops the guest before migrating: the migration is then the bulk
pass alone (every page sent once), which is what the bulk pass's cost
under xbzrle is measured with.  --qemu runs qemu-system-x86_64 (-accel kvm iff --accel kvm, else tcg)
instead (same guest ELF, same parameters).  --sample S: a migration still
running after S seconds is reported as it stands and cancelled.

Re-sent pages: after the bulk pass every non-zero dirty page is a cache hit
(xbzrle pages) or a miss (cache-miss); hits that overflowed went as PAGE
records.  XBZRLE share = (pages - overflow) / (pages + cache-miss); pages
whose delta was empty are in it (nothing was sent for them).
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
from framework import VM, check_pagewalk_invariant  # noqa: E402
from benchlib import accel_note, add_accel_arg, qemu_accel_for  # noqa: E402


def size_bytes(s):
    units = {"K": 10, "M": 20, "G": 30}
    return int(s[:-1]) << units[s[-1].upper()] if s[-1].upper() in units else int(s)


class QemuVM(VM):
    """The framework's VM, started as qemu-system-x86_64 -accel ACCEL."""

    def __init__(self, qemu, guest, tmpdir, name, mem, append, incoming=None,
                 accel="tcg"):
        self.name = name
        self.dir = tmpdir
        self.qmp_path = os.path.join(tmpdir, f"{name}.qmp")
        self.serial = os.path.join(tmpdir, f"{name}.log")
        self.errlog = os.path.join(tmpdir, f"{name}.err")
        self.mem = mem
        args = [qemu, "-accel", accel, "-m", mem, "-display", "none", "-kernel", guest,
                "-append", append, "-serial", f"file:{self.serial}",
                "-qmp", f"unix:{self.qmp_path},server=on,wait=off"]
        if incoming:
            args += ["-incoming", incoming]
        self.err = open(self.errlog, "wb")
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=self.err)
        self.qmp = None


def start(a, d, name, incoming=None):
    if a.qemu:
        return QemuVM(a.qemu_bin, a.guest, d, name, a.mem, "workload=pagewalk",
                      incoming, a.qemu_accel).connect()
    return VM(a.kvmig, d, name, accel=a.accel, mem=a.mem, incoming=incoming).connect()


def one_run(a, xbzrle):
    d = tempfile.mkdtemp(prefix="bench-xbzrle-")
    uri = f"unix:{d}/mig.sock"
    mem = size_bytes(a.mem)
    npages = mem // 4096
    src = dst = None
    try:
        src = start(a, d, "src")
        dst = start(a, d, "dst", incoming=uri)
        src.wait_serial_count("B", a.warmup, timeout=600)
        src.qmp.command("migrate-set-capabilities",
                        capabilities=[{"capability": "xbzrle", "state": xbzrle}])
        params = {"xbzrle-cache-size": size_bytes(a.cache)}
        if a.bandwidth is not None:
            params["max-bandwidth"] = a.bandwidth
        src.qmp.command("migrate-set-parameters", **params)
        if a.paused:
            src.qmp.command("stop")
        t0 = time.monotonic()
        src.qmp.command("migrate", uri=uri)
        bulk_s = None
        while True:
            info = src.qmp.command("query-migrate")
            st = info.get("status")
            ram = info.get("ram", {})
            if bulk_s is None and ram and ram["normal"] + ram["duplicate"] >= npages:
                bulk_s = time.monotonic() - t0
            if st in ("completed", "failed", "cancelled"):
                break
            if a.sample and time.monotonic() - t0 > a.sample:
                break
            if time.monotonic() - t0 > a.timeout:
                raise RuntimeError(f"migration still {st}: {info}")
            time.sleep(0.05)
        sampled = st != "completed" and a.sample
        if sampled:
            src.qmp.command("migrate_cancel")
        elif st != "completed":
            raise RuntimeError(f"migration {st}: {info.get('error-desc')}")
        ram = info["ram"]
        row = {
            "vmm": "qemu" if a.qemu else "kvmig", "xbzrle": xbzrle, "mem": a.mem,
            "accel": a.qemu_accel if a.qemu else a.accel,
            "cache": a.cache, "paused": a.paused,
            "max_bandwidth": a.bandwidth if a.bandwidth is not None else "default",
            "status": st if not sampled else f"{st} after {a.sample} s, cancelled",
            "total_ms": info.get("total-time"), "downtime_ms": info.get("downtime"),
            "bulk_pass_s_approx": round(bulk_s, 2) if bulk_s else None,
            "transferred": ram["transferred"], "transferred_mib": ram["transferred"] >> 20,
            "normal": ram["normal"], "duplicate": ram["duplicate"],
            "dirty_sync_count": ram["dirty-sync-count"],
            "pages_per_second": ram.get("pages-per-second"),
        }
        x = info.get("xbzrle-cache")
        if x:
            row["xbzrle_cache"] = x
            sent_as_xbzrle = x["pages"] - x["overflow"]
            row["xbzrle_avg_bytes_per_record"] = round(x["bytes"] / max(1, sent_as_xbzrle), 2) \
                if not x["overflow"] else None
            row["xbzrle_share_of_resent"] = round(sent_as_xbzrle /
                                                  max(1, x["pages"] + x["cache-miss"]), 4)
        if sampled:
            return row
        # the destination: the walker runs on, then its memory holds the invariant
        if not a.paused:
            n = dst.serial_text().count("B")
            dst.wait_serial_count("B", n + 1, timeout=600)
        dst.qmp.command("stop")
        path = os.path.join(d, "dst.mem")
        dst.qmp.command("pmemsave", val=0, size=mem, filename=path)
        with open(path, "rb") as f:
            first, steps = check_pagewalk_invariant(f.read())
        row["dst_invariant"] = f"ok (first byte {first}, {steps} step)"
        return row
    finally:
        for v in (src, dst):
            if v:
                v.kill()
        shutil.rmtree(d, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=os.path.join(HERE, "..", "build"))
    ap.add_argument("--mem", default="1G")
    ap.add_argument("--cache", default="512M")
    ap.add_argument("--bandwidth", type=int, default=None)
    ap.add_argument("--variants", default="on,off")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--warmup", type=int, default=2, help="pagewalk laps before migrating")
    ap.add_argument("--paused", action="store_true")
    ap.add_argument("--qemu", action="store_true")
    ap.add_argument("--qemu-bin", default="qemu-system-x86_64")
    ap.add_argument("--timeout", type=float, default=900)
    ap.add_argument("--sample", type=float, default=0,
                    help="s after which an unfinished migration is sampled and cancelled")
    add_accel_arg(ap)
    a = ap.parse_args()
    a.qemu_accel = qemu_accel_for(a.accel)
    print("# " + accel_note(a.accel, a.qemu_accel).lstrip("# "), file=sys.stderr)
    a.kvmig = os.path.join(a.build, "kvmig")
    a.guest = os.path.join(a.build, "guest", "kvmig-guest.elf")
    for _ in range(a.runs):
        for v in a.variants.split(","):
            print(json.dumps(one_run(a, v == "on")), flush=True)


if __name__ == "__main__":
    main()
