# SPDX-License-Identifier: GPL-2.0-or-later
"""Helpers shared by the benchmark scripts in scripts/ (bench-*.py,
guestperf.py): size parsing, /proc/meminfo, medians and ratios over result
rows, and a VMM process (kvmig or qemu-system-x86_64) with a QMP unix
socket, a serial log and a stderr log.

Python standard library only; the QMP client is tests/migration/qmp.py.
"""
import os
import re
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "migration"))
from qmp import QMP  # noqa: E402


DEBIAN_PYTHON = "/usr/bin/python3"


def need_debian_python(*modules):
    """Make sure @modules import, re-running this script under Debian's
    interpreter if they do not: scripts/setup.sh installs them as Debian
    packages (python3-matplotlib, ...), which only /usr/bin/python3 sees,
    and the python3 first on PATH may be another (pyenv, a venv).  Exits
    with one line if they are missing there too."""
    missing = []
    for m in modules:
        try:
            __import__(m)
        except ImportError:
            missing.append(m)
    if not missing:
        return
    if os.environ.get("KVMIG_REEXEC") != DEBIAN_PYTHON and os.access(DEBIAN_PYTHON, os.X_OK):
        os.environ["KVMIG_REEXEC"] = DEBIAN_PYTHON
        os.execv(DEBIAN_PYTHON, [DEBIAN_PYTHON, os.path.abspath(sys.argv[0])] + sys.argv[1:])
    raise SystemExit(f"{os.path.basename(sys.argv[0])}: {', '.join(missing)} missing under "
                     f"{sys.executable} (scripts/setup.sh installs Debian's python3-"
                     f"{missing[0]} for {DEBIAN_PYTHON})")


def add_vmm_args(ap):
    """The options every bench-*.py takes first: --build, --kvmig, --guest
    (both default to paths under --build) and --qemu."""
    ap.add_argument("--build", default=os.path.join(HERE, "..", "build"))
    ap.add_argument("--kvmig")
    ap.add_argument("--guest")
    ap.add_argument("--qemu", default="qemu-system-x86_64")


def kvm_opens():
    """True if /dev/kvm can be opened read-write here."""
    try:
        os.close(os.open("/dev/kvm", os.O_RDWR))
        return True
    except OSError:
        return False


def qemu_accel_for(kvmig_accel):
    """QEMU's -accel beside a kvmig run on @kvmig_accel: kvm where kvmig runs
    kvm and /dev/kvm opens (the only setting that compares two migrations of
    one guest), else tcg, which benchmarks label as a fallback."""
    return "kvm" if kvmig_accel.split(",")[0] == "kvm" and kvm_opens() else "tcg"


def accel_note(kvmig_accel, qemu_accel):
    """One line that says what a kvmig/QEMU ratio of this run compares."""
    if qemu_accel == "kvm" and kvmig_accel.split(",")[0] == "kvm":
        return "# kvmig -accel kvm vs QEMU -accel kvm: the same guest on the same accelerator"
    return (f"# kvmig -accel {kvmig_accel} vs QEMU -accel {qemu_accel}: two different "
            "guests' speeds, not a comparison of migrations (no win over QEMU is shown)")


def add_accel_arg(ap):
    """--accel for the scripts that had kvmig on thread only."""
    ap.add_argument("--accel", default="thread",
                    help="kvmig's -accel (kvm, thread, thread,dirty=soft); QEMU runs "
                         "-accel kvm when this is kvm and /dev/kvm opens, else tcg")


def mem_bytes(size):
    """A -m style size: K/M/G/T suffixes are binary, no suffix means MiB."""
    units = {"K": 10, "M": 20, "G": 30, "T": 40}
    u = size[-1].upper()
    return int(size[:-1]) << units[u] if u in units else int(size) << 20


def mem_available():
    """MemAvailable from /proc/meminfo in bytes (0 if absent)."""
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) << 10
    return 0


def parse_value(v):
    """A QMP parameter's value from the command line: on/off, a number with
    an optional binary K/M/G/T suffix, else the string."""
    low = v.lower()
    if low in ("on", "true", "yes"):
        return True
    if low in ("off", "false", "no"):
        return False
    m = re.fullmatch(r"(\d+)([kKmMgGtT]?)", v)
    if m:
        mult = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
        return int(m.group(1)) * mult[m.group(2).lower()]
    return v


def parse_param(p):
    """NAME=VALUE (--param) as (name, parse_value(VALUE))."""
    if "=" not in p:
        raise SystemExit(f"--param {p}: expected NAME=VALUE")
    k, v = p.split("=", 1)
    return k, parse_value(v)


def med(rows, key):
    """Median of row[key] over the rows that have it, or None."""
    vals = [r[key] for r in rows if r.get(key) is not None]
    return statistics.median(vals) if vals else None


def ratio(a, b):
    """a / b, or None if either is None or b is 0."""
    return a / b if a is not None and b else None


FINAL = ("completed", "failed", "cancelled")


class BadRun(RuntimeError):
    """A run whose figures cannot be a median input (see check_completed)."""


def check_completed(info, who):
    """Return @info, a source's query-migrate answer, if it is a completed
    migration's: status completed, total-time above 0, a downtime, bytes
    transferred.  Else raise BadRun naming @who and what is missing: a run
    read before it completed, or one that reports no time, is an error or
    a retry for the caller, never a median input."""
    status = info.get("status")
    if status != "completed":
        raise BadRun(f"{who}: read while {status!r}, not completed")
    total = info.get("total-time")
    if not isinstance(total, int) or total <= 0:
        raise BadRun(f"{who}: completed with total-time {total!r}")
    if not isinstance(info.get("downtime"), int) or info["downtime"] < 0:
        raise BadRun(f"{who}: completed without a downtime: {info.get('downtime')!r}")
    if info.get("ram", {}).get("transferred", 0) <= 0:
        raise BadRun(f"{who}: completed with nothing transferred: {info.get('ram')}")
    return info


def wait_migration(qmp, who, timeout, poll):
    """Poll query-migrate on @qmp every @poll s until the migration ends;
    return the last answer if it completed (check_completed), raise (naming
    @who) if it failed, was cancelled, is still running after @timeout s,
    or completed without its figures (BadRun)."""
    deadline = time.monotonic() + timeout
    while True:
        info = qmp.command("query-migrate")
        if info.get("status") in FINAL:
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"{who}: migration still {info.get('status')}")
        time.sleep(poll)
    if info["status"] != "completed":
        raise RuntimeError(f"{who}: migration {info['status']}: {info.get('error-desc')}")
    return check_completed(info, who)


def with_retries(fn, who, tries=3):
    """fn() until it returns without BadRun, at most @tries times; each bad
    run is said on stderr; the last one's BadRun propagates."""
    for i in range(tries):
        try:
            return fn()
        except BadRun as e:
            print(f"# {who}: bad run ({e}), {'retrying' if i + 1 < tries else 'giving up'}",
                  file=sys.stderr, flush=True)
            if i + 1 == tries:
                raise


CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """utime + stime of process @pid (all its threads), seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is the state (field 3): utime and stime are fields 14 and 15
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


# kvmig's vCPU threads (system/cpus.c) and QEMU's with -name debug-threads=on
VCPU_THREAD = re.compile(r"vcpu\d+|CPU \d+/\w+")


def vcpu_thread_seconds(pid):
    """{tid: utime + stime} of the live vCPU threads of process @pid (named
    as VCPU_THREAD), seconds; {} if the process is gone.  A vCPU thread
    runs the guest (KVM's guest mode, the thread accelerator's workload),
    so cpu_seconds() minus these is the VMM's own work."""
    out = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                stat = f.read()
        except OSError:
            continue    # exited meanwhile
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        if VCPU_THREAD.fullmatch(comm):
            fields = stat.rsplit(")", 1)[1].split()
            out[int(tid)] = (int(fields[11]) + int(fields[12])) / CLK_TCK
    return out


class Side:
    """One VMM process with a QMP socket, a serial log and a stderr log in @d.

    @args is the command line without -qmp/-serial/-display (added here);
    @incoming adds -incoming.  @new_session starts the process in its own
    session, @poll is the period the QMP socket is waited for with, and
    @name_in_errors prefixes start-up errors with @name."""

    def __init__(self, args, d, name, incoming=None, new_session=False, poll=0.01,
                 name_in_errors=True):
        self.name = name
        self.qmp_path = os.path.join(d, f"{name}.qmp")
        self.serial = os.path.join(d, f"{name}.log")
        self.errlog = os.path.join(d, f"{name}.err")
        args = list(args) + ["-qmp", f"unix:{self.qmp_path},server=on,wait=off",
                             "-serial", f"file:{self.serial}", "-display", "none"]
        if incoming:
            args += ["-incoming", incoming]
        self.args = args
        self.err = open(self.errlog, "wb")
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=self.err,
                                     start_new_session=new_session)
        who = f"{name}: {args[0]}" if name_in_errors else args[0]
        deadline = time.monotonic() + 60
        while not os.path.exists(self.qmp_path):
            if self.proc.poll() is not None:
                raise RuntimeError(f"{who} exited: {self.stderr()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name if name_in_errors else args[0]}: no QMP socket")
            time.sleep(poll)
        self.qmp = QMP(self.qmp_path)

    def stderr(self):
        with open(self.errlog, "rb") as f:
            return f.read().decode(errors="replace").strip()

    def serial_has(self, ch):
        """Has the guest printed @ch on its serial port?"""
        try:
            with open(self.serial, "rb") as f:
                return ch.encode() in f.read()
        except FileNotFoundError:
            return False

    def cpu(self):
        """CPU seconds the process used so far."""
        return cpu_seconds(self.proc.pid)

    def kill(self):
        try:
            self.qmp.close()
        except Exception:
            pass
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.err.close()


def migrate_measured(src, dst, uri, who, timeout):
    """migrate @src to @uri (the destination @dst listens already) and wait
    until the source completed and the destination runs.  Returns the
    source's last query-migrate and the CPU seconds each process used from
    the migrate command to its end of it; raises naming @who on a failure,
    an exited destination or @timeout s."""
    cpu0 = (src.cpu(), dst.cpu())
    src.qmp.command("migrate", uri=uri)
    deadline = time.monotonic() + timeout
    info, src_cpu, dst_cpu = {}, None, None
    while src_cpu is None or dst_cpu is None:
        if src_cpu is None:
            info = src.qmp.command("query-migrate")
            if info.get("status") in FINAL:
                src_cpu = src.cpu() - cpu0[0]
                if info["status"] != "completed":
                    raise RuntimeError(f"{who}: migration {info['status']}: "
                                       f"{info.get('error-desc')}")
        if dst_cpu is None and dst.qmp.command("query-status")["status"] == "running":
            dst_cpu = dst.cpu() - cpu0[1]
        if dst.proc.poll() is not None:
            raise RuntimeError(f"{who}: destination exited: {dst.stderr()}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{who}: migration still {info.get('status')}")
        time.sleep(0.01)
    return info, src_cpu, dst_cpu
