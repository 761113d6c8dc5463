#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""migration-test, compress: a paused fill guest arrives byte for byte with
its pages as COMPRESS_PAGE records (also with compress-wait-thread off and
one worker, where busy pages go raw); a running pagewalk guest keeps its
invariant; a compressed file: stream read by scripts/analyze-migration.py
(Python's zlib) gives back the guest's RAM; the counters show in
query-migrate and `info migrate`.

usage: test-compress.py KVMIG ACCEL [CASE...]
ACCEL thread runs 256 MiB guests filled 64 MiB; kvm runs 128 MiB guests filled
16 MiB (guest stores trap on a nested KVM host) and exits 77
(skip) with the reason when /dev/kvm cannot be opened.
"""
import os
import subprocess
import sys
import time

from framework import (compare_paused_memory, main, VM, TestDir, check_pagewalk_invariant, converge, query,
                       set_params, wait_migration)

KVMIG = sys.argv[1]
ACCEL = sys.argv[2]
MEM = "256M" if ACCEL == "thread" else "128M"
MEM_BYTES = int(MEM[:-1]) << 20
# Under nested KVM every guest store traps (~1.3 MB/s of fill): 16 MiB there.
FILL_BYTES = (64 << 20) if ACCEL == "thread" else (16 << 20)
FILL = f"workload=fill size={FILL_BYTES >> 20}M ratio=3"
COMPRESSION_KEYS = {"pages", "busy", "busy-rate", "compressed-size", "compression-rate"}
ANALYZE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts",
                       "analyze-migration.py")
HMP_LINES = ("compression pages: ", "compression busy: ", "compression busy rate: ",
             "compressed size: ", "compression rate: ")


def vm(d, name, **kw):
    kw.setdefault("accel", ACCEL)
    kw.setdefault("mem", MEM)
    return VM(KVMIG, d, name, **kw).connect()


def hmp(v, line):
    return v.qmp.command("human-monitor-command", **{"command-line": line})


def enable(v, **params):
    v.qmp.command("migrate-set-capabilities",
                  capabilities=[{"capability": "compress", "state": True},
                                {"capability": "events", "state": True}])
    if params:
        set_params(v, **params)


def compression(info):
    c = info.get("compression")
    if c is None:
        raise AssertionError(f"no compression in query-migrate: {info}")
    if set(c) != COMPRESSION_KEYS:
        raise AssertionError(f"compression members {sorted(c)}")
    return c


def completed(info):
    if info["status"] != "completed":
        raise AssertionError(f"migration {info['status']}: {info.get('error-desc')}")
    return info


def report(info, label):
    c, ram = info["compression"], info["ram"]
    print(f"  {label}: transferred {ram['transferred'] >> 20} MiB, normal {ram['normal']}, "
          f"duplicate {ram['duplicate']}, compression pages {c['pages']}, busy {c['busy']}, "
          f"compressed-size {c['compressed-size'] >> 10} KiB, "
          f"rate {c['compression-rate']:.2f}, downtime {info['downtime']} ms", flush=True)


def compare_memory(src, dst, d):
    compare_paused_memory(src, dst, d, MEM_BYTES)


def paused_fill(label, **params):
    """A fill guest, paused, migrated with compress: byte-exact; returns query-migrate."""
    with TestDir() as d:
        src = vm(d, "src", append=FILL)
        dst = vm(d, "dst", append=FILL, incoming=f"unix:{d}/mig.sock")
        try:
            src.wait_serial_count("F", 1, timeout=120)
            src.qmp.command("stop")
            enable(src, **params)
            enable(dst, **{k: v for k, v in params.items() if k == "decompress_threads"})
            src.qmp.command("migrate", uri=f"unix:{d}/mig.sock")
            info = completed(wait_migration(src))
            report(info, label)
            compare_memory(src, dst, d)
            return info, hmp(src, "info migrate")
        finally:
            src.kill()
            dst.kill()


def case_paused_exact():
    """Paused fill guest, default parameters: byte-exact, the fill data really
    compressed (ratio about 3: well under half a page per page)."""
    info, text = paused_fill(f"{MEM} {ACCEL} paused")
    c = compression(info)
    pages = FILL_BYTES >> 12
    if c["pages"] < pages // 2:
        raise AssertionError(f"only {c['pages']} of ~{pages} fill pages compressed: {c}")
    if c["busy"] != 0:
        raise AssertionError(f"busy pages with compress-wait-thread on: {c}")
    if c["compressed-size"] > c["pages"] * 4096 // 2 or c["compression-rate"] < 2:
        raise AssertionError(f"fill data did not compress: {c}")
    if info["ram"]["transferred"] > FILL_BYTES * 6 // 10:
        raise AssertionError(f"{info['ram']['transferred']} bytes for {FILL_BYTES >> 20} MiB "
                             "of 3:1 data")
    for line in HMP_LINES:
        if line not in text:
            raise AssertionError(f"'{line}' not in info migrate:\n{text}")


def case_nowait_exact():
    """compress-wait-thread off with one worker and level 9: pages that find
    it busy go raw (counted in busy), the guest still arrives byte for byte;
    one decompress worker on the destination."""
    info, _ = paused_fill("nowait", compress_threads=1, compress_wait_thread=False,
                          compress_level=9, decompress_threads=1)
    c = compression(info)
    if c["pages"] == 0 or c["busy"] == 0:
        raise AssertionError(f"expected both compressed and busy pages: {c}")
    if not 0 < c["busy-rate"] < 1:
        raise AssertionError(f"busy-rate {c['busy-rate']}")


def case_file_analyze():
    """compress into file:, then the stream analyzer (Python's zlib, QEMU's
    record layout) extracts RAM equal to the paused source's memory."""
    with TestDir() as d:
        src = vm(d, "src", append=FILL)
        try:
            src.wait_serial_count("F", 1, timeout=120)
            src.qmp.command("stop")
            enable(src)
            src.qmp.command("migrate", uri=f"file:{d}/guest.mig")
            info = completed(wait_migration(src))
            if compression(info)["pages"] == 0:
                raise AssertionError(f"no compressed pages: {info}")
            want = src.pmemsave(MEM_BYTES, os.path.join(d, "src.mem"))
            out = os.path.join(d, "ram")
            os.mkdir(out)
            r = subprocess.run([sys.executable, ANALYZE, f"{d}/guest.mig", "--extract", out],
                               capture_output=True, text=True, timeout=300)
            if r.returncode:
                raise AssertionError(f"analyze-migration.py: {r.stderr.strip()}")
            with open(os.path.join(out, "pc.ram.bin"), "rb") as f:
                got = f.read()
            if got != want:
                raise AssertionError("the extracted RAM differs from the source's memory")
        finally:
            src.kill()


def case_running():
    """A running pagewalk guest migrated with compress keeps its invariant."""
    with TestDir() as d:
        src = vm(d, "src")
        dst = vm(d, "dst", incoming=f"unix:{d}/mig.sock")
        try:
            src.wait_serial_count("B", 1, timeout=120)
            enable(src, downtime_limit=1)
            enable(dst)
            src.qmp.command("migrate", uri=f"unix:{d}/mig.sock")
            info = completed(converge(src))
            c = compression(info)
            report(info, f"{MEM} {ACCEL} running")
            if c["pages"] == 0 or info["ram"]["dirty-sync-count"] < 2:
                raise AssertionError(f"no compressed pages or no second pass: {info}")
            n = dst.serial_text().count("B")
            dst.wait_serial_count("B", n + 2, timeout=120)
            if dst.status() != "running":
                raise AssertionError(f"destination run state {dst.status()}")
            dst.qmp.command("stop")
            check_pagewalk_invariant(dst.pmemsave(MEM_BYTES, os.path.join(d, "dst.mem")))
        finally:
            src.kill()
            dst.kill()


CASES = [
    ("paused-exact", case_paused_exact),
    ("nowait-exact", case_nowait_exact),
    ("running", case_running),
    ("file-analyze", case_file_analyze),
]

if __name__ == "__main__":
    main(ACCEL, CASES, sys.argv[3:])
