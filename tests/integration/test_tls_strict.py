"""Every TLS listener of a real Starling (the center's API and proxy link, a
proxy's TCP and HTTPS ports) is accepted by a strict client (Python 3.13's
default verification) and offers AEAD suites only."""

from __future__ import annotations

import json
import os
import shutil
import socket
import ssl
import subprocess
import tomllib
from pathlib import Path

import pytest

from .conftest import Fleet

pytestmark = pytest.mark.integration

AGENTS = 1
PY313 = sorted(Path("/root/.pyenv/versions").glob("3.13*/bin/python3"))

PROBE = """
import json, socket, ssl, sys
ca, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
ctx = ssl.create_default_context(cafile=ca)  # 3.13: VERIFY_X509_STRICT on by default
try:
    with socket.create_connection((host, port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname=host) as tls:
            print(json.dumps({"ok": True, "version": tls.version(), "cipher": tls.cipher()[0],
                              "flags": int(ctx.verify_flags), "python": sys.version.split()[0]}))
except (ssl.SSLError, OSError) as exc:
    print(json.dumps({"ok": False, "error": str(exc)}))
"""

CBC_ONLY = "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA:ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES256-SHA384:AES128-SHA:AES256-SHA:AES128-SHA256"


def _listeners(fleet: Fleet) -> dict[str, tuple[str, int]]:
    home = fleet.home
    center = tomllib.loads((home / "center.toml").read_text())["center"]
    proxy = tomllib.loads((home / "proxy-1.toml").read_text())["proxy"]

    def hp(url: str) -> tuple[str, int]:
        rest = url.split("://", 1)[1].split("/", 1)[0]
        host, port = rest.rsplit(":", 1)
        return host, int(port)

    out = {"center api": hp(center["api"]), "center proxy link": hp(center["proxy_listen"])}
    for url in proxy["listen"]:
        if url.startswith("tcp://"):
            out["proxy tcp"] = hp(url)
        elif url.startswith("https://"):
            out["proxy https"] = hp(url)
    return out


def _client(ca: str, ciphers: str) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=ca)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2  # TLS 1.3 suites are AEAD whatever one asks
    ctx.set_ciphers(ciphers)
    return ctx


def _handshake(ctx: ssl.SSLContext, host: str, port: int) -> str:
    with socket.create_connection((host, port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname=host) as tls:
            cipher = tls.cipher()
            assert cipher is not None
            return cipher[0]


@pytest.mark.skipif(not PY313, reason="no Python 3.13 under /root/.pyenv/versions")
def test_python_313_default_verification_accepts_every_listener(fleet: Fleet, tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(PROBE)
    ca = fleet.profile["ca_file"]
    for name, (host, port) in _listeners(fleet).items():
        proc = subprocess.run([str(PY313[-1]), str(probe), ca, host, str(port)], capture_output=True, text=True, timeout=60)
        doc = json.loads(proc.stdout)
        assert doc["ok"], f"{name}: {doc}"
        assert doc["python"].startswith("3.13") and doc["flags"] & ssl.VERIFY_X509_STRICT
        assert doc["version"] in ("TLSv1.2", "TLSv1.3"), (name, doc)


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1_1 is deprecated:DeprecationWarning")
def test_every_listener_refuses_cbc_and_accepts_aead(fleet: Fleet) -> None:
    ca = fleet.profile["ca_file"]
    for name, (host, port) in _listeners(fleet).items():
        with pytest.raises(ssl.SSLError):
            _handshake(_client(ca, CBC_ONLY), host, port)
        # The control: the same client with an AEAD suite gets in, so the refusal is the suite's.
        assert "GCM" in _handshake(_client(ca, "ECDHE-ECDSA-AES128-GCM-SHA256"), host, port), name
        try:
            assert "CHACHA20" in _handshake(_client(ca, "ECDHE-ECDSA-CHACHA20-POLY1305"), host, port), name
        except ssl.SSLError as exc:
            raise AssertionError(name) from exc
        old = ssl.create_default_context(cafile=ca)
        old.minimum_version = old.maximum_version = ssl.TLSVersion.TLSv1_1
        with pytest.raises((ssl.SSLError, OSError)):
            _handshake(old, host, port)


TESTSSL = shutil.which("testssl") or shutil.which("testssl.sh")


@pytest.mark.skipif(not TESTSSL, reason="testssl.sh is not installed (apt-get install testssl.sh; listed in contrib/debian-packages.txt)")
def test_testssl_finds_nothing(fleet: Fleet) -> None:
    """An outside TLS auditor's view of the most exposed listener: the proxy's agent port,
    which every host of an IDC reaches (findings: docs/security.md). Protocols, cipher
    categories and the vulnerability checks; ``STARLING_TESTSSL=all`` audits every listener."""
    assert TESTSSL is not None
    listeners = _listeners(fleet)
    if os.environ.get("STARLING_TESTSSL") != "all":
        listeners = {"proxy tcp": listeners["proxy tcp"]}
    for name, (host, port) in listeners.items():
        proc = subprocess.run(
            [TESTSSL, "--quiet", "--color", "0", "--warnings", "off", "--sneaky", "-p", "-s", "-U", "--ip", "one", f"{host}:{port}"],
            capture_output=True, text=True, timeout=240,
        )
        out = proc.stdout
        assert "TLS 1.2    offered" in out and "TLS 1.3    offered" in out, f"{name}:\n{out}"
        assert "TLS 1.1    not offered" in out and "TLS 1      not offered" in out, f"{name}:\n{out}"
        assert "Obsolete CBC ciphers (AES, ARIA etc.)         not offered" in out, f"{name}:\n{out}"
        assert "VULNERABLE" not in out, f"{name}:\n{out}"
