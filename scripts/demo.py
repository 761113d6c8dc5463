#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Live-migrate a running 1 GiB pagewalk guest over TCP and show what happened.

usage: demo.py KVMIG [--mem 1G] [--accel thread|kvm]
Starts a source and a destination kvmig, migrates over 127.0.0.1 with a
progress bar read from query-migrate, prints HMP `info migrate`, shows the
guest still making progress on the destination, and cleans up.
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


def bar(frac, width=40):
    n = int(frac * width)
    return "[" + "#" * n + "." * (width - n) + "]"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("kvmig")
    ap.add_argument("--mem", default="1G")
    ap.add_argument("--accel", default="thread")
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="kvmig-demo-")
    port = free_tcp_port()
    src = dst = None
    try:
        print(f"demo: starting the source: a {args.mem} guest running workload=pagewalk "
              f"({args.accel} accelerator)")
        src = VM(args.kvmig, tmp, "src", accel=args.accel, mem=args.mem).connect()
        src.wait_serial_count("B", 2, timeout=120)
        print(f"demo: the guest has made {src.serial_text().count('B')} passes over its RAM")
        print(f"demo: starting the destination: -incoming tcp:127.0.0.1:{port}")
        dst = VM(args.kvmig, tmp, "dst", accel=args.accel, mem=args.mem,
                 incoming=f"tcp:127.0.0.1:{port}").connect()

        src.qmp.command("migrate-set-capabilities",
                        capabilities=[{"capability": "events", "state": True}])
        src.qmp.command("migrate-set-parameters", **{"max-bandwidth": 0,
                                                     "downtime-limit": 300})
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
        before = dst.serial_text().count("B")
        dst.wait_serial_count("B", before + 2, timeout=120)
        print(f"demo: the guest keeps running on the destination: "
              f"{dst.serial_text().count('B') - before} more passes since switchover")
        print("demo: done")
        return 0
    finally:
        for vm in (src, dst):
            if vm:
                vm.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
