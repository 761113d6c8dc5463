#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""migration-test, TLS: the stream encrypted and authenticated with GnuTLS,
configured as QEMU's (-object tls-creds-x509 / authz-list, the tls-creds,
tls-hostname and tls-authz parameters), credentials made here with certtool.

A running pagewalk guest moves with TLS on the main channel, the return path
and every multifd channel (and, in a second case, with xbzrle on the main
channel: multifd sends no XBZRLE records), an authz-list that admits it,
through a proxy that records the wire: the invariant holds on the
destination, the session is AES-GCM, and the recorded bytes never hold the
stream header "QEVM" + version (which the same proxy does see in a
plaintext run).
Every failure -- a CA the source does not trust, a hostname the certificate
does not carry, a plaintext source to a TLS destination and the reverse, an
authz that refuses the source, a byte flipped on the wire -- ends with one
line naming why, the source's guest running on, and the destination gone
(exit status 1) without having run the guest.  The parameters, objects and
transports that refuse TLS are checked over QMP and HMP.  Postcopy with
postcopy-preempt runs over TLS through a migrate-pause and a recovery, every
new channel wrapped as the first ones.

usage: test-tls.py KVMIG ACCEL [CASE...]
"""
import os
import socket
import sys
import threading
import time

from framework import (main, VM, TestDir, check_pagewalk_invariant, converge, query,
                       set_params, wait_migration)
import tlscerts

KVMIG = sys.argv[1]
ACCEL = sys.argv[2]
MEM = "256M" if ACCEL == "thread" else "128M"
MEM_BYTES = int(MEM[:-1]) << 20
FAST = 100 * 1000 * 1000 * 1000     # max-bandwidth: effectively unlimited
DST_NAME = "dst.example"            # the name in the destination's certificate
# The stream's first 8 bytes, magic "QEVM" and version 3.  The 4-byte magic
# alone turns up in a few hundred MB of ciphertext by chance (p ~ size/2^32).
HEADER = b"QEVM\x00\x00\x00\x03"


class Creds:
    """One CA with a server and a client directory, plus a server signed by
    another CA and a client the authz rules will not know."""

    def __init__(self, d):
        ca = tlscerts.make_ca(d)
        other = tlscerts.make_ca(d, name="other", cn="another CA")
        self.server = tlscerts.make_creds(d, "server", ca, "server", "kvmig-dst", dns=(DST_NAME,))
        self.client = tlscerts.make_creds(d, "client", ca, "client", "kvmig-src")
        self.rogue_server = tlscerts.make_creds(d, "rogue", other, "server", "kvmig-dst",
                                                dns=(DST_NAME,), trust=ca)


class Proxy:
    """A unix-socket relay between the source and the destination that
    records what the source sends on every connection, and can flip one bit
    of the first connection's byte number @flip_at."""

    def __init__(self, path, target, flip_at=None):
        self.path, self.target, self.flip_at = path, target, flip_at
        self.recorded = []          # bytearray per connection, source -> destination
        self.lsock = socket.socket(socket.AF_UNIX)
        self.lsock.bind(path)
        self.lsock.listen(16)
        self.threads = []
        t = threading.Thread(target=self.accept_loop, daemon=True)
        t.start()

    def accept_loop(self):
        while True:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            u = socket.socket(socket.AF_UNIX)
            u.connect(self.target)
            rec = bytearray()
            flip = self.flip_at if not self.recorded else None
            self.recorded.append(rec)
            for a, b, r, f in ((c, u, rec, flip), (u, c, None, None)):
                t = threading.Thread(target=self.pump, args=(a, b, r, f), daemon=True)
                t.start()
                self.threads.append(t)

    @staticmethod
    def pump(a, b, rec, flip):
        seen = 0
        try:
            while True:
                data = a.recv(1 << 16)
                if not data:
                    break
                if flip is not None and seen <= flip < seen + len(data):
                    data = bytearray(data)
                    data[flip - seen] ^= 0x01
                    data = bytes(data)
                seen += len(data)
                if rec is not None:
                    rec += data
                b.sendall(data)
        except OSError:
            pass
        # half-close, as TCP would: the other direction (a FAIL message on
        # the return path) still gets through
        for s, how in ((b, socket.SHUT_WR), (a, socket.SHUT_RD)):
            try:
                s.shutdown(how)
            except OSError:
                pass

    def close(self):
        self.lsock.close()


def vm(d, name, objects=(), **kw):
    kw.setdefault("accel", ACCEL)
    kw.setdefault("mem", MEM)
    extra = []
    for o in objects:
        extra += ["-object", o]
    return VM(KVMIG, d, name, extra=extra, **kw).connect()


def x509(id_, path, endpoint):
    return f"tls-creds-x509,id={id_},dir={path},endpoint={endpoint}"


def hmp(v, line):
    return v.qmp.command("human-monitor-command", **{"command-line": line})


def expect_error(fn, needle):
    try:
        fn()
    except Exception as e:      # the QMP error
        if needle not in str(e):
            raise AssertionError(f"expected an error with {needle!r}, got: {e}")
        return str(e)
    raise AssertionError(f"no error (expected {needle!r})")


def tls_pair(d, creds, src_dir=None, dst_dir=None, src_params=None, dst_params=None,
             dst_objects=(), multifd=False, xbzrle=False):
    """A source and a deferred destination, each with tls-creds=tls0 unless
    its directory is "" (plaintext)."""
    src_dir = creds.client if src_dir is None else src_dir
    dst_dir = creds.server if dst_dir is None else dst_dir
    src = vm(d, "src", objects=[x509("tls0", src_dir, "client")] if src_dir else ())
    dst = vm(d, "dst", incoming="defer",
             objects=([x509("tls0", dst_dir, "server")] if dst_dir else []) + list(dst_objects))
    caps = []
    if multifd:
        caps.append({"capability": "multifd", "state": True})
    if xbzrle:
        caps.append({"capability": "xbzrle", "state": True})
    for v, on, extra in ((src, src_dir, src_params), (dst, dst_dir, dst_params)):
        if caps:
            v.qmp.command("migrate-set-capabilities", capabilities=caps)
        params = {"tls_hostname": DST_NAME} if on and v is src else {}
        params.update(extra or {})
        if on:
            params["tls_creds"] = "tls0"
        if params:
            set_params(v, **params)
    set_params(src, max_bandwidth=FAST)
    return src, dst


def check_failed_cleanly(src, dst, src_needle, dst_needle):
    """The source's migration failed naming why and its guest runs on; the
    destination failed naming why, exited 1 and never ran the guest."""
    info = wait_migration(src, timeout=60)
    if info["status"] != "failed":
        raise AssertionError(f"migration {info['status']}")
    err = info.get("error-desc", "")
    print(f"  source: {err}", flush=True)
    if src_needle not in err or "\n" in err:
        raise AssertionError(f"source error {err!r} does not say {src_needle!r}")
    if src.status() != "running":
        raise AssertionError(f"source run state {src.status()}")
    n = src.serial_text().count("B")
    src.wait_serial_count("B", n + 1, timeout=60)
    rc = dst.wait_exit(timeout=30)
    lines = [l for l in dst.stderr().splitlines() if "incoming migration failed" in l]
    print(f"  destination (exit {rc}): {lines[0] if lines else dst.stderr().strip()}", flush=True)
    if rc != 1 or not lines or dst_needle not in lines[0]:
        raise AssertionError(f"destination exit {rc}, stderr {dst.stderr()!r} does not say "
                             f"{dst_needle!r}")
    if "B" in dst.serial_text():
        raise AssertionError("the destination ran the guest")


def failing_case(creds_fn, src_needle, dst_needle, uri_fn=None, **kw):
    with TestDir() as d:
        creds = Creds(d)
        src, dst = tls_pair(d, creds, **creds_fn(creds), **kw)
        try:
            uri = f"unix:{d}/mig.sock"
            dst.qmp.command("migrate-incoming", uri=uri)
            src.wait_serial_count("B", 1, timeout=120)
            src.qmp.command("migrate", uri=uri_fn(d) if uri_fn else uri)
            check_failed_cleanly(src, dst, src_needle, dst_needle)
        finally:
            src.kill()
            dst.kill()


def running_tls(multifd):
    """A running pagewalk guest over TLS -- with multifd (2 channels), or
    with xbzrle on the main channel (kvmig, as QEMU 7.2, sends no XBZRLE
    record with multifd on) -- an authz-list that admits the source, through
    a recording proxy: completes, the invariant holds on the destination,
    the session is TLS 1.3 with AES-GCM, no "QEVM" on the wire."""
    with TestDir() as d:
        creds = Creds(d)
        authz = ("authz-list,id=auth0,policy=deny,rules.0.match=CN=kvmig-evil,"
                 "rules.0.policy=deny,rules.1.match=CN=kvmig-s*,rules.1.policy=allow,"
                 "rules.1.format=glob")
        src, dst = tls_pair(d, creds, multifd=multifd, xbzrle=not multifd, dst_objects=[authz],
                            dst_params={"tls_authz": "auth0"})
        proxy = Proxy(f"{d}/proxy.sock", f"{d}/mig.sock")
        try:
            dst.qmp.command("migrate-incoming", uri=f"unix:{d}/mig.sock")
            src.wait_serial_count("B", 2, timeout=120)
            set_params(src, downtime_limit=1)
            src.qmp.command("migrate", uri=f"unix:{d}/proxy.sock")
            info = converge(src)
            if info["status"] != "completed":
                raise AssertionError(f"migration {info['status']}: {info.get('error-desc')}")
            ram = info["ram"]
            print(f"  {info.get('x-tls-session')}: transferred {ram['transferred'] >> 10} KiB, "
                  f"multifd {ram['multifd-bytes'] >> 10} KiB, xbzrle pages "
                  f"{info.get('xbzrle-cache', {}).get('pages', 0)}, "
                  f"syncs {ram['dirty-sync-count']}", flush=True)
            session = info.get("x-tls-session", "")
            if "TLS1.3" not in session or "AES" not in session or "GCM" not in session:
                raise AssertionError(f"session {session!r} is not TLS 1.3 with AES-GCM")
            if ram["dirty-sync-count"] < 2:
                raise AssertionError(f"one pass only: {ram}")
            if multifd and ram["multifd-bytes"] <= 0:
                raise AssertionError(f"no multifd bytes: {ram}")
            if not multifd and info["xbzrle-cache"]["pages"] <= 0:
                raise AssertionError(f"no XBZRLE pages: {info['xbzrle-cache']}")
            deadline = time.monotonic() + 60
            while query(dst).get("status") != "completed":
                if time.monotonic() > deadline or dst.proc.poll() is not None:
                    raise AssertionError(f"destination: {dst.stderr()}")
                time.sleep(0.05)
            n = dst.serial_text().count("B")
            dst.wait_serial_count("B", n + 1, timeout=120)
            dst.qmp.command("stop")
            check_pagewalk_invariant(dst.pmemsave(MEM_BYTES, os.path.join(d, "dst.mem")))
            conns = len(proxy.recorded)
            wire = sum(len(r) for r in proxy.recorded)
            if conns != (3 if multifd else 1):
                raise AssertionError(f"{conns} connections through the proxy")
            if any(HEADER in r for r in proxy.recorded):
                raise AssertionError("the stream magic QEVM is on the wire in clear")
            if wire < MEM_BYTES // 8:
                raise AssertionError(f"only {wire} bytes on the wire")
            print(f"  {conns} connections, {wire >> 10} KiB on the wire, no QEVM header",
                  flush=True)
        finally:
            proxy.close()
            src.kill()
            dst.kill()
        if multifd:
            return
        # the same proxy sees the magic when the stream is plaintext: the check can fail
        src = vm(d, "src2", mem="64M")
        dst = vm(d, "dst2", mem="64M", incoming=f"unix:{d}/mig2.sock")
        proxy = Proxy(f"{d}/proxy2.sock", f"{d}/mig2.sock")
        try:
            src.qmp.command("stop")
            set_params(src, max_bandwidth=FAST)
            src.qmp.command("migrate", uri=f"unix:{d}/proxy2.sock")
            if wait_migration(src)["status"] != "completed":
                raise AssertionError(f"plaintext run: {query(src)}")
            if not any(HEADER in r for r in proxy.recorded):
                raise AssertionError("the proxy did not see QEVM in a plaintext stream")
        finally:
            proxy.close()
            src.kill()
            dst.kill()


def case_main_multifd():
    running_tls(multifd=True)


def case_main_xbzrle():
    running_tls(multifd=False)


def case_wrong_ca():
    """The destination's certificate comes from a CA the source does not trust."""
    failing_case(lambda c: {"dst_dir": c.rogue_server}, "issuer is unknown",
                 "refused it")


def case_hostname_mismatch():
    failing_case(lambda c: {"src_params": {"tls_hostname": "wrong.example"}},
                 "Certificate does not match the hostname wrong.example", "refused it")


def case_plaintext_source():
    """A plaintext source (with multifd) to a TLS destination."""
    failing_case(lambda c: {"src_dir": ""},
                 "this destination requires TLS", "this destination requires TLS",
                 multifd=True)


def case_plaintext_destination():
    failing_case(lambda c: {"dst_dir": ""}, "TLS handshake with",
                 "the source started a TLS handshake")


def case_authz_refuses():
    """tls-authz admits only another client: refused, both ends say so."""
    authz = "authz-simple,id=auth0,identity=CN=someone-else"
    failing_case(lambda c: {"dst_objects": [authz], "dst_params": {"tls_authz": "auth0"}},
                 "TLS x509 authz check for CN=kvmig-src is denied",
                 "TLS x509 authz check for CN=kvmig-src is denied", multifd=True)


def case_flipped_byte():
    """A proxy flips one bit 4 MiB into the main channel: the destination
    rejects the record, nothing altered is loaded."""
    with TestDir() as d:
        creds = Creds(d)
        src, dst = tls_pair(d, creds)
        proxy = Proxy(f"{d}/proxy.sock", f"{d}/mig.sock", flip_at=4 << 20)
        try:
            dst.qmp.command("migrate-incoming", uri=f"unix:{d}/mig.sock")
            src.wait_serial_count("B", 1, timeout=120)
            src.qmp.command("migrate", uri=f"unix:{d}/proxy.sock")
            # GnuTLS ends the destination's session at a bad record: no FAIL
            # can go back on it, the source only sees the connection close
            check_failed_cleanly(src, dst, "", "Decryption has failed")
        finally:
            proxy.close()
            src.kill()
            dst.kill()


def tls_wait(v, want, timeout=120):
    """@v's query-migrate status reaches @want; its info."""
    deadline = time.monotonic() + timeout
    while True:
        info = query(v)
        if info.get("status") == want:
            return info
        if time.monotonic() > deadline or v.proc.poll() is not None:
            raise AssertionError(f"{v.name}: {info}, want {want}; {v.stderr()}")
        time.sleep(0.02)


def case_postcopy_preempt_recover():
    """Postcopy with postcopy-preempt over TLS, cut with migrate-pause and
    recovered (migrate-recover + migrate -r) over TLS, through recording
    proxies: every connection -- the main channel, its preempt channel, and
    after the recovery the new main and preempt channels -- starts with a
    TLS handshake, pages asked for after the recovery come on the new
    preempt channel, and the invariant holds on the destination during and
    after."""
    slow = 8 << 20
    with TestDir() as d:
        creds = Creds(d)
        authz = ("authz-list,id=auth0,policy=deny,rules.0.match=CN=kvmig-s*,"
                 "rules.0.policy=allow,rules.0.format=glob")
        src, dst = tls_pair(d, creds, dst_objects=[authz], dst_params={"tls_authz": "auth0"})
        proxies = [Proxy(f"{d}/proxy.sock", f"{d}/mig.sock")]
        try:
            for v in (src, dst):
                v.qmp.command("migrate-set-capabilities", capabilities=[
                    {"capability": c, "state": True}
                    for c in ("postcopy-ram", "postcopy-preempt", "events")])
            dst.qmp.command("migrate-incoming", uri=f"unix:{d}/mig.sock")
            set_params(src, max_bandwidth=MEM_BYTES // 2, downtime_limit=1,
                       max_postcopy_bandwidth=slow)
            src.wait_serial_count("B", 2, timeout=120)
            src.qmp.command("migrate", uri=f"unix:{d}/proxy.sock")
            deadline = time.monotonic() + 120
            while query(src).get("ram", {}).get("dirty-sync-count", 0) < 2:
                if time.monotonic() > deadline:
                    raise AssertionError(f"no second sync: {query(src)}")
                time.sleep(0.02)
            src.qmp.command("migrate-start-postcopy")
            tls_wait(src, "postcopy-active")
            tls_wait(dst, "postcopy-active")
            hmp(src, "migrate_pause")
            tls_wait(src, "postcopy-paused")
            tls_wait(dst, "postcopy-paused")
            before = query(src)["ram"]["x-postcopy-preempt-pages"]
            proxies.append(Proxy(f"{d}/proxy-r.sock", f"{d}/recover.sock"))
            dst.qmp.command("migrate-recover", uri=f"unix:{d}/recover.sock")
            src.qmp.command("migrate", uri=f"unix:{d}/proxy-r.sock", resume=True)
            tls_wait(src, "postcopy-active")
            tls_wait(dst, "postcopy-active")
            dst.qmp.command("stop")
            check_pagewalk_invariant(dst.pmemsave(MEM_BYTES, os.path.join(d, "during.mem")))
            dst.qmp.command("cont")
            after = query(src)["ram"]["x-postcopy-preempt-pages"]
            set_params(src, max_postcopy_bandwidth=0)
            info = tls_wait(src, "completed", timeout=300)
            tls_wait(dst, "completed", timeout=60)
            n = dst.serial_text().count("B")
            dst.wait_serial_count("B", n + 1, timeout=120)
            dst.qmp.command("stop")
            check_pagewalk_invariant(dst.pmemsave(MEM_BYTES, os.path.join(d, "after.mem")))
            conns = [r for p in proxies for r in p.recorded]
            print(f"  {info.get('x-tls-session')}: {len(conns)} connections, preempt pages "
                  f"{before} before the pause, {after} after the recovery, "
                  f"{info['ram']['x-postcopy-preempt-pages']} in all", flush=True)
            if [len(p.recorded) for p in proxies] != [2, 2]:
                raise AssertionError(f"connections per proxy: {[len(p.recorded) for p in proxies]}"
                                     " (want a main and a preempt channel each)")
            if any(r[:2] != b"\x16\x03" for r in conns):
                raise AssertionError("a connection did not start with a TLS handshake: "
                                     f"{[bytes(r[:4]) for r in conns]}")
            if any(HEADER in r for r in conns):
                raise AssertionError("the stream magic QEVM is on the wire in clear")
            if after <= before:
                raise AssertionError("no page on the new preempt channel after the recovery")
        finally:
            for p in proxies:
                p.close()
            src.kill()
            dst.kill()


def case_parameters_and_objects():
    """QEMU's names and empty-string semantics, object-add/object-del, the
    transports and settings that refuse TLS, over QMP and HMP."""
    with TestDir() as d:
        creds = Creds(d)
        src = vm(d, "src")
        try:
            p = src.qmp.command("query-migrate-parameters")
            if (p.get("tls-creds"), p.get("tls-hostname"), p.get("tls-authz")) != ("", "", ""):
                raise AssertionError(f"defaults {p}")
            text = hmp(src, "info migrate_parameters")
            for line in ("tls-creds: ''", "tls-hostname: ''", "tls-authz: ''"):
                if line not in text:
                    raise AssertionError(f"info migrate_parameters lacks {line!r}")
            src.qmp.command("object-add", **{"qom-type": "tls-creds-x509", "id": "c1",
                                             "dir": creds.client, "endpoint": "client",
                                             "verify-peer": True})
            expect_error(lambda: src.qmp.command("object-add", **{
                "qom-type": "tls-creds-x509", "id": "c1", "dir": creds.client}), "duplicate")
            expect_error(lambda: src.qmp.command("object-add", **{
                "qom-type": "tls-creds-x509", "id": "c2", "dir": f"{d}/nowhere"}),
                "Unable to access credentials")
            expect_error(lambda: src.qmp.command("object-add", **{
                "qom-type": "tls-creds-x509", "id": "c3", "dir": creds.client, "bogus": "1"}),
                "Property 'tls-creds-x509.bogus' not found")
            src.qmp.command("object-add", **{"qom-type": "authz-list", "id": "a1",
                                             "policy": "deny",
                                             "rules": [{"match": "CN=x", "policy": "allow"}]})
            hmp(src, f"object_add tls-creds-x509,id=s1,dir={creds.server},endpoint=server")
            # HMP sets a string parameter as it is, and shows it quoted
            hmp(src, "migrate_set_parameter tls-creds c1")
            if "tls-creds: 'c1'" not in hmp(src, "info migrate_parameters"):
                raise AssertionError("HMP tls-creds not shown")
            set_params(src, tls_creds=None)     # null: off, as ""
            if src.qmp.command("query-migrate-parameters")["tls-creds"] != "":
                raise AssertionError("null did not reset tls-creds")
            set_params(src, tls_creds="s1", tls_hostname=DST_NAME)
            expect_error(lambda: src.qmp.command("migrate", uri=f"unix:{d}/x.sock"),
                         "Expected TLS credentials for a client endpoint")
            set_params(src, tls_creds="a1")
            expect_error(lambda: src.qmp.command("migrate", uri=f"unix:{d}/x.sock"),
                         "is not TLS credentials")
            set_params(src, tls_creds="c1", tls_hostname="")
            expect_error(lambda: src.qmp.command("migrate", uri=f"unix:{d}/x.sock"),
                         "No hostname for certificate validation")
            for uri in ("exec:cat > /dev/null", f"file:{d}/out.mig", "fd:nosuch",
                        "rdma:127.0.0.1:1"):
                expect_error(lambda: src.qmp.command("migrate", uri=uri),
                             f"Cannot use TLS with the {uri.split(':')[0]}: transport")
            if query(src).get("status") not in (None, "none"):
                raise AssertionError(f"a migration started: {query(src)}")
            src.qmp.command("object-del", id="c1")
            expect_error(lambda: src.qmp.command("object-del", id="c1"), "not found")
            set_params(src, tls_hostname=DST_NAME)
            expect_error(lambda: src.qmp.command("migrate", uri=f"unix:{d}/x.sock"),
                         "No TLS credentials with id 'c1'")
            if src.status() != "running":
                raise AssertionError(f"source run state {src.status()}")
        finally:
            src.kill()
        # a bad -object stops kvmig before anything runs, with one line
        bad = VM(KVMIG, d, "bad", accel=ACCEL, mem="64M",
                 extra=["-object", f"tls-creds-x509,id=t,dir={d}/nowhere,endpoint=server"])
        rc = bad.wait_exit()
        err = bad.stderr().strip()
        bad.kill()
        if rc != 1 or "Unable to access credentials" not in err or "\n" in err:
            raise AssertionError(f"bad -object: exit {rc}, {err!r}")
        dst = vm(d, "dst", incoming="defer", objects=[x509("tls0", creds.server, "server")])
        try:
            set_params(dst, tls_creds="tls0")
            expect_error(lambda: dst.qmp.command("migrate-incoming", uri="exec:cat /dev/null"),
                         "Cannot use TLS with the exec: transport")
        finally:
            dst.kill()


CASES = [
    ("parameters-and-objects", case_parameters_and_objects),
    ("main-multifd", case_main_multifd),
    ("main-xbzrle", case_main_xbzrle),
    ("wrong-ca", case_wrong_ca),
    ("hostname-mismatch", case_hostname_mismatch),
    ("plaintext-source", case_plaintext_source),
    ("plaintext-destination", case_plaintext_destination),
    ("authz-refuses", case_authz_refuses),
    ("flipped-byte", case_flipped_byte),
    ("postcopy-preempt-recover", case_postcopy_preempt_recover),
]

if __name__ == "__main__":
    why = tlscerts.certtool_missing()
    if why:
        print(f"FAIL: {why}")       # not a skip: setup.sh installs it
        sys.exit(1)
    main(ACCEL, CASES, sys.argv[3:])
