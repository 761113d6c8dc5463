#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Bad command lines fail at once: one line on stderr, exit status 1."""
import subprocess
import sys

BAD = [
    (["-m", "12Q"], "12Q"),
    (["-bogus"], "invalid option"),
    (["-accel", "tcg"], "invalid accelerator"),
    (["-accel", "thread,dirty=pml"], "invalid dirty log 'pml'"),
    (["-accel", "thread,dirty="], "invalid dirty log ''"),
    (["-accel", "thread,ring=4096"], "unknown property 'ring=4096'"),
    (["-accel", "kvm,dirty=soft"], "property of the thread accelerator"),
    (["-accel", "tcg,dirty=soft"], "invalid accelerator"),
    (["-smp", "0"], "-smp"),
    (["-incoming", "nonsense"], "nonsense"),
    (["-incoming", "tcp:"], "tcp:"),
    (["-incoming", "tcp:localhost:notaport"], "notaport"),
    (["-serial", "tty"], "-serial"),
    (["-device", "e1000"], "e1000"),
    (["-qmp", "tcp:1.2.3.4:5"], "tcp:1.2.3.4:5"),
    (["-monitor", "vc"], "vc"),
    (["-accel", "thread", "-append", "workload=nosuch"], "nosuch"),
    (["-accel", "thread", "-kernel", "/nonexistent.elf", "-append", "x"], None),
]


def main():
    kvmig = sys.argv[1]
    failures = 0
    for args, needle in BAD:
        if needle is None:
            continue
        p = subprocess.run([kvmig, *args, "-serial", "none", "-display", "none"],
                           capture_output=True, timeout=30)
        err = p.stderr.decode()
        lines = [l for l in err.splitlines()
                 if l and not l.startswith("kvmig: using") and "not usable" not in l]
        ok = p.returncode == 1 and len(lines) == 1 and needle in lines[0]
        print(f"{'ok' if ok else 'FAIL'}: {' '.join(args)} -> {p.returncode} {lines}")
        failures += not ok
    p = subprocess.run([kvmig, "-help"], capture_output=True, timeout=30)
    ok = p.returncode == 0 and b"-incoming" in p.stdout
    print(f"{'ok' if ok else 'FAIL'}: -help")
    failures += not ok
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
