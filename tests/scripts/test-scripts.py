#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The benchmark scripts' own rules, without running a benchmark:

- bench-*.py: benchlib.wait_migration refuses a run that reports
  total-time 0 or is read before `completed` (BadRun), and with_retries
  retries such a run and gives up after the last try: a bad run is an
  error or a retry, never a median input.
- guestperf.py needs Debian's python3-matplotlib: started by an interpreter
  that cannot import it (here /usr/bin/python3 -S, which sees no Debian
  packages, as a pyenv python3 first on PATH), it re-runs itself under
  /usr/bin/python3 and draws its plots (--compare on two small results).
  Skipped (77) only where /usr/bin/python3 itself has no matplotlib.

usage: test-scripts.py
"""
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = os.path.join(HERE, "..", "..", "scripts")
sys.path.insert(0, SCRIPTS)
import benchlib  # noqa: E402

SKIP = 77


class FakeQMP:
    """query-migrate answers, one per call, the last one repeated."""

    def __init__(self, *answers):
        self.answers = list(answers)

    def command(self, name, **kw):
        assert name == "query-migrate", name
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


GOOD = {"status": "completed", "total-time": 1234, "downtime": 17,
        "ram": {"transferred": 1 << 30}}


def refused(answers, why):
    try:
        info = benchlib.wait_migration(FakeQMP(*answers), "qemu", 5, 0)
    except benchlib.BadRun as e:
        print(f"ok refused ({why}): {e}")
        return
    raise AssertionError(f"{why}: accepted as a median input: {info}")


def test_bad_runs():
    refused([dict(GOOD, **{"total-time": 0, "downtime": 0})], "total-time 0")
    refused([{k: v for k, v in GOOD.items() if k != "total-time"}], "no total-time")
    refused([{k: v for k, v in GOOD.items() if k != "downtime"}], "no downtime")
    refused([dict(GOOD, ram={"transferred": 0})], "nothing transferred")
    info = benchlib.wait_migration(FakeQMP({"status": "active"}, GOOD), "kvmig", 5, 0)
    assert info == GOOD, info
    try:
        benchlib.check_completed({"status": "active", "total-time": 500}, "qemu")
        raise AssertionError("a run read while active was accepted")
    except benchlib.BadRun as e:
        print(f"ok refused (read before completed): {e}")
    # with_retries: a bad run is retried; the good one is the result
    runs = iter([benchlib.BadRun("total-time 0"), GOOD])

    def one():
        r = next(runs)
        if isinstance(r, Exception):
            raise r
        return r
    assert benchlib.with_retries(one, "qemu default") == GOOD
    try:
        benchlib.with_retries(lambda: benchlib.check_completed(
            dict(GOOD, **{"total-time": 0}), "qemu"), "qemu default", tries=2)
        raise AssertionError("with_retries returned a bad run")
    except benchlib.BadRun:
        print("ok retried a bad run, then gave up")


def summary(vmm):
    return {"vmm": vmm, "accel": "thread", "mem": "1G", "smp": 1, "workload": "stress",
            "caps": [], "params": {}, "status": "completed", "total_time_ms": 900,
            "downtime_ms": 20, "timed_out": False, "max_time_s": 300,
            "max_cpu_throttle_pct": 0,
            "guest_ms_per_gib": {"before_median": 300, "during_median": 400,
                                 "during_worst": 900, "after_median": 300,
                                 "host_during_worst": 950}}


def test_guestperf_interpreter():
    r = subprocess.run(["/usr/bin/python3", "-c", "import matplotlib"], capture_output=True)
    if r.returncode:
        print("SKIP: /usr/bin/python3 has no matplotlib (apt install python3-matplotlib)")
        return False
    with tempfile.TemporaryDirectory() as d:
        dirs = []
        for vmm in ("kvmig", "qemu"):
            rd = os.path.join(d, vmm)
            os.mkdir(rd)
            with open(os.path.join(rd, "result.json"), "w") as f:
                json.dump({"guest": [{"t": 0.5, "side": "src", "ms_per_gib": 300},
                                     {"t": 1.5, "side": "dst", "ms_per_gib": 310}],
                           "migration": [{"t": 0.1, "status": "active", "mbps": 800,
                                          "remaining": 1 << 20},
                                         {"t": 0.9, "status": "completed", "downtime": 20}],
                           "summary": summary(vmm)}, f)
            dirs.append(rd)
        env = dict(os.environ)
        env.pop("KVMIG_REEXEC", None)
        r = subprocess.run(["/usr/bin/python3", "-S", os.path.join(SCRIPTS, "guestperf.py"),
                            "--compare", *dirs, "--output", d],
                           capture_output=True, text=True, timeout=120, env=env)
        if r.returncode or not os.path.exists(os.path.join(d, "compare.png")):
            raise AssertionError(f"guestperf under an interpreter without matplotlib: exit "
                                 f"{r.returncode}: {r.stdout}{r.stderr}")
    print("ok guestperf re-ran itself under /usr/bin/python3 and drew compare.png")
    return True


def main():
    test_bad_runs()
    if not test_guestperf_interpreter():
        sys.exit(SKIP)


if __name__ == "__main__":
    main()
