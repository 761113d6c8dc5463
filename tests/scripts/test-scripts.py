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
- guestperf.py --methods: the progress figures (steady baseline without
  first-touch lines, the longest gap, back within 2x), the rotation and
  each method's capabilities, medians (over the completed runs, a run not
  back counting as the slowest), a table where unfinished and failed runs
  are rows, and --replot drawing methods.png from a methods.json.

usage: test-scripts.py
"""
import importlib.util
import json
import os
import re
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


def load_guestperf():
    spec = importlib.util.spec_from_file_location("guestperf",
                                                  os.path.join(SCRIPTS, "guestperf.py"))
    gp = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gp)
    return gp


def test_guestperf_figures():
    gp = load_guestperf()

    def g(t, v, side="src"):
        return {"t": t, "side": side, "ms_per_gib": v}
    # 2 first-touch lines (slow), steady 100 before; a 1.5 s gap during the
    # migration; completion at 10: 500 (a GiB begun during it), 150, 900, 180, 190
    guest = [g(-5, 4000), g(-4.5, 3000), g(-4, 100), g(-3, 90), g(-2, 110), g(-0.2, 100),
             g(1, 120), g(2, 130), g(3.5, 140), g(4, 150), g(5, 160), g(6, 170), g(7, 180),
             g(8, 190), g(9, 200),
             g(10.2, 500, "dst"), g(10.4, 150, "dst"), g(10.6, 900, "dst"),
             g(10.9, 180, "dst"), g(11.3, 190, "dst")]
    f = gp.progress_figures(guest, 2, 10.0, 10.0, 12.0)
    assert f["steady_before_median"] == 100, f
    assert f["steady_before_entries"] == 4, f
    assert f["longest_gap_s"] == 1.5 and f["longest_gap_at_s"] == 2, f
    assert not f["longest_gap_open"], f
    # back: the first entry within 2x after the last one above it (900 at 10.6)
    assert abs(f["back_within_2x_s"] - 0.9) < 1e-9, f
    assert abs(f["first_within_2x_s"] - 0.4) < 1e-9, f
    assert f["worst_after_completion_ms_per_gib"] == 900, f
    # the last entry seen above 2x: not back; nothing after 7 during the migration:
    # an open gap to the end of the watch
    f = gp.progress_figures(guest[:13] + [g(10.3, 150, "dst"), g(10.8, 450, "dst")],
                            2, 10.0, 10.0, 12.0)
    assert f.get("not_back") and f["back_within_2x_s"] is None, f
    assert f["longest_gap_s"] == 3.3 and f["longest_gap_at_s"] == 7, f
    f = gp.progress_figures(guest[:13], 2, None, 20.0, 20.5)
    assert f["longest_gap_open"] and f["longest_gap_s"] == 13.5, f
    assert f["back_within_2x_s"] is None and f["first_within_2x_s"] is None, f
    print("ok guestperf progress figures: baseline, gaps, back within 2x")

    assert gp.rotate(["a", "b", "c"], 0) == ["a", "b", "c"]
    assert gp.rotate(["a", "b", "c"], 1) == ["b", "c", "a"]
    assert gp.rotate(["a", "b", "c"], 4) == ["b", "c", "a"]
    b = gp.method_args(gp.argparse.Namespace(cap=["xbzrle"], postcopy=None,
                                             postcopy_preempt=False, qemu=False),
                       "postcopy-preempt", "qemu")
    assert b.qemu and b.postcopy == "1" and b.postcopy_preempt and b.cap == ["xbzrle"], b
    b = gp.method_args(b, "auto-converge", "kvmig")
    assert not b.qemu and b.postcopy is None and b.cap == ["xbzrle", "auto-converge"], b
    print("ok guestperf --methods: rotation and each method's capabilities")
    return gp


def methods_data():
    def row(rnd, method, result, completed, total=None, back=None, not_back=False):
        return {"round": rnd, "method": method, "vmm": "kvmig", "accel": "thread",
                "status": "completed" if completed else "cancelled", "completed": completed,
                "timed_out": result.startswith("did not"), "result": result,
                "total_s": total, "end_s": total or 30.1, "downtime_ms": 10 if completed else None,
                "switch_s": 1.0 if method == "postcopy" else None,
                "after_switch_s": total - 1.0 if method == "postcopy" and total else None,
                "src_cpu_s": 5.0 + rnd, "src_vmm_cpu_s": 0.5, "dst_cpu_s": 1.0,
                "dst_vmm_cpu_s": 0.9, "before_ms_per_gib": 100 + rnd,
                "longest_gap_s": 0.5 * rnd, "longest_gap_open": False,
                "back_within_2x_s": back, "first_within_2x_s": back, "not_back": not_back,
                "guest": [[-1.0, "src", 100], [0.5, "src", 300],
                          [(total or 30) + 0.5, "dst", 120]]}
    runs = [row(1, "precopy", "did not finish in 30 s", False),
            row(1, "postcopy", "completed", True, 4.0, 0.2),
            row(2, "postcopy", "completed", True, 5.0, None, True),
            row(2, "precopy", "error: src: kvmig exited: a | b\nsecond line", False),
            row(3, "precopy", "did not finish in 30 s", False),
            row(3, "postcopy", "completed", True, 6.0, 0.4)]
    runs[3].update(status="error", guest=[])
    return {"config": {"mem": "1G", "smp": 2, "workload": "stress", "accel": "thread",
                       "qemu_accel": None, "caps": [],
                       "params": {"max-bandwidth": 100000000}, "postcopy": "1",
                       "methods": ["precopy", "postcopy"], "runs": 3, "max_time_s": 30.0,
                       "post_s": 5.0, "warmup_s": 5.0},
            "notes": [], "runs": runs, "medians": []}


def test_guestperf_methods_table(gp):
    data = methods_data()
    meds = {m["method"]: m for m in gp.medians(["precopy", "postcopy"], data["runs"])}
    pre, post = meds["precopy"], meds["postcopy"]
    assert pre["completed"] == 0 and pre["runs"] == 3 and pre["total_s"] is None, pre
    assert pre["over"].startswith("all runs"), pre
    assert post["completed"] == 3 and post["total_s"] == 5.0, post
    # 0.2, not back, 0.4: the one not back counts as the slowest
    assert post["back_within_2x_s"] == 0.4 and not post["not_back"], post
    data["medians"] = list(meds.values())
    text = gp.table(data)
    lines = [ln for ln in text.splitlines() if ln.startswith("| ")]
    # every run is a row, the failed one too, then one median row per method
    assert len(lines) == 1 + 6 + 2, text
    assert sum("did not finish in 30 s" in ln for ln in lines) == 2, text
    assert any("error: src: kvmig exited" in ln for ln in lines), text
    # a VMM's error text keeps to its cell
    cols = {len(re.findall(r"(?<!\\)\|", ln)) for ln in lines}
    assert len(cols) == 1, text
    assert any("not back" in ln for ln in lines), text
    assert any("none of 3 completed" in ln for ln in lines), text
    print("ok guestperf --methods table: failed and unfinished runs shown, medians")
    return data


def test_guestperf_replot(data):
    failed = dict(data, runs=[dict(r, result="error: x", status="error", completed=False,
                                   guest=[]) for r in data["runs"]])
    for data in (data, failed):
        replot(data)


def replot(data):
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "methods.json"), "w") as f:
            json.dump(data, f)
        env = dict(os.environ)
        env.pop("KVMIG_REEXEC", None)
        r = subprocess.run(["/usr/bin/python3", os.path.join(SCRIPTS, "guestperf.py"),
                            "--replot", d], capture_output=True, text=True, timeout=120,
                           env=env)
        if r.returncode or not os.path.exists(os.path.join(d, "methods.png")):
            raise AssertionError(f"guestperf --replot: exit {r.returncode}: "
                                 f"{r.stdout}{r.stderr}")
        with open(os.path.join(d, "methods.md")) as f:
            assert "none of 3 completed" in f.read()
    print(f"ok guestperf --replot drew methods.png and methods.md "
          f"({sum(r['completed'] for r in data['runs'])} runs completed)")


def main():
    test_bad_runs()
    data = test_guestperf_methods_table(test_guestperf_figures())
    if not test_guestperf_interpreter():
        sys.exit(SKIP)
    test_guestperf_replot(data)


if __name__ == "__main__":
    main()
