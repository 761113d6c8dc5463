# SPDX-License-Identifier: GPL-2.0-or-later
"""Throw-away X.509 credentials for TLS tests and benchmarks, made with
certtool (gnutls-bin) in the layout QEMU's tls-creds-x509 reads: a directory
per endpoint holding ca-cert.pem and server-cert.pem/server-key.pem or
client-cert.pem/client-key.pem.  ECDSA P-256 keys: quick to make."""
import os
import shutil
import subprocess


def certtool_missing():
    """None if certtool runs, else why the TLS cases cannot (setup.sh installs it)."""
    if not shutil.which("certtool"):
        return "certtool not found (install gnutls-bin: scripts/setup.sh)"
    return None


def _run(*args):
    subprocess.run(["certtool", *args], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE)


def _key(path):
    _run("--generate-privkey", "--key-type=ecdsa", "--sec-param=high", "--outfile", path)


def _template(path, lines):
    with open(path, "w") as f:
        f.write("\n".join(lines + ["expiration_days = 2", ""]))


def make_ca(d, name="ca", cn="kvmig test CA"):
    """A CA in @d: returns (cert path, key path)."""
    key, cert, tmpl = (os.path.join(d, f"{name}-{x}") for x in ("key.pem", "cert.pem", "tmpl"))
    _key(key)
    _template(tmpl, [f'cn = "{cn}"', "ca", "cert_signing_key"])
    _run("--generate-self-signed", "--load-privkey", key, "--template", tmpl, "--outfile", cert)
    return cert, key


def make_creds(d, name, ca, role, cn, dns=("localhost",), trust=None):
    """Directory @d/@name for a @role ("server" or "client") endpoint: a key
    and a certificate for @cn (with @dns names) signed by @ca, and the CA
    certificate it trusts (@trust, default @ca's)."""
    out = os.path.join(d, name)
    os.makedirs(out, exist_ok=True)
    key = os.path.join(out, f"{role}-key.pem")
    cert = os.path.join(out, f"{role}-cert.pem")
    tmpl = os.path.join(out, "tmpl")
    _key(key)
    lines = [f'cn = "{cn}"', "signing_key", "encryption_key",
             "tls_www_server" if role == "server" else "tls_www_client"]
    lines += [f'dns_name = "{n}"' for n in dns]
    _template(tmpl, lines)
    _run("--generate-certificate", "--load-privkey", key, "--load-ca-certificate", ca[0],
         "--load-ca-privkey", ca[1], "--template", tmpl, "--outfile", cert)
    shutil.copy((trust or ca)[0], os.path.join(out, "ca-cert.pem"))
    os.unlink(tmpl)
    return out


if __name__ == "__main__":
    # python3 tests/migration/tlscerts.py DIR HOSTNAME: DIR/server and
    # DIR/client for tls-creds-x509, the server's certificate naming HOSTNAME
    import sys
    if len(sys.argv) != 3 or certtool_missing():
        sys.exit(f"usage: {sys.argv[0]} DIR HOSTNAME (needs certtool: {certtool_missing()})")
    out, host = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    ca = make_ca(out)
    print(make_creds(out, "server", ca, "server", host, dns=(host,)))
    print(make_creds(out, "client", ca, "client", "kvmig-source"))
