#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""migration-test, stream analysis: save a paused guest with `migrate file:`
and `exec:cat >`, read the file with scripts/analyze-migration.py in summary,
--json and --extract modes, check the extract against pmemsave and the
counts against query-migrate, read a stream at an offset and one with a
PING command record, and check that a truncated or corrupted file fails
with one line and exit status 1.

usage: test-analyze.py KVMIG ACCEL [CASE...]
ACCEL thread or kvm (128 MiB guests); kvm exits 77 (skip) with the reason
when /dev/kvm cannot be opened.
"""
import json
import os
import subprocess
import sys

from framework import (main, SKIP, VM, TestDir, check_pagewalk_invariant, kvm_skip_reason,
                       run_cases, wait_migration)

KVMIG = sys.argv[1]
ACCEL = sys.argv[2]
MEM = "128M"
MEM_BYTES = 128 << 20
ANALYZE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts",
                       "analyze-migration.py")


def analyze(*args):
    return subprocess.run([sys.executable, ANALYZE] + list(args), capture_output=True,
                          text=True, timeout=300)


def save_paused(d, uri_for):
    """Start a pagewalk guest, let it run a pass, stop it, migrate it to a
    file; returns (the file, query-migrate's answer, pmemsave of all RAM)."""
    vm = VM(KVMIG, d, "src", accel=ACCEL, mem=MEM).connect()
    try:
        vm.wait_serial_count("B", 1, timeout=300)
        vm.qmp.command("stop")
        path = os.path.join(d, "guest.mig")
        vm.qmp.command("migrate", uri=uri_for(path))
        info = wait_migration(vm, timeout=300)
        if info["status"] != "completed":
            raise AssertionError(f"migration {info['status']}: {info.get('error-desc')}")
        mem = vm.pmemsave(MEM_BYTES, os.path.join(d, "pmem.bin"))
        return path, info, mem
    finally:
        vm.kill()


def check_one_line_error(res, what, want=None):
    lines = res.stderr.splitlines()
    if res.returncode != 1 or len(lines) != 1 or res.stdout:
        raise AssertionError(f"{what}: exit {res.returncode}, stdout {res.stdout[:200]!r}, "
                             f"stderr {res.stderr[:400]!r}")
    if "offset" not in lines[0] or (want and want not in lines[0]):
        raise AssertionError(f"{what}: error line lacks {want or 'the offset'}: {lines[0]}")
    print(f"  {what}: {lines[0]}")


def check_stream(d, path, info, mem):
    size = os.path.getsize(path)
    if info["ram"]["transferred"] != size:
        raise AssertionError(f"query-migrate transferred {info['ram']['transferred']}, "
                             f"the file has {size} bytes")

    # summary
    res = analyze(path)
    if res.returncode:
        raise AssertionError(f"summary failed: {res.stderr}")
    for want in ("version 3", "pc-i440fx-kvmig", " START ", " END ", " FULL ",
                 "pc.ram", "raw", "globalstate", "runstate = 'paused'", "vmdesc:"):
        if want not in res.stdout:
            raise AssertionError(f"summary lacks {want!r}:\n{res.stdout}")

    # --json
    res = analyze("--json", path)
    if res.returncode:
        raise AssertionError(f"--json failed: {res.stderr}")
    j = json.loads(res.stdout)
    kinds = [s["kind"] for s in j["sections"]]
    if kinds[0] != "FULL" or "START" not in kinds or "END" not in kinds:
        raise AssertionError(f"section kinds {kinds}")
    ram = j["ram"]
    blocks = {b["name"]: b for b in ram["blocks"]}
    if blocks["pc.ram"]["length"] != MEM_BYTES or blocks["pc.ram"]["pages_never_sent"]:
        raise AssertionError(f"blocks {ram['blocks']}")
    rec = ram["records"]
    zero = rec["zero"]["pages"] + rec["x-zero-run"]["pages"]
    if rec["raw"]["pages"] != info["ram"]["normal"] or zero != info["ram"]["duplicate"]:
        raise AssertionError(f"records {rec} vs query-migrate {info['ram']}")
    total = sum(r["bytes"] for r in rec.values())
    sections = sum(s["length"] for s in j["sections"])
    if not total < sections < size:
        raise AssertionError(f"RAM records {total} bytes, sections {sections}, file {size}")
    devs = {(x["idstr"], x["instance"]): x for x in j["devices"]}
    shape = devs[("kvmig-machine", 0)]["fields"]
    if shape["ram_size"] != MEM_BYTES or bytes.fromhex(shape["accel"]).decode() != ACCEL:
        raise AssertionError(f"kvmig-machine fields {shape}")
    if bytes.fromhex(devs[("globalstate", 0)]["fields"]["runstate"]) != b"paused":
        raise AssertionError(f"globalstate {devs[('globalstate', 0)]}")
    if j["vmdesc"]["offset"] != j["eof_offset"] + 1:
        raise AssertionError(f"vmdesc at {j['vmdesc']['offset']}, EOF at {j['eof_offset']}")

    # --extract: the guest's RAM, as pmemsave dumped it
    out = os.path.join(d, "extract")
    res = analyze("--extract", out, path)
    if res.returncode:
        raise AssertionError(f"--extract failed: {res.stderr}")
    with open(os.path.join(out, "pc.ram.bin"), "rb") as f:
        got = f.read()
    if got != mem:
        diff = next(i for i in range(min(len(got), len(mem))) if got[i] != mem[i]) \
            if len(got) == len(mem) else -1
        raise AssertionError(f"extract differs from pmemsave (sizes {len(got)}/{len(mem)}, "
                             f"first difference at {diff})")
    check_pagewalk_invariant(got)
    # sparse: never-written memory was seeked over, not written
    st = os.stat(os.path.join(out, "pc.ram.bin"))
    print(f"  {size} bytes, {rec['raw']['records']} raw, {zero} zero pages, extract "
          f"{st.st_blocks * 512 >> 10} KiB allocated of {MEM_BYTES >> 10} KiB")
    return j


def case_file():
    with TestDir() as d:
        path, info, mem = save_paused(d, lambda p: f"file:{p}")
        j = check_stream(d, path, info, mem)
        with open(path, "rb") as f:
            data = f.read()

        # --offset: the stream inside a file, as file:PATH,offset=N leaves it
        shifted = os.path.join(d, "shifted.mig")
        with open(shifted, "wb") as f:
            f.write(b"\xa5" * 4096 + data)
        res = analyze("--json", "--offset", "4096", shifted)
        if res.returncode or json.loads(res.stdout)["ram"]["records"] != j["ram"]["records"]:
            raise AssertionError(f"--offset 4096: {res.returncode} {res.stderr}")

        # a QEMU_VM_COMMAND PING (what a channel with a return path carries
        # before the switchover) between sections
        end = next(s for s in j["sections"] if s["kind"] == "END")["offset"]
        ping = os.path.join(d, "ping.mig")
        with open(ping, "wb") as f:
            f.write(data[:end] + bytes.fromhex("080003000400000001") + data[end:])
        res = analyze(ping)
        if res.returncode or f"0x{end:08x} COMMAND 0x0003" not in res.stdout:
            raise AssertionError(f"PING record: {res.returncode} {res.stderr}{res.stdout}")

        # truncated: in the middle of the RAM pages, and just before the vmdesc's end
        bad = os.path.join(d, "bad.mig")
        for cut in (len(data) // 2, len(data) - 10, 6):
            with open(bad, "wb") as f:
                f.write(data[:cut])
            check_one_line_error(analyze(bad), f"truncated to {cut} bytes")
            check_one_line_error(analyze("--json", bad), f"--json, truncated to {cut}")
            check_one_line_error(analyze("--extract", os.path.join(d, "x2"), bad),
                                 f"--extract, truncated to {cut}")

        # corrupted: a section type, a RAM record's flags, a footer, the magic
        part = next(s for s in j["sections"] if s["kind"] in ("PART", "END"))
        dev = next(s for s in j["sections"]
                      if s["kind"] == "FULL" and s["idstr"] != "kvmig-machine")
        start = next(s for s in j["sections"] if s["kind"] == "START")
        for off, val, want in (
                (part["offset"], 0x42, "unknown section type 0x42"),
                (start["offset"] + 5 + 1 + 3 + 8 + 7, 0xff, "RAM"),
                (dev["offset"] + dev["length"] - 5, 0x7d, "footer"),
                (0, 0x51 ^ 0x20, "magic")):
            corrupt = bytearray(data)
            corrupt[off] = val
            with open(bad, "wb") as f:
                f.write(corrupt)
            check_one_line_error(analyze(bad), f"byte {off} set to 0x{val:02x}", want)


# What QEMU's scripts/analyze-migration.py reads (its 7.2 and current
# versions): section types, RAM record kinds and vmdesc field types.
QEMU_SECTION_KINDS = {"START", "PART", "END", "FULL"}
QEMU_RAM_KINDS = {"mem-size", "zero", "raw", "multifd-flush", "eos"}
QEMU_FIELD_TYPES = {"bool", "int8", "int16", "int32", "int32 equal", "int32 le", "int64",
                    "uint8", "uint16", "uint32", "uint32 equal", "uint64", "int64 equal",
                    "uint8 equal", "uint16 equal", "float64", "timer", "buffer",
                    "unused_buffer", "bitmap", "struct", "capability", "nullptr", "unknown"}


def field_types(desc):
    for f in desc.get("fields", []):
        yield f.get("type")
        if "struct" in f:
            yield from field_types(f["struct"])
    for s in desc.get("subsections", []):
        yield from field_types(s)


def case_qemu_records():
    """The claim of README and stream-format.rst: a saved (file:) stream of a
    precopy uses only what QEMU's analyze-migration.py reads -- its section
    types, its RAM records (never-written memory as ZERO records, no
    X_ZERO_RUN), no command records, vmdesc field types it knows -- while a
    two-way channel would carry X_ZERO_RUN.  A guest that never wrote most
    of its RAM (idle, running) makes the zero pages many."""
    with TestDir() as d:
        vm = VM(KVMIG, d, "src", accel=ACCEL, mem=MEM, append="workload=idle").connect()
        try:
            path = os.path.join(d, "idle.mig")
            vm.qmp.command("migrate", uri=f"file:{path}")
            info = wait_migration(vm, timeout=300)
            if info["status"] != "completed":
                raise AssertionError(f"migration {info['status']}: {info.get('error-desc')}")
        finally:
            vm.kill()
        res = analyze("--json", path)
        if res.returncode:
            raise AssertionError(f"--json failed: {res.stderr}")
        j = json.loads(res.stdout)
        rec = j["ram"]["records"]
        used = {k for k, r in rec.items() if r["records"]}
        if used - QEMU_RAM_KINDS:
            raise AssertionError(f"RAM records QEMU's tools do not read: "
                                 f"{ {k: rec[k] for k in used - QEMU_RAM_KINDS} }")
        if rec["zero"]["pages"] < (MEM_BYTES >> 12) // 4:
            raise AssertionError(f"too few zero pages to show anything: {rec['zero']}")
        kinds = {s["kind"] for s in j["sections"]}
        if kinds - QEMU_SECTION_KINDS or j.get("commands"):
            raise AssertionError(f"sections {kinds}, commands {j.get('commands')}")
        vmdesc = json.loads(j["vmdesc"]["json"]) if isinstance(j["vmdesc"]["json"], str) \
            else j["vmdesc"]["json"]
        types = {t for dev in vmdesc["devices"] for t in field_types(dev)}
        if types - QEMU_FIELD_TYPES:
            raise AssertionError(f"vmdesc field types QEMU's tools do not know: "
                                 f"{types - QEMU_FIELD_TYPES}")
        print(f"  {os.path.getsize(path)} bytes: records {sorted(used)}, "
              f"{rec['zero']['pages']} zero pages as ZERO records, sections "
              f"{sorted(kinds)}, field types {sorted(types)}")


def case_exec():
    with TestDir() as d:
        path, info, mem = save_paused(d, lambda p: f"exec:cat > {p}")
        check_stream(d, path, info, mem)


CASES = [
    ("file", case_file),
    ("exec", case_exec),
    ("qemu-records", case_qemu_records),
]

if __name__ == "__main__":
    main(ACCEL, CASES, sys.argv[3:])
