# SPDX-License-Identifier: GPL-2.0-or-later
"""A small QMP client (Python 3 standard library): commands, events, fd passing."""
import array
import json
import socket
import time


class QMPError(Exception):
    """A QMP command answered with an error; .desc holds QEMU's text."""

    def __init__(self, cmd, error):
        self.desc = error.get("desc", "")
        self.klass = error.get("class", "")
        super().__init__(f"{cmd}: {self.klass}: {self.desc}")


class QMP:
    """Connect to a QMP unix socket, negotiate capabilities, run commands.

    Events that arrive while waiting for a reply are kept in .events.
    """

    def __init__(self, path, timeout=30.0):
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.connect(path)
                break
            except OSError:
                self.sock.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self.sock.settimeout(timeout)
        self.buf = b""
        self.events = []
        self.greeting = self._read()
        self.command("qmp_capabilities")

    def _read(self):
        while b"\n" not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                raise EOFError("QMP connection closed")
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def cmd(self, name, fds=None, **args):
        """Send a command; return the whole reply (dict with return or error)."""
        msg = {"execute": name}
        if args:
            msg["arguments"] = args
        data = (json.dumps(msg) + "\n").encode()
        if fds:
            anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))]
            self.sock.sendmsg([data], anc)
        else:
            self.sock.sendall(data)
        while True:
            reply = self._read()
            if "event" in reply:
                self.events.append(reply)
                continue
            return reply

    def command(self, name, fds=None, **args):
        """Send a command; return its "return" value or raise QMPError."""
        reply = self.cmd(name, fds=fds, **args)
        if "error" in reply:
            raise QMPError(name, reply["error"])
        return reply["return"]

    def hmp(self, line):
        return self.command("human-monitor-command", **{"command-line": line})

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
