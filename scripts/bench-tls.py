#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Benchmark: what TLS costs a multifd migration, kvmig and QEMU 7.2.

usage: scripts/bench-tls.py [--build DIR] [--mem 1G] [--fill 768M] [--runs 3]
           [--channels 2] [--no-qemu] [--qemu-accel kvm|tcg] [--json]

The guest is the project's ELF with `-append 'workload=fill size=768M
ratio=3'`, booted by kvmig (-accel thread) and by qemu-system-x86_64
(-kernel; -accel kvm, falling back to tcg when the guest does not come up
under KVM: such rows say "tcg" and are no comparison of migrations).  The
migration starts once the guest printed `F`.  Both ends: multifd with
--channels channels, max-bandwidth 100 GB/s (unlimited), a unix: socket;
the TLS rows add -object tls-creds-x509 (certificates made by certtool,
ECDSA P-256, GnuTLS's default priority) and tls-creds / tls-hostname.

Rows: plain and tls for each VMM, interleaved (kvmig plain, kvmig tls,
QEMU plain, QEMU tls, then again) --runs times.  Per migration: total-time
(ms, the source's), the RAM bytes sent, MB/s = bytes / total-time, and the
CPU seconds (utime + stime) of the source and of the destination from the
migrate command until the source completed and the destination runs.  The
table shows medians and tls / plain throughput per VMM.

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
import tlscerts  # noqa: E402
from benchlib import add_vmm_args, med, ratio  # noqa: E402

UNLIMITED = 100 * 1000 * 1000 * 1000
HOSTNAME = "dst.example"


def vmm_args(vmm, a, creds):
    append = f"workload=fill size={a.fill} ratio={a.ratio}"
    if vmm == "qemu":
        args = [a.qemu, "-accel", a.qemu_accel, "-m", a.mem, "-kernel", a.guest,
                "-append", append, "-nodefaults"]
    else:
        args = [a.kvmig, "-accel", "thread", "-m", a.mem, "-append", append]
    if creds:
        args += ["-object", f"tls-creds-x509,id=tls0,dir={creds[0]},endpoint={creds[1]}"]
    return args


def one_run(vmm, tls, a, creds):
    d = tempfile.mkdtemp(prefix="bench-tls-")
    uri = f"unix:{d}/mig.sock"
    src = dst = None
    try:
        src = benchlib.Side(vmm_args(vmm, a, (creds["client"], "client") if tls else None),
                            d, "src")
        dst = benchlib.Side(vmm_args(vmm, a, (creds["server"], "server") if tls else None),
                            d, "dst", incoming="defer")
        deadline = time.monotonic() + a.fill_timeout
        while not src.serial_has("F"):
            if src.proc.poll() is not None:
                raise RuntimeError(f"{vmm} source exited: {src.stderr()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{vmm}: no F on the serial after {a.fill_timeout} s")
            time.sleep(0.05)
        params = {"multifd-channels": a.channels}
        if tls:
            params.update({"tls-creds": "tls0", "tls-hostname": HOSTNAME})
        for side in (src, dst):
            side.qmp.command("migrate-set-capabilities",
                             capabilities=[{"capability": "multifd", "state": True}])
            side.qmp.command("migrate-set-parameters", **params)
        src.qmp.command("migrate-set-parameters", **{"max-bandwidth": UNLIMITED})
        dst.qmp.command("migrate-incoming", uri=uri)
        time.sleep(0.2)     # the destination listens
        info, src_cpu, dst_cpu = benchlib.migrate_measured(src, dst, uri,
                                                           f"{vmm} tls={tls}", a.timeout)
        total = info["total-time"]
        sent = info["ram"]["transferred"]
        return {
            "bench": "tls", "vmm": vmm, "accel": "thread" if vmm == "kvmig" else a.qemu_accel,
            "tls": tls, "channels": a.channels, "mem": a.mem, "fill": a.fill,
            "total_ms": total, "downtime_ms": info.get("downtime"), "bytes": sent,
            "mb_s": round(sent / total / 1000, 1) if total else None,
            "src_cpu_s": round(src_cpu, 2), "dst_cpu_s": round(dst_cpu, 2),
            "session": info.get("x-tls-session"),
        }
    finally:
        for p in (src, dst):
            if p:
                p.kill()
        shutil.rmtree(d, ignore_errors=True)


def qemu_boots_under_kvm(a):
    """Does the guest ELF fill its RAM under qemu -accel kvm (within 60 s)?"""
    d = tempfile.mkdtemp(prefix="bench-tls-probe-")
    side = None
    try:
        side = benchlib.Side(vmm_args("qemu", a, None), d, "probe")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and side.proc.poll() is None:
            if side.serial_has("F"):
                return True
            time.sleep(0.2)
        return False
    except RuntimeError:
        return False
    finally:
        if side:
            side.kill()
        shutil.rmtree(d, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_vmm_args(ap)
    ap.add_argument("--mem", default="1G")
    ap.add_argument("--fill", default="768M")
    ap.add_argument("--ratio", default="3")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--channels", type=int, default=2)
    ap.add_argument("--no-qemu", action="store_true")
    ap.add_argument("--qemu-accel", choices=("kvm", "tcg"),
                    help="default: kvm if the guest fills its RAM under it, else tcg")
    ap.add_argument("--json", action="store_true", help="JSON lines only")
    ap.add_argument("--fill-timeout", type=float, default=300)
    ap.add_argument("--timeout", type=float, default=600)
    a = ap.parse_args()
    a.kvmig = a.kvmig or os.path.join(a.build, "kvmig")
    a.guest = a.guest or os.path.join(a.build, "guest", "kvmig-guest.elf")
    vmms = ["kvmig"]
    if not a.no_qemu:
        vmms.append("qemu")
        if not a.qemu_accel:
            a.qemu_accel = "kvm"
            a.qemu_accel = "kvm" if qemu_boots_under_kvm(a) else "tcg"
            if a.qemu_accel == "tcg" and not a.json:
                print("QEMU: the guest does not fill its RAM under -accel kvm; QEMU rows run "
                      "under TCG (QEMU TCG, not a comparison of migrations)", flush=True)
    d = tempfile.mkdtemp(prefix="bench-tls-creds-")
    try:
        ca = tlscerts.make_ca(d)
        creds = {"server": tlscerts.make_creds(d, "server", ca, "server", "kvmig-dst",
                                               dns=(HOSTNAME,)),
                 "client": tlscerts.make_creds(d, "client", ca, "client", "kvmig-src")}
        rows = []
        for _ in range(a.runs):
            for vmm in vmms:
                for tls in (False, True):
                    r = one_run(vmm, tls, a, creds)
                    rows.append(r)
                    print(json.dumps(r), flush=True)
    finally:
        shutil.rmtree(d, ignore_errors=True)
    if a.json:
        return
    print(f"\nmedians of {a.runs} interleaved runs: {a.mem} guest, fill {a.fill} ratio "
          f"{a.ratio}, multifd {a.channels} channels, unix socket, unlimited bandwidth")
    print(f"{'vmm (accel)':<16} {'tls':<5} {'total ms':>9} {'MB/s':>7} {'src cpu s':>10} "
          f"{'dst cpu s':>10} {'tls/plain':>10}")
    for vmm in vmms:
        by = {tls: [r for r in rows if r["vmm"] == vmm and r["tls"] == tls]
              for tls in (False, True)}
        plain_bw = med(by[False], "mb_s")
        for tls in (False, True):
            rs = by[tls]
            bw = med(rs, "mb_s")
            rel = ratio(bw, plain_bw) if tls else None
            print(f"{vmm + ' (' + rs[0]['accel'] + ')':<16} {'on' if tls else 'off':<5} "
                  f"{med(rs, 'total_ms'):>9.0f} {bw:>7.0f} {med(rs, 'src_cpu_s'):>10.2f} "
                  f"{med(rs, 'dst_cpu_s'):>10.2f} "
                  f"{(f'{rel:.2f}' if rel is not None else '-'):>10}")


if __name__ == "__main__":
    main()
