# SPDX-License-Identifier: GPL-2.0-or-later
"""The monitors end to end: a running kvmig guest driven over a real QMP
socket and over HMP (human-monitor-command, -monitor stdio, -monitor unix).
Expected texts are QEMU 7.2's where QEMU has the same command.

    test-monitor.py KVMIG [ACCEL] [CASE...]
"""
import json
import os
import socket
import subprocess
import sys
import time

from framework import VM, TestDir, check_pagewalk_invariant, kvm_gate, kvm_skip_reason, run_cases, SKIP

KVMIG = sys.argv[1]
ACCEL = sys.argv[2] if len(sys.argv) > 2 else "thread"
SELECTED = sys.argv[3:]
MEM = "256M"
MIB = 1 << 20


class RawQMP:
    """A QMP connection without any help: bytes in, JSON lines out."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.sock.settimeout(30)
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data if isinstance(data, bytes) else data.encode())

    def read(self, skip_events=True):
        while True:
            while b"\n" not in self.buf:
                d = self.sock.recv(65536)
                if not d:
                    raise EOFError("QMP closed")
                self.buf += d
            line, self.buf = self.buf.split(b"\n", 1)
            assert line.endswith(b"\r"), f"QMP lines end with CRLF as QEMU's: {line!r}"
            msg = json.loads(line)
            if skip_events and "event" in msg:
                continue
            return msg

    def xchg(self, data):
        self.send(data)
        return self.read()

    def close(self):
        self.sock.close()


def expect_error(reply, klass, desc=None, prefix=None):
    assert "error" in reply, f"expected an error, got {reply}"
    err = reply["error"]
    assert err["class"] == klass, f"class {err['class']} != {klass}: {err['desc']}"
    if desc is not None:
        assert err["desc"] == desc, f"desc {err['desc']!r} != {desc!r}"
    if prefix is not None:
        assert err["desc"].startswith(prefix), f"desc {err['desc']!r} !^ {prefix!r}"


def wait_event(qmp, name, timeout=10):
    """The next event @name (events read while waiting for replies count)."""
    deadline = time.monotonic() + timeout
    while True:
        for i, ev in enumerate(qmp.events):
            if ev["event"] == name:
                del qmp.events[i]
                return ev
        if time.monotonic() > deadline:
            raise AssertionError(f"no {name} event")
        qmp.sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            msg = qmp._read()
        except socket.timeout:
            continue
        finally:
            qmp.sock.settimeout(30)
        assert "event" in msg, f"unexpected reply {msg}"
        qmp.events.append(msg)


def start(tmp, name="mon", extra=()):
    vm = VM(KVMIG, tmp, name, accel=ACCEL, mem=MEM, extra=extra)
    deadline = time.monotonic() + 30
    while not os.path.exists(vm.qmp_path):
        if vm.proc.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"no QMP socket: {vm.stderr()}")
        time.sleep(0.02)
    return vm


def case_protocol():
    """Greeting, negotiation, errors, garbage, framing, id echo; then still serving."""
    with TestDir() as tmp:
        vm = start(tmp)
        try:
            q = RawQMP(vm.qmp_path)
            greeting = q.read()
            ver = greeting["QMP"]["version"]
            assert set(ver["qemu"]) == {"major", "minor", "micro"}, ver
            assert all(isinstance(v, int) for v in ver["qemu"].values()), ver
            assert ver["package"].startswith("kvmig"), ver
            assert greeting["QMP"]["capabilities"] == [], greeting

            expect_error(q.xchg('{"execute": "query-status"}\n'), "CommandNotFound",
                         "Expecting capabilities negotiation with 'qmp_capabilities'")
            assert q.xchg('{"execute": "qmp_capabilities", "id": 1}\n') == \
                {"return": {}, "id": 1}
            expect_error(q.xchg('{"execute": "qmp_capabilities"}\n'), "CommandNotFound",
                         "Capabilities negotiation is already complete, command ignored")
            expect_error(q.xchg('{"execute": "nosuch", "id": "a"}\n'), "CommandNotFound",
                         "The command nosuch has not been found")
            expect_error(q.xchg('{"execute": "stop", "arguments": {"a": 1}}\n'),
                         "GenericError", "Parameter 'a' is unexpected")
            expect_error(q.xchg('{"execute": "pmemsave"}\n'), "GenericError",
                         "Parameter 'val' is missing")
            expect_error(q.xchg('{"execute": "pmemsave", "arguments": {"val": "a", "size": 1, '
                                '"filename": "x"}}\n'), "GenericError",
                         "Invalid parameter type for 'val', expected: integer")
            expect_error(q.xchg('[1, 2]\n'), "GenericError", "QMP input must be a JSON object")
            expect_error(q.xchg('{"foo": 1}\n'), "GenericError",
                         "QMP input member 'foo' is unexpected")
            expect_error(q.xchg('{bad json\n}\n'), "GenericError", prefix="JSON parse error")
            expect_error(q.xchg(b'\x00\xff garbage }\n'), "GenericError")
            q.send('{"execute": "query-status", "id": "sync"}\n')
            r = q.read()
            while r.get("id") != "sync":    # the garbage may have made more errors
                expect_error(r, "GenericError")
                r = q.read()
            assert r["return"]["status"] == "running", r

            # id echo, any JSON value
            r = q.xchg('{"execute": "query-status", "id": [1, {"x": null}]}\n')
            assert r["id"] == [1, {"x": None}], r

            # one request in pieces, and two in one write
            for piece in ('{"exec', 'ute": "query-st', 'atus", "id"', ': 5}'):
                q.send(piece)
                time.sleep(0.05)
            assert q.read()["id"] == 5
            q.send('{"execute": "query-status", "id": 6}{"execute": "query-status", "id": 7}')
            assert q.read()["id"] == 6
            assert q.read()["id"] == 7

            # a client that leaves in the middle of a request or before its reply
            q.send('{"execute": "query-status", "arguments": {')
            q.close()
            q2 = RawQMP(vm.qmp_path)
            q2.read()
            q2.send('{"execute": "qmp_capabilities"}\n{"execute": "query-migrate-parameters"}\n')
            q2.close()

            # and the monitor still serves a new client
            vm.connect()
            assert vm.status() == "running"
            assert vm.proc.poll() is None
        finally:
            vm.kill()


def case_run_control():
    """query-status running; stop -> STOP -> paused; cont -> RESUME; HMP view."""
    with TestDir() as tmp:
        vm = start(tmp).connect()
        try:
            vm.wait_serial_count("B", 1)
            assert vm.qmp.command("query-status") == \
                {"status": "running", "singlestep": False, "running": True}
            assert vm.qmp.command("stop") == {}
            ev = wait_event(vm.qmp, "STOP")
            assert set(ev["timestamp"]) == {"seconds", "microseconds"}, ev
            assert vm.qmp.command("query-status") == \
                {"status": "paused", "singlestep": False, "running": False}
            assert vm.qmp.hmp("info status") == "VM status: paused\r\n"
            # a stopped guest makes no progress
            passes = vm.serial_text().count("B")
            time.sleep(0.5)
            assert vm.serial_text().count("B") == passes
            assert vm.qmp.command("cont") == {}
            wait_event(vm.qmp, "RESUME")
            assert vm.qmp.hmp("info status") == "VM status: running\r\n"
            vm.wait_serial_count("B", passes + 1)
            # HMP stop/cont through human-monitor-command
            assert vm.qmp.hmp("stop") == ""
            wait_event(vm.qmp, "STOP")
            assert vm.status() == "paused"
            assert vm.qmp.hmp("c") == ""
            wait_event(vm.qmp, "RESUME")
            assert vm.qmp.hmp("nosuch") == "unknown command: 'nosuch'\r\n"
            assert vm.qmp.hmp("info version").startswith("7.2.0 (kvmig")
        finally:
            vm.kill()


def case_capabilities_parameters():
    """Round trips, QEMU's range errors, and a failed request changes nothing."""
    with TestDir() as tmp:
        vm = start(tmp).connect()
        q = vm.qmp
        try:
            caps = {c["capability"]: c["state"] for c in q.command("query-migrate-capabilities")}
            for name in ("xbzrle", "compress", "auto-converge", "events", "multifd",
                         "rdma-pin-all", "return-path", "pause-before-switchover",
                         "postcopy-ram", "x-early-dirty-log-stop",
                         "x-switchover-at-threshold"):
                assert caps.get(name) is False, (name, caps)
            # no block devices: refused with QEMU's text for a capability it lacks
            assert "late-block-activate" not in caps, caps
            r = q.cmd("migrate-set-capabilities", capabilities=[
                {"capability": "late-block-activate", "state": True}])
            expect_error(r, "GenericError",
                         "Parameter 'capability' does not accept value 'late-block-activate'")
            q.command("migrate-set-capabilities", capabilities=[
                {"capability": "xbzrle", "state": True},
                {"capability": "events", "state": True}])
            caps = {c["capability"]: c["state"] for c in q.command("query-migrate-capabilities")}
            assert caps["xbzrle"] and caps["events"] and not caps["multifd"], caps
            r = q.cmd("migrate-set-capabilities", capabilities=[
                {"capability": "compress", "state": True},
                {"capability": "multifd", "state": True}])
            expect_error(r, "GenericError", "Multifd is not compatible with compress")
            assert "xbzrle: on\r\n" in q.hmp("info migrate_capabilities")
            assert q.hmp("migrate_set_capability xbzrle off") == ""
            assert "xbzrle: off\r\n" in q.hmp("info migrate_capabilities")

            p0 = q.command("query-migrate-parameters")
            assert p0["max-bandwidth"] == 134217728 and p0["downtime-limit"] == 300, p0
            assert p0["xbzrle-cache-size"] == 64 * MIB, p0
            q.command("migrate-set-parameters", **{"max-bandwidth": 100000000,
                                                   "downtime-limit": 123,
                                                   "xbzrle-cache-size": 128 * MIB})
            p1 = q.command("query-migrate-parameters")
            assert (p1["max-bandwidth"], p1["downtime-limit"], p1["xbzrle-cache-size"]) == \
                (100000000, 123, 128 * MIB), p1
            r = q.cmd("migrate-set-parameters", **{"downtime-limit": 7, "compress-level": 10})
            expect_error(r, "GenericError",
                         "Parameter 'compress_level' expects a value between 0 and 9")
            r = q.cmd("migrate-set-parameters", **{"xbzrle-cache-size": 5000})
            expect_error(r, "GenericError", "Parameter 'xbzrle_cache_size' expects a power of "
                         "two no less than the target page size")
            r = q.cmd("migrate-set-parameters", **{"multifd-channels": 0})
            expect_error(r, "GenericError",
                         "Parameter 'multifd_channels' expects a value between 1 and 255")
            assert q.command("query-migrate-parameters") == p1
            assert q.hmp("migrate_set_parameter max-bandwidth 100M") == ""
            out = q.hmp("info migrate_parameters")
            assert "max-bandwidth: 104857600 bytes/second\r\n" in out, out
            assert "downtime-limit: 123 ms\r\n" in out, out
            assert q.hmp("migrate_set_parameter downtime-limit 3000000") == \
                "Error: Parameter 'downtime_limit' expects an integer in the range of 0 to " \
                "(2000 * 1000) ms\r\n"
        finally:
            vm.kill()


def case_pmemsave():
    """pmemsave of the pagewalk guest's pages: the invariant, stable while
    stopped, progress after cont; errors outside RAM."""
    with TestDir() as tmp:
        vm = start(tmp).connect()
        q = vm.qmp
        try:
            vm.wait_serial_count("B", 2)
            q.command("stop")
            a = os.path.join(tmp, "a")
            b = os.path.join(tmp, "b")
            c = os.path.join(tmp, "c")
            size = 64 * MIB
            q.command("pmemsave", val=4 * MIB, size=size, filename=a)
            q.command("pmemsave", val=4 * MIB, size=size, filename=b)
            with open(a, "rb") as f:
                ma = f.read()
            with open(b, "rb") as f:
                mb = f.read()
            assert len(ma) == size
            assert ma == mb, "guest memory changed while stopped"
            first, steps = check_pagewalk_invariant(ma, start=0)
            assert any(ma[0::4096]), "the guest wrote nothing"
            q.command("cont")
            passes = vm.serial_text().count("B")
            vm.wait_serial_count("B", passes + 2)
            q.command("stop")
            q.command("pmemsave", val=4 * MIB, size=size, filename=c)
            with open(c, "rb") as f:
                mc = f.read()
            check_pagewalk_invariant(mc, start=0)
            assert mc[0::4096] != ma[0::4096], "no progress after cont"
            # the low 4 MiB as one piece with the rest: crosses no hole, works
            q.command("pmemsave", val=0, size=8 * MIB, filename=c)
            assert os.path.getsize(c) == 8 * MIB
            # ranges outside guest RAM are errors, and write no file
            r = q.cmd("pmemsave", val=256 * MIB - 4096, size=8192, filename=os.path.join(tmp, "x"))
            expect_error(r, "GenericError", prefix="Invalid addr 0x")
            assert not os.path.exists(os.path.join(tmp, "x"))
            r = q.cmd("pmemsave", val=0, size=-1, filename=os.path.join(tmp, "x"))
            expect_error(r, "GenericError", prefix="Invalid addr 0x")
            r = q.cmd("pmemsave", val=0, size=4096, filename="/nonexistent/dir/x")
            expect_error(r, "GenericError",
                         "Could not open '/nonexistent/dir/x': No such file or directory")
            q.command("cont")
        finally:
            vm.kill()


def case_getfd():
    """getfd over SCM_RIGHTS, replacing a name, closefd."""
    with TestDir() as tmp:
        vm = start(tmp).connect()
        q = vm.qmp
        try:
            expect_error(q.cmd("getfd", fdname="x"), "GenericError",
                         "No file descriptor supplied via SCM_RIGHTS")
            r1, w1 = os.pipe()
            r2, w2 = os.pipe()
            assert q.command("getfd", fds=[w1], fdname="out") == {}
            assert q.command("getfd", fds=[w2], fdname="out") == {}   # replaces, closes w1
            os.close(w1)
            os.close(w2)
            # kvmig's copy of w1 is closed: the read end sees EOF
            os.set_blocking(r1, False)
            assert os.read(r1, 1) == b""
            assert q.command("closefd", fdname="out") == {}
            os.set_blocking(r2, False)
            assert os.read(r2, 1) == b""
            expect_error(q.cmd("closefd", fdname="out"), "GenericError",
                         "File descriptor named 'out' not found")
            os.close(r1)
            os.close(r2)
        finally:
            vm.kill()


def case_other_commands():
    """query-version/commands, balloon without a device, migration errors, quit."""
    with TestDir() as tmp:
        vm = start(tmp).connect()
        q = vm.qmp
        try:
            v = q.command("query-version")
            assert v["qemu"] == {"major": 7, "minor": 2, "micro": 0}, v
            names = {c["name"] for c in q.command("query-commands")}
            for n in ("qmp_capabilities", "query-status", "stop", "cont", "quit", "pmemsave",
                      "getfd", "human-monitor-command", "migrate", "migrate-incoming",
                      "migrate_cancel", "query-migrate", "migrate-set-capabilities",
                      "query-migrate-capabilities", "migrate-set-parameters",
                      "query-migrate-parameters", "migrate-continue", "balloon",
                      "query-balloon"):
                assert n in names, n
            r = q.cmd("query-balloon")
            if "error" in r:
                expect_error(r, "DeviceNotActive", "No balloon device has been activated")
            expect_error(q.cmd("migrate-continue", state="bogus"), "GenericError",
                         "Parameter 'state' does not accept value 'bogus'")
            expect_error(q.cmd("migrate", uri="tcp:127.0.0.1:1", blk=1), "GenericError",
                         "Invalid parameter type for 'blk', expected: boolean")
            assert q.command("query-migrate") == {}
            assert q.hmp("info migrate") == ""
            assert q.command("quit") == {}
            assert vm.wait_exit() == 0
        finally:
            vm.kill()


def read_until(stream, marker, timeout=20):
    """Read a pipe until @marker shows up; return everything read."""
    os.set_blocking(stream.fileno(), False)
    out = b""
    deadline = time.monotonic() + timeout
    while marker not in out:
        if time.monotonic() > deadline:
            raise AssertionError(f"no {marker!r} in {out!r}")
        try:
            d = os.read(stream.fileno(), 65536)
        except BlockingIOError:
            time.sleep(0.02)
            continue
        if not d:
            raise AssertionError(f"EOF before {marker!r}: {out!r}")
        out += d
    return out


def case_hmp_stdio():
    """-monitor stdio: banner, prompt, commands, QEMU's layouts, quit."""
    with TestDir() as tmp:
        serial = os.path.join(tmp, "serial.log")
        p = subprocess.Popen([KVMIG, "-accel", ACCEL, "-m", MEM, "-append", "workload=pagewalk",
                              "-monitor", "stdio", "-serial", f"file:{serial}",
                              "-display", "none"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL)
        try:
            out = read_until(p.stdout, b"(qemu) ")
            assert b"monitor - type 'help' for more information\r\n" in out, out
            p.stdin.write(b"info status\n")
            p.stdin.flush()
            assert read_until(p.stdout, b"(qemu) ") == b"VM status: running\r\n(qemu) "
            p.stdin.write(b"stop\ninfo status\n")
            p.stdin.flush()
            out = read_until(p.stdout, b"paused\r\n(qemu) ")
            assert out == b"(qemu) VM status: paused\r\n(qemu) ", out
            p.stdin.write(b"migrate_set_capability xbzrle on\ninfo migrate_capabilities\n")
            p.stdin.flush()
            out = read_until(p.stdout, b"x-switchover-at-threshold: off\r\n(qemu) ")
            assert out.startswith(b"(qemu) xbzrle: on\r\nrdma-pin-all: off\r\n"), out
            p.stdin.write(b"help cont\n")
            p.stdin.flush()
            out = read_until(p.stdout, b"(qemu) ")
            assert out.startswith(b"cont|c  -- "), out
            p.stdin.write(b"quit\n")
            p.stdin.flush()
            assert p.wait(20) == 0
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()


def case_hmp_unix():
    """-monitor unix:...: the same over a socket, clients one after another."""
    with TestDir() as tmp:
        hmp_path = os.path.join(tmp, "hmp.sock")
        vm = start(tmp, extra=["-monitor", f"unix:{hmp_path},server=on,wait=off"])
        try:
            for _ in range(2):
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(hmp_path)
                s.settimeout(20)
                out = b""
                while b"(qemu) " not in out:
                    out += s.recv(4096)
                s.sendall(b"info status\r\n")
                out = b""
                while not out.endswith(b"(qemu) "):
                    out += s.recv(4096)
                assert out == b"VM status: running\r\n(qemu) ", out
                s.close()
            vm.connect()
            assert vm.status() == "running"
        finally:
            vm.kill()


def main():
    if ACCEL == "kvm":
        kvm_gate()
    run_cases([
        ("protocol", case_protocol),
        ("run-control", case_run_control),
        ("capabilities-parameters", case_capabilities_parameters),
        ("pmemsave", case_pmemsave),
        ("getfd", case_getfd),
        ("other-commands", case_other_commands),
        ("hmp-stdio", case_hmp_stdio),
        ("hmp-unix", case_hmp_unix),
    ], SELECTED)


if __name__ == "__main__":
    main()
