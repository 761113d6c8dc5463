#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""migration-test, virtio-balloon: the balloon command, and free page hints
that keep the guest's free memory out of the stream without losing a page
it still uses (the churn guest re-verifies its live data on the destination).

usage: test-balloon.py KVMIG ACCEL [CASE...]
ACCEL thread (or thread,dirty=soft) runs 1 GiB guests (churn size=768M, the issue's case); kvm runs
128 MiB guests with churn size=16M (guest stores are slow under nested KVM)
and exits 77 (skip) with the reason when /dev/kvm cannot be
opened.
"""
import sys
import time

from framework import (main, SKIP, VM, TestDir, free_tcp_port, kvm_skip_reason, query,
                       run_cases, set_params, wait_migration)

KVMIG = sys.argv[1]
ACCEL = sys.argv[2]
MEM = "1G" if ACCEL.startswith("thread") else "128M"
MEM_BYTES = (1 << 30) if ACCEL.startswith("thread") else (128 << 20)
# Under KVM a nested host makes every guest store slow (~1.3 MB/s of fill):
# churn writes 16 MiB there, which still leaves hints most of the bytes.
CHURN = "768M" if ACCEL.startswith("thread") else "16M"
# What the balloon leaves a guest whose churn must run out of memory.
OOM_TARGET = (256 << 20) if ACCEL.startswith("thread") else (8 << 20)
KVM_HINT_BW = None if ACCEL.startswith("thread") else 2 * 1000 * 1000
# The bar: with hints, at most 40% of the bytes moved without.
MAX_RATIO = 0.40


def balloon_vm(d, name, append, hint=True, oom=False, extra_args=(), **kw):
    dev = list(extra_args) + [
        "-device", "virtio-balloon,free-page-hint=" + ("on" if hint else "off") +
        (",deflate-on-oom=on" if oom else "")]
    return VM(KVMIG, d, name, accel=ACCEL, mem=MEM, append=append, extra=dev, **kw).connect()


def hmp(vm, line):
    return vm.qmp.command("human-monitor-command", **{"command-line": line})


def wait_actual(vm, want, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        actual = vm.qmp.command("query-balloon")["actual"]
        if actual == want:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{vm.name}: balloon actual {actual}, want {want}")
        time.sleep(0.05)


def check_verifies(dst, n=2, timeout=60):
    """The churn guest re-checks its live set every second: V, never X."""
    dst.wait_serial_count("V", n, timeout=timeout)
    if "X" in dst.serial_text():
        raise AssertionError(f"destination guest found corrupted data: {dst.serial_text()!r}")


def migrate_churn(hint, delay_until_churned=True, bandwidth=None, steady_bandwidth=None):
    """One churn migration; returns (query-migrate, serial of the destination).
    @bandwidth holds until the source churned; @steady_bandwidth throughout."""
    with TestDir() as d:
        app = f"workload=churn size={CHURN}"
        src = balloon_vm(d, "src", app, hint)
        port = free_tcp_port()
        dst = balloon_vm(d, "dst", app, hint, incoming=f"tcp:127.0.0.1:{port}")
        try:
            if delay_until_churned:
                src.wait_serial_count("C", 1, timeout=300)
            else:
                # mid-allocation: the guest reuses hinted pages.  Under KVM,
                # late enough that the bulk pass (hints act during it) has
                # megabytes to send at the capped bandwidth.
                time.sleep(0.5 if ACCEL.startswith("thread") else 4)
            if bandwidth or steady_bandwidth:
                set_params(src, max_bandwidth=bandwidth or steady_bandwidth)
            src.qmp.command("migrate", uri=f"tcp:127.0.0.1:{port}")
            if bandwidth:
                # Slow until the source finished churning, then let it converge.
                deadline = time.monotonic() + 300
                while query(src).get("status") not in ("completed", "failed"):
                    if "C" in src.serial_text():
                        set_params(src, max_bandwidth=100 * 1000 * 1000 * 1000,
                                   downtime_limit=60000)
                    if time.monotonic() > deadline:
                        raise AssertionError("migration did not end")
                    time.sleep(0.1)
            info = wait_migration(src, timeout=600)
            if info["status"] != "completed":
                raise AssertionError(f"migration {info['status']}: {info.get('error-desc')}")
            shown = "free page hint:" in hmp(src, "info migrate")
            if shown != bool(info["ram"].get("x-free-page-hint-pages")):
                raise AssertionError("info migrate and query-migrate disagree on hints")
            check_verifies(dst, 2)
            return info
        finally:
            src.kill()
            dst.kill()


def case_balloon_target():
    with TestDir() as d:
        vm = balloon_vm(d, "vm", "workload=idle")
        try:
            wait_actual(vm, MEM_BYTES)
            target = 256 << 20 if ACCEL.startswith("thread") else 64 << 20
            vm.qmp.command("balloon", value=target)
            wait_actual(vm, target)
            out = hmp(vm, "info balloon")
            if out.strip() != f"balloon: actual={target >> 20}":
                raise AssertionError(f"info balloon: {out!r}")
            hmp(vm, f"balloon {MEM_BYTES >> 20}")
            wait_actual(vm, MEM_BYTES)
        finally:
            vm.kill()


def case_balloon_migrates():
    """The inflated balloon (device state and the driver's RAM) moves along."""
    with TestDir() as d:
        app = "workload=idle"
        src = balloon_vm(d, "src", app)
        port = free_tcp_port()
        dst = balloon_vm(d, "dst", app, incoming=f"tcp:127.0.0.1:{port}")
        try:
            target = MEM_BYTES // 2
            src.qmp.command("balloon", value=target)
            wait_actual(src, target)
            src.qmp.command("migrate", uri=f"tcp:127.0.0.1:{port}")
            info = wait_migration(src)
            if info["status"] != "completed":
                raise AssertionError(f"migration {info['status']}: {info.get('error-desc')}")
            wait_actual(dst, target)
            dst.qmp.command("balloon", value=MEM_BYTES)
            wait_actual(dst, MEM_BYTES)
        finally:
            src.kill()
            dst.kill()


def case_hints_cut_bytes():
    # Under KVM the guest's driver answers a hint request only at its next
    # poll, later than the whole 17 MB would take at full speed: a capped
    # link leaves the hints a bulk pass to act on, as on a real network.
    off = migrate_churn(hint=False, steady_bandwidth=KVM_HINT_BW)
    on = migrate_churn(hint=True, steady_bandwidth=KVM_HINT_BW)
    b_off = off["ram"]["transferred"]
    b_on = on["ram"]["transferred"]
    print(f"  {MEM} guest, churn size={CHURN}: without hints {b_off} bytes "
          f"({off['total-time']} ms), with hints {b_on} bytes ({on['total-time']} ms), "
          f"ratio {b_on / b_off:.3f}, x-free-page-hint-pages "
          f"{on['ram']['x-free-page-hint-pages']}", flush=True)
    if off["ram"]["x-free-page-hint-pages"]:
        raise AssertionError("pages were hinted with free-page-hint=off")
    if not on["ram"]["x-free-page-hint-pages"]:
        raise AssertionError("no page was hinted with free-page-hint=on")
    if b_on > MAX_RATIO * b_off:
        raise AssertionError(f"hints moved {b_on} bytes, more than {MAX_RATIO:.0%} "
                             f"of {b_off}")


def case_reuse_hinted_pages():
    """Migrate while churn still allocates: pages reported free are taken
    and written during the migration; the dirty log must bring them over."""
    info = migrate_churn(hint=True, delay_until_churned=False,
                         bandwidth=60 * 1000 * 1000 if ACCEL.startswith("thread") else 1000 * 1000)
    if not info["ram"]["x-free-page-hint-pages"]:
        raise AssertionError("no page was hinted")
    print(f"  hinted {info['ram']['x-free-page-hint-pages']} pages, "
          f"{info['ram']['dirty-sync-count']} syncs", flush=True)


def wait_actual_at_most(vm, limit, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        actual = vm.qmp.command("query-balloon")["actual"]
        if actual <= limit:
            return actual
        if time.monotonic() > deadline:
            raise AssertionError(f"{vm.name}: balloon actual {actual}, want <= {limit}")
        time.sleep(0.05)


def oom_guest(d, oom):
    """A guest whose churn needs more than the balloon leaves it: the
    target is set before the guest runs (-S, balloon, cont), so the driver
    inflates from churn's heap as soon as it exists, before churn allocates
    (a target set while churn runs would race it: with huge pages churn can
    take its whole heap before the command arrives)."""
    vm = balloon_vm(d, "vm", f"workload=churn size={CHURN}", hint=False, oom=oom,
                    extra_args=["-S"])
    target = OOM_TARGET
    hmp(vm, f"balloon {target >> 20}")
    vm.qmp.command("cont")
    wait_actual_at_most(vm, target)
    return vm, target


def case_target_before_heap():
    """A target set before the guest runs (-S, balloon, cont) reaches the
    driver before churn has a heap to inflate from: the driver must retry
    while churn runs, as the real guest does from its poll, and not wait for
    another config change.  This was the race behind no-deflate-on-oom.
    The driver inflates as soon as churn's heap exists (wl_balloon_heap_ready),
    before churn allocates: churn then runs out."""
    with TestDir() as d:
        vm = balloon_vm(d, "vm", f"workload=churn size={CHURN}", hint=False, extra_args=["-S"])
        target = OOM_TARGET
        try:
            hmp(vm, f"balloon {target >> 20}")
            vm.qmp.command("cont")
            wait_actual_at_most(vm, target)
            # Churn then runs out of the memory the balloon left it, frees
            # what it had, and the balloon takes the rest of its target.
            vm.wait_serial_count("E", 1, timeout=300)
            wait_actual(vm, target)
            if vm.serial_text() != "E":
                raise AssertionError(f"serial {vm.serial_text()!r}, want 'E' alone")
        finally:
            vm.kill()


def case_deflate_on_oom():
    """deflate-on-oom=on: churn runs out, the driver deflates (telling the
    device), churn completes and verifies; actual rises; the deflated
    balloon migrates, and a later balloon command re-inflates as usual."""
    with TestDir() as d:
        vm, target = oom_guest(d, oom=True)
        port = free_tcp_port()
        dst = balloon_vm(d, "dst", f"workload=churn size={CHURN}", hint=False, oom=True,
                         incoming=f"tcp:127.0.0.1:{port}")
        try:
            vm.wait_serial_count("C", 1, timeout=300)
            check_verifies(vm, 2)
            out = vm.serial_text()
            if "E" in out:
                raise AssertionError(f"churn ran out of memory: {out!r}")
            info = vm.qmp.command("query-balloon")
            if info["actual"] <= target:
                raise AssertionError(f"actual {info['actual']} did not rise above {target}")
            print(f"  balloon {target >> 20} MiB, churn size={CHURN}: C and V, "
                  f"actual rose to {info['actual'] >> 20} MiB", flush=True)
            vm.qmp.command("migrate", uri=f"tcp:127.0.0.1:{port}")
            mig = wait_migration(vm, timeout=300)
            if mig["status"] != "completed":
                raise AssertionError(f"migration {mig['status']}: {mig.get('error-desc')}")
            wait_actual(dst, vm.qmp.command("query-balloon")["actual"])
            check_verifies(dst, 1)
            # Churn freed 7/8 of its blocks: the target can be reached again.
            hmp(dst, f"balloon {target >> 20}")
            wait_actual(dst, target)
            check_verifies(dst, dst.serial_text().count("V") + 1)
        finally:
            vm.kill()
            dst.kill()


def case_no_deflate_on_oom():
    """Without the feature the balloon's pages stay out of reach: churn
    prints E, frees what it had and idles; nothing is corrupted and the
    balloon still deflates on request."""
    with TestDir() as d:
        vm, target = oom_guest(d, oom=False)
        try:
            vm.wait_serial_count("E", 1, timeout=300)
            time.sleep(1)
            out = vm.serial_text()
            if out != "E":
                raise AssertionError(f"serial {out!r}, want 'E' alone")
            actual = vm.qmp.command("query-balloon")["actual"]
            if actual != target:
                raise AssertionError(f"actual {actual}, want {target}")
            hmp(vm, f"balloon {MEM_BYTES >> 20}")
            wait_actual(vm, MEM_BYTES)
            if vm.serial_text() != "E":
                raise AssertionError(f"serial {vm.serial_text()!r}")
        finally:
            vm.kill()


CASES = [
    ("balloon-target", case_balloon_target),
    ("balloon-migrates", case_balloon_migrates),
    ("hints-cut-bytes", case_hints_cut_bytes),
    ("reuse-hinted-pages", case_reuse_hinted_pages),
    ("target-before-heap", case_target_before_heap),
    ("deflate-on-oom", case_deflate_on_oom),
    ("no-deflate-on-oom", case_no_deflate_on_oom),
]

if __name__ == "__main__":
    main(ACCEL, CASES, sys.argv[3:])
