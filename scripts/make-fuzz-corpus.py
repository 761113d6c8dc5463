#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Make fuzz-loadvm's seed corpus from real migrations: small guests (16 MiB,
thread accelerator, mostly zero pages) saved with `migrate file:`.

usage: scripts/make-fuzz-corpus.py [KVMIG [OUTDIR]]
  KVMIG   the kvmig binary (default build/kvmig)
  OUTDIR  where the seeds go (default tests/fuzz/corpus/loadvm)

A busy guest's stream is megabytes of raw pages; trim() keeps its shape
(every section, the zero records, a few raw pages and the XBZRLE records)
and drops the rest of the raw pages, so that a pagewalk guest's XBZRLE
passes make a seed of a few KiB that still loads.

The fuzz target's machine must match the seeds' (16 MiB, one vCPU, thread
accelerator, serial, PIT; virtio-balloon only in the balloon seed): change both
together.
"""
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "migration"))

from framework import VM, TestDir, query, set_params, wait_migration  # noqa: E402

KVMIG = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build", "kvmig")
OUT = sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, "tests", "fuzz", "corpus",
                                                         "loadvm")
FAST = 100 * 1000 * 1000 * 1000

# RAM record flags (migration/ram.h)
ZERO, MEM_SIZE, PAGE, EOS, CONTINUE, XBZRLE = 0x02, 0x04, 0x08, 0x10, 0x20, 0x40
MULTIFD_FLUSH, ZERO_RUN = 0x200, 0x400


def trim(data, max_pages=4, max_xbzrle=160):
    """The stream with at most max_pages raw pages and max_xbzrle XBZRLE records.

    Only the "ram" section's records change (CONTINUE is dropped, every kept
    record names its block); everything else is copied as it is.
    """
    start = data.find(b"\x03ram\x00\x00\x00\x00")
    if start < 5 or data[start - 5] != 0x01:
        raise SystemExit("trim: no ram START section")
    out = bytearray(data[:start + 12])
    pos = start + 12
    block = b""
    pages = xbzrle = 0
    while True:
        # the records of one ram section, up to EOS
        while True:
            word = int.from_bytes(data[pos:pos + 8], "big")
            flags, addr = word & 0xfff, word & ~0xfff
            typ = flags & ~CONTINUE
            rec_start = pos
            pos += 8
            if typ == EOS:
                out += data[rec_start:pos]
                break
            if typ == MEM_SIZE:
                end = pos
                total = 0
                while total < addr:
                    n = data[end]
                    total += int.from_bytes(data[end + 1 + n:end + 9 + n], "big")
                    end += 9 + n
                out += data[rec_start:end]
                pos = end
                continue
            if typ == MULTIFD_FLUSH:
                out += data[rec_start:pos]
                continue
            if not flags & CONTINUE:
                n = data[pos]
                block = data[pos + 1:pos + 1 + n]
                pos += 1 + n
            if typ == ZERO:
                payload = data[pos:pos + 1]
            elif typ == ZERO_RUN:
                payload = data[pos:pos + 8]
            elif typ == PAGE:
                payload = data[pos:pos + 4096]
            elif typ == XBZRLE:
                payload = data[pos:pos + 3 + int.from_bytes(data[pos + 1:pos + 3], "big")]
            else:
                raise SystemExit(f"trim: RAM record flags 0x{flags:x}")
            pos += len(payload)
            keep = typ in (ZERO, ZERO_RUN)
            if typ == PAGE and pages < max_pages:
                pages += 1
                keep = True
            if typ == XBZRLE and xbzrle < max_xbzrle:
                xbzrle += 1
                keep = True
            if keep:
                out += (addr | typ).to_bytes(8, "big") + bytes([len(block)]) + block + payload
        out += data[pos:pos + 5]        # footer
        pos += 5
        if data[pos] not in (0x02, 0x03):   # not a ram PART or END: devices follow
            break
        out += data[pos:pos + 5]        # PART/END + section id
        pos += 5
    out += data[pos:]
    return bytes(out), pages, xbzrle


def save(name, append, extra=(), paused=True, xbzrle=False, trimmed=False):
    """Start a 16 MiB guest, let it write, migrate it to OUT/name."""
    with TestDir() as d:
        vm = VM(KVMIG, d, "src", mem="16M", append=append, extra=extra).connect()
        try:
            if "fill" in append:
                vm.wait_serial_count("F", 1)
            if "pagewalk" in append:
                vm.wait_serial_count("B", 1)    # every page written once
            if xbzrle:
                vm.qmp.command("migrate-set-capabilities",
                               capabilities=[{"capability": "xbzrle", "state": True}])
                set_params(vm, xbzrle_cache_size=16 << 20)
            if paused:
                vm.qmp.command("stop")
            set_params(vm, max_bandwidth=FAST, downtime_limit=0 if xbzrle else 300)
            path = os.path.join(d, "stream")
            vm.qmp.command("migrate", uri=f"file:{path}")
            if xbzrle:
                # a few passes over the dirty state page (XBZRLE records), then finish
                deadline = time.monotonic() + 30
                while query(vm).get("ram", {}).get("dirty-sync-count", 0) < 6:
                    done = query(vm).get("status") in ("completed", "failed")
                    if done or time.monotonic() > deadline:
                        break
                    time.sleep(0.02)
                set_params(vm, downtime_limit=60000)
            info = wait_migration(vm)
            if info["status"] != "completed":
                raise SystemExit(f"{name}: migration {info['status']}: "
                                 f"{info.get('error-desc')}")
            with open(path, "rb") as f:
                data = f.read()
        finally:
            vm.kill()
    note = ""
    if trimmed:
        full = len(data)
        data, pages, records = trim(data)
        note = f" (trimmed from {full}: {pages} raw pages, {records} XBZRLE records kept)"
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)
    print(f"{name}: {len(data)} bytes{note}")


def main():
    os.makedirs(OUT, exist_ok=True)
    save("idle-paused", "workload=idle")
    save("fill-paused", "workload=fill size=16K ratio=2")
    save("fill-running", "workload=fill size=8K", paused=False)
    save("xbzrle-pagewalk", "workload=pagewalk", paused=False, xbzrle=True, trimmed=True)
    save("balloon-paused", "workload=idle", extra=("-device", "virtio-balloon"))


if __name__ == "__main__":
    main()
