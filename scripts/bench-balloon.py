#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Benchmark (issue #8): migrate a guest that churned most of its RAM, with
and without virtio-balloon free page hints, and with QEMU.

usage: scripts/bench-balloon.py [--build DIR] [--mem 8G] [--churn 6G] [--runs 1]
                                [--no-qemu] [--json]

Each run of a variant: start the source (`-append 'workload=churn size=S'`)
and an incoming destination, wait for `C` on the source serial (churn done:
S allocated and filled, 7/8 of it freed again, the live set checksummed),
set max-bandwidth to MAX_BANDWIDTH (effectively unlimited) and migrate over
a unix socket; then wait for the destination guest to re-verify its live
set (`V`) and check it never printed `X`.

Variants, interleaved per run:
  kvmig hints-on   -accel ACCEL (thread by default) -device virtio-balloon,free-page-hint=on
  kvmig hints-off  -accel ACCEL -device virtio-balloon,free-page-hint=off
  qemu  hints-on   qemu-system-x86_64 -accel kvm|tcg (kvm iff ACCEL is kvm) -object iothread,id=bal0
                   -device virtio-balloon,free-page-hint=on,iothread=bal0 on the
                   same guest ELF (QEMU refuses the hint without an iothread).
                   QEMU's balloon on the pc machine is virtio-pci; the test
                   guest's driver only knows virtio-mmio, finds no device and
                   negotiates nothing, so no page is hinted there (the guest
                   does not allow hints): the row says so.
Reported per variant (medians over --runs): time to `C`, total time,
downtime, bytes transferred, x-free-page-hint-pages (kvmig only), whether
the destination printed `V` and no `X`; ratios hints-on/hints-off and
kvmig/QEMU bytes.  Before every run /proc/meminfo MemAvailable must be at
least 2 x --mem (both guests fully resident); the run waits up to
--mem-wait seconds for that and is skipped with a message otherwise.
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
                      ratio, wait_migration)

# max-bandwidth for "unlimited": 1 TB/s, far above what a unix socket carries.
MAX_BANDWIDTH = 10 ** 12


def log(msg):
    print(f"# {msg}", file=sys.stderr, flush=True)


class Proc(benchlib.Side):
    """One VMM process: QMP socket and serial log in @d."""

    def __init__(self, args, d, name):
        super().__init__(args, d, name, poll=0.02, name_in_errors=False)

    def serial_text(self):
        try:
            with open(self.serial, "rb") as f:
                return f.read().decode("latin-1")
        except FileNotFoundError:
            return ""

    def wait_serial(self, ch, timeout):
        """True once @ch is on the serial; False on timeout or X."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.serial_text()
            if ch in text:
                return True
            if "X" in text or "E" in text:
                return False
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.stderr()}")
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)


def vmm_args(vmm, hint, a, incoming=None):
    app = f"workload=churn size={a.churn}"
    dev = ["-device", "virtio-balloon,free-page-hint=" + ("on" if hint else "off")]
    if vmm == "qemu":
        args = [a.qemu, "-accel", a.qemu_accel, "-m", a.mem, "-kernel", a.guest, "-append", app]
        if hint:
            # QEMU refuses free-page-hint=on without an iothread to run it.
            args += ["-object", "iothread,id=bal0"]
            dev[-1] += ",iothread=bal0"
    else:
        args = [a.kvmig, "-accel", a.accel, "-m", a.mem, "-append", app]
    args += dev
    if incoming:
        args += ["-incoming", incoming]
    return args


def wait_memory(a):
    need = 2 * mem_bytes(a.mem)
    deadline = time.monotonic() + a.mem_wait
    while mem_available() < need:
        if time.monotonic() > deadline:
            return False
        log(f"MemAvailable {mem_available() / (1 << 30):.1f} GiB < "
            f"{need / (1 << 30):.0f} GiB: waiting")
        time.sleep(10)
    return True


def one_run(vmm, hint, a):
    row = {"bench": "balloon", "vmm": vmm,
           "accel": a.qemu_accel if vmm == "qemu" else a.accel, "hints": "on" if hint else "off",
           "mem": a.mem, "churn": a.churn}
    if not wait_memory(a):
        row["skipped"] = (f"MemAvailable {mem_available() / (1 << 30):.1f} GiB < "
                          f"{2 * mem_bytes(a.mem) / (1 << 30):.0f} GiB after {a.mem_wait:.0f} s")
        return row
    d = tempfile.mkdtemp(prefix="bench-balloon-")
    uri = f"unix:{d}/mig.sock"
    src = dst = None
    try:
        t0 = time.monotonic()
        src = Proc(vmm_args(vmm, hint, a), d, "src")
        dst = Proc(vmm_args(vmm, hint, a, incoming=uri), d, "dst")
        if not src.wait_serial("C", a.churn_timeout):
            text = src.serial_text()
            row["skipped"] = (f"source printed {text[:20]!r}, not C, after "
                              f"{time.monotonic() - t0:.0f} s of churn")
            return row
        row["churn_s"] = round(time.monotonic() - t0, 1)
        src.qmp.command("migrate-set-parameters", **{"max-bandwidth": MAX_BANDWIDTH})
        if vmm == "kvmig":
            bal = src.qmp.command("query-balloon")
            row["src_balloon_actual"] = bal.get("actual")
        src.qmp.command("migrate", uri=uri)
        info = wait_migration(src.qmp, vmm, a.timeout, 0.05)
        ram = info.get("ram", {})
        row.update({
            "total_ms": info.get("total-time"), "downtime_ms": info.get("downtime"),
            "setup_ms": info.get("setup-time"), "bytes": ram.get("transferred"),
            "hint_pages": ram.get("x-free-page-hint-pages"),
        })
        if vmm == "qemu":
            row["hint_note"] = ("no hints: QEMU's pc balloon is virtio-pci, the test "
                                "guest's driver is virtio-mmio only and finds no device")
        # The destination re-verifies its live set every second.
        if dst.wait_serial("V", a.verify_timeout):
            time.sleep(2.5)     # and a couple more verifications
        text = dst.serial_text()
        row["dst_V"] = text.count("V")
        row["dst_X"] = "X" in text
        row["dst_ok"] = text.count("V") > 0 and "X" not in text
        return row
    finally:
        for p in (src, dst):
            if p:
                p.kill()
        shutil.rmtree(d, ignore_errors=True)


def fmt(v):
    if v is None:
        return "-"
    if isinstance(v, float) and v != int(v):
        return f"{v:.3f}" if abs(v) < 100 else f"{v:.1f}"
    return f"{int(v)}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_vmm_args(ap)
    ap.add_argument("--mem", default="8G")
    ap.add_argument("--churn", default="6G", help="churn size=S")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--no-qemu", action="store_true")
    ap.add_argument("--json", action="store_true", help="JSON lines only")
    ap.add_argument("--churn-timeout", type=float, default=900,
                    help="s to wait for C on the source")
    ap.add_argument("--verify-timeout", type=float, default=120,
                    help="s to wait for V on the destination")
    ap.add_argument("--mem-wait", type=float, default=180,
                    help="s to wait for enough MemAvailable before a run")
    ap.add_argument("--timeout", type=float, default=900, help="s for one migration")
    add_accel_arg(ap)
    a = ap.parse_args()
    a.qemu_accel = qemu_accel_for(a.accel)
    print(accel_note(a.accel, a.qemu_accel), flush=True)
    a.kvmig = a.kvmig or os.path.join(a.build, "kvmig")
    a.guest = a.guest or os.path.join(a.build, "guest", "kvmig-guest.elf")
    with_qemu = not a.no_qemu and shutil.which(a.qemu)
    if not a.no_qemu and not with_qemu:
        log(f"{a.qemu} not found: kvmig only")

    variants = [("kvmig", True), ("kvmig", False)]
    if with_qemu:
        variants.append(("qemu", True))
    rows = {v: [] for v in variants}
    for run in range(a.runs):
        for vmm, hint in variants:
            row = one_run(vmm, hint, a)
            row["run"] = run + 1
            rows[(vmm, hint)].append(row)
            if "skipped" in row:
                log(f"{vmm} hints {'on' if hint else 'off'}: skipped: {row['skipped']}")
            print(json.dumps(row), flush=True)

    keys = ("churn_s", "total_ms", "downtime_ms", "bytes", "hint_pages")
    summary = {}
    for v, rs in rows.items():
        done = [r for r in rs if "skipped" not in r]
        s = {k: med(done, k) for k in keys}
        s["runs"] = len(done)
        s["dst_ok"] = f"{sum(1 for r in done if r.get('dst_ok'))}/{len(done)}"
        s["skipped"] = [r["skipped"] for r in rs if "skipped" in r]
        summary[v] = s
    on = summary.get(("kvmig", True), {})
    off = summary.get(("kvmig", False), {})
    q = summary.get(("qemu", True), {})
    ratios = {
        "hints_on_over_off_bytes": ratio(on.get("bytes"), off.get("bytes")),
        "hints_on_over_qemu_bytes": ratio(on.get("bytes"), q.get("bytes")),
        "hints_off_over_qemu_bytes": ratio(off.get("bytes"), q.get("bytes")),
        "hints_on_over_qemu_total": ratio(on.get("total_ms"), q.get("total_ms")),
    }

    if not a.json:
        print()
        print(f"{a.mem} guest, churn size={a.churn}, unix socket, max-bandwidth "
              f"{MAX_BANDWIDTH} B/s, medians of {a.runs} run(s)")
        print(f"{'vmm':<6} {'hints':<6} {'churn s':>8} {'total ms':>9} {'downtime ms':>12} "
              f"{'bytes':>12} {'hinted pages':>13} {'dst V, no X':>12}")
        for (vmm, hint), s in summary.items():
            hp = fmt(s["hint_pages"]) if vmm == "kvmig" else "n/a"
            print(f"{vmm:<6} {'on' if hint else 'off':<6} {fmt(s['churn_s']):>8} "
                  f"{fmt(s['total_ms']):>9} {fmt(s['downtime_ms']):>12} "
                  f"{fmt(s['bytes']):>12} {hp:>13} {s['dst_ok']:>12}")
            for why in s["skipped"]:
                print(f"       skipped: {why}")
        if with_qemu:
            print("qemu: free-page-hint=on is set, but the guest does not allow hints "
                  "(virtio-pci balloon, virtio-mmio-only driver)")
        print("ratios: " + ", ".join(f"{k} {fmt(v)}" for k, v in ratios.items()))
        print()
    for (vmm, hint), s in summary.items():
        print(json.dumps({"bench": "balloon-summary", "vmm": vmm,
                          "hints": "on" if hint else "off", "mem": a.mem,
                          "churn": a.churn, **s}))
    print(json.dumps({"bench": "balloon-ratios", "mem": a.mem, "churn": a.churn, **ratios}))


if __name__ == "__main__":
    main()
