#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The migration-test framework's own rules, each checked on a tiny program
that uses run_cases as the test scripts do: a selected case name that
matches nothing exits 1 and names it; a case that raises Skip makes the
program exit 77 (meson's skip), alone or beside passing cases; a failure
wins over a skip; all passing exits 0.

usage: test-framework.py
"""
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
PROGRAM = """
import sys
sys.path.insert(0, {here!r})
from framework import Skip, run_cases

def skip():
    raise Skip("no tmpfs here")

def fail():
    raise AssertionError("broken")

cases = [("pass", lambda: None), ("skip", skip), ("fail", fail)]
run_cases(cases, sys.argv[1:])
"""


def run(*names):
    r = subprocess.run([sys.executable, "-c", PROGRAM.format(here=HERE), *names],
                       capture_output=True, text=True, timeout=30)
    return r.returncode, r.stdout


def expect(names, rc, needle):
    got_rc, out = run(*names)
    if got_rc != rc or needle not in out:
        raise AssertionError(f"cases {list(names)}: exit {got_rc} (want {rc}), output "
                             f"{out!r} (want {needle!r})")
    print(f"ok {' '.join(names) or '(all)'}: exit {rc}")


def main():
    expect(["pass"], 0, "ok pass")
    expect(["pass", "pas"], 1, "unknown case: pas")
    expect(["skip"], 77, "SKIP skip: no tmpfs here")
    expect(["pass", "skip"], 77, "1 skipped (skip), 1 passed")
    expect(["skip", "fail"], 1, "FAIL fail: broken")
    expect([], 1, "1 failed: fail")


if __name__ == "__main__":
    main()
