from __future__ import annotations

import datetime
import socket
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from agent_core.testing import run_action


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/")
            self.end_headers()
            return
        status, body = (200, b"hello starling") if self.path == "/" else (404, b"nothing here")
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_HEAD(self) -> None:  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def _serve(server: ThreadingHTTPServer) -> Iterator[str]:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def http_server() -> Iterator[str]:
    yield from _serve(ThreadingHTTPServer(("127.0.0.1", 0), Handler))


@pytest.fixture
def https_server(tmp_path) -> Iterator[str]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "starling-test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30, hours=1))
        .sign(key, hashes.SHA256())
    )
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    yield from _serve(server)


async def test_http_ok_expectations_and_redirect(http_server):
    out = await run_action("net.http", {"url": f"http://{http_server}/", "expect_text": "starling"})
    assert out.ok, out.message
    v = out.value
    assert v["ok"] and v["status"] == 200 and v["body"] == "hello starling" and v["reason"] == ""
    assert v["headers"]["content-type"] == "text/plain" and v["http_version"] == "HTTP/1.0"
    assert v["certificate"] is None and v["elapsed_ms"] > 0

    out = await run_action("net.http", {"url": f"http://{http_server}/", "expect_text": "goodbye"})
    assert out.ok and out.value["ok"] is False and "goodbye" in out.value["reason"]

    out = await run_action("net.http", {"url": f"http://{http_server}/missing"})
    assert (
        out.value["ok"] is False
        and out.value["status"] == 404
        and out.value["reason"] == "status 404"
    )
    out = await run_action(
        "net.http", {"url": f"http://{http_server}/missing", "expect_status": [404]}
    )
    assert out.value["ok"] is True

    out = await run_action("net.http", {"url": f"http://{http_server}/redirect"})
    assert out.value["ok"] and out.value["final_url"] == f"http://{http_server}/"
    out = await run_action(
        "net.http", {"url": f"http://{http_server}/redirect", "follow_redirects": False}
    )
    assert out.value["status"] == 302 and out.value["headers"]["location"] == "/"

    out = await run_action("net.http", {"url": f"http://{http_server}/", "method": "HEAD"})
    assert out.value["ok"] and out.value["body"] == ""


async def test_http_tls_certificate(https_server):
    out = await run_action("net.http", {"url": f"https://{https_server}/", "verify_tls": False})
    assert out.ok, out.message
    cert = out.value["certificate"]
    assert (
        out.value["ok"]
        and cert["subject"] == "CN=starling-test"
        and cert["issuer"] == "CN=starling-test"
    )
    assert cert["days_left"] == 30
    out = await run_action("net.http", {"url": f"https://{https_server}/"})
    assert out.ok and out.value["ok"] is False and "certificate" in out.value["reason"].lower()


async def test_http_connection_refused():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    out = await run_action("net.http", {"url": f"http://127.0.0.1:{port}/", "timeout": 2})
    assert out.ok and out.value["ok"] is False and out.value["reason"].startswith("connect failed")


async def test_http_bad_params():
    assert (await run_action("net.http", {"url": "ftp://127.0.0.1/"})).code == "A002"
    assert (
        await run_action("net.http", {"url": "http://127.0.0.1/", "method": "POST"})
    ).code == "A002"
    assert (
        await run_action("net.http", {"url": "http://127.0.0.1/", "max_body": -1})
    ).code == "A002"
    assert (await run_action("net.http", {"url": "http://[bad/"})).code == "A002"
