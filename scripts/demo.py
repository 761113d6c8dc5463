#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Live-migrate a running 1 GiB guest over TCP and show what happened.

usage: demo.py KVMIG [--mem 1G] [--accel thread|kvm] [--workload WORDS]
Starts a source and a destination kvmig, migrates over 127.0.0.1 with a
progress bar read from query-migrate, prints HMP `info migrate`, shows the
guest still making progress on the destination, and cleans up.

The guest is a busy server, not the worst case: `stress mb=128` rewrites a
128 MiB hot set (a database's buffer pool, say) as fast as a host core can,
and the rest of its 1 GiB is free memory, never touched (zero pages).
pagewalk, which rewrites every page of RAM as fast as a core can, is the
worst case (the tests use it); `random` dirties a new page with every
8-byte write, so it is no lighter.  The
migration is QEMU's default precopy with what a user would set: no
bandwidth cap on a local link, downtime-limit 300 ms, and auto-converge
as the safety net should the guest outrun the link.  At the end the demo
checks its own promises and exits 1 if one was broken: done within 15 s,
downtime within the limit, at most 4 GiB on the wire.
"""
import argparse
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "tests", "migration"))
from framework import VM, free_tcp_port, query  # noqa: E402


LIMIT_MS = 300                  # downtime-limit, QEMU's default
MAX_TOTAL_MS = 15000            # the demo's promises (checked at the end)
MAX_WIRE = 4 << 30
# what each workload prints on serial as it makes progress
WORKLOAD_MARK = {"pagewalk": "B", "random": "R", "stress": "S", "l2fwd": "L"}


def bar(frac, width=40):
    n = int(frac * width)
    return "[" + "#" * n + "." * (width - n) + "]"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("kvmig")
    ap.add_argument("--mem", default="1G")
    ap.add_argument("--accel", default="thread")
    ap.add_argument("--workload", default="stress mb=128",
                    help="the guest's workload words (default: a busy server)")
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="kvmig-demo-")
    port = free_tcp_port()
    src = dst = None
    try:
        append = f"workload={args.workload}"
        mark = WORKLOAD_MARK.get(args.workload.split()[0], "B")
        print(f"demo: starting the source: a {args.mem} guest, -append '{append}' "
              f"({args.accel} accelerator)")
        print("demo:   why this guest: like a busy server, it rewrites a hot set (128 MiB)"
              " as fast\n"
              "demo:   as a core can, and the rest of its RAM is free memory; pagewalk,"
              " which\n"
              "demo:   rewrites all of RAM that fast, is the worst case (the tests use it;"
              " try\n"
              "demo:   --workload pagewalk)")
        src = VM(args.kvmig, tmp, "src", accel=args.accel, mem=args.mem,
                 append=append).connect()
        src.wait_serial_count(mark, 2, timeout=120)
        print(f"demo: the guest is running ({src.serial_text().count(mark)} '{mark}' on its "
              f"serial port so far)")
        print(f"demo: starting the destination: -incoming tcp:127.0.0.1:{port}")
        dst = VM(args.kvmig, tmp, "dst", accel=args.accel, mem=args.mem, append=append,
                 incoming=f"tcp:127.0.0.1:{port}").connect()

        print(f"demo: (qemu) migrate_set_capability auto-converge on   "
              f"# throttle the guest only if it outruns the link")
        print(f"demo: (qemu) migrate_set_parameter max-bandwidth 0      "
              f"# a local link: no cap (QEMU's default is 128 MiB/s)")
        print(f"demo: (qemu) migrate_set_parameter downtime-limit {LIMIT_MS}  "
              f"# QEMU's default: the pause the guest may see")
        src.qmp.command("migrate-set-capabilities",
                        capabilities=[{"capability": "events", "state": True},
                                      {"capability": "auto-converge", "state": True}])
        src.qmp.command("migrate-set-parameters", **{"max-bandwidth": 0,
                                                     "downtime-limit": LIMIT_MS})
        print(f"demo: (qemu) migrate -d tcp:127.0.0.1:{port}")
        src.qmp.hmp(f"migrate -d tcp:127.0.0.1:{port}")
        t0 = time.monotonic()
        while True:
            info = query(src)
            status = info.get("status", "?")
            ram = info.get("ram", {})
            total = ram.get("total") or 1
            remaining = ram.get("remaining", total)
            frac = 1.0 if status == "completed" else max(0.0, 1 - remaining / total)
            sys.stdout.write(f"\r  {bar(frac)} {status:<10} "
                             f"{ram.get('transferred', 0) >> 20:6d} MiB sent, "
                             f"pass {ram.get('dirty-sync-count', 0):3d}, "
                             f"{ram.get('mbps', 0):8.1f} Mbps")
            sys.stdout.flush()
            if status in ("completed", "failed", "cancelled"):
                break
            if time.monotonic() - t0 > 600:
                raise SystemExit("\ndemo: the migration did not finish in 10 minutes")
            time.sleep(0.1)
        print()
        if status != "completed":
            raise SystemExit(f"demo: migration {status}: {info.get('error-desc', '')}")

        print("\ndemo: (qemu) info migrate")
        print(src.qmp.hmp("info migrate").rstrip())
        print(f"\ndemo: source: {src.qmp.hmp('info status').strip()}")
        print(f"demo: destination: {dst.qmp.hmp('info status').strip()}")
        before = dst.serial_text().count(mark)
        dst.wait_serial_count(mark, before + 2, timeout=120)
        print(f"demo: the guest keeps running on the destination: "
              f"{dst.serial_text().count(mark) - before} more '{mark}' since switchover")
        return verdict(info)
    finally:
        for vm in (src, dst):
            if vm:
                vm.kill()
        shutil.rmtree(tmp, ignore_errors=True)


def verdict(info):
    """The demo's promises, checked: exit 0 if all were kept."""
    total, down = info["total-time"], info["downtime"]
    wire = info["ram"]["transferred"]
    checks = [(f"total time {total / 1000:.1f} s", total <= MAX_TOTAL_MS,
               f"at most {MAX_TOTAL_MS // 1000} s"),
              (f"downtime {down} ms", down <= LIMIT_MS, f"within the {LIMIT_MS} ms limit"),
              (f"{wire / (1 << 30):.2f} GiB on the wire", wire <= MAX_WIRE,
               f"at most {MAX_WIRE >> 30} GiB"),
              (f"{info['ram']['dirty-sync-count']} dirty syncs", True, "")]
    ok = all(c[1] for c in checks)
    for what, good, bound in checks:
        if bound:
            print(f"demo: {what:<28} {'ok' if good else 'OVER'}: {bound}")
        else:
            print(f"demo: {what}")
    print(f"DEMO {'OK' if ok else 'FAILED'} total_s={total / 1000:.2f} downtime_ms={down} "
          f"wire_gib={wire / (1 << 30):.2f} syncs={info['ram']['dirty-sync-count']} "
          f"throttle={info.get('cpu-throttle-percentage', 0)}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
