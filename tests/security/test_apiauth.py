"""Signed API requests: signing, verification, and every refusal with its code."""

from __future__ import annotations

import http.server
import json
import threading

import httpx
import pytest

from center.security._apiauth import (
    HEADER_KEY,
    HEADER_NONCE,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    AuthenticationFailed,
    MemoryKeyStore,
    MemoryNonceStore,
    RequestRefused,
    RequestReplayed,
    StarlingAuth,
    canonical_query,
    sign_request,
    verify_request,
)
from transports import ErrorCode

NOW = 1_700_000_000.0
SECRET = b"s3cret-key-material-0123456789"


@pytest.fixture
def keys() -> MemoryKeyStore:
    return MemoryKeyStore({"alice": SECRET})


def _verify(keys, method, url, headers, body, *, nonces=None, now=NOW):
    return verify_request(method, url, headers, body, keys=keys,
                          nonces=nonces if nonces is not None else MemoryNonceStore(), now=now)


def test_round_trip(keys):
    body = b'{"action":"exec.run"}'
    h = sign_request("alice", SECRET, "POST", "https://c.example/api/v1/jobs?b=2&a=1", body, now=NOW)
    assert set(h) == {HEADER_KEY, HEADER_TIMESTAMP, HEADER_NONCE, HEADER_SIGNATURE}
    # The server sees the path and query only, headers in any case, query in any order.
    lower = {k.lower(): v for k, v in h.items()}
    assert _verify(keys, "POST", "/api/v1/jobs?a=1&b=2", lower, body) == "alice"


def test_equivalent_encodings_verify(keys):
    h = sign_request("alice", SECRET, "GET", "/api/hosts/a%20b?q=x%2By&tag=", b"", now=NOW)
    assert _verify(keys, "get", "/api/hosts/a%20b?tag=&q=x%2By", h, b"") == "alice"
    assert canonical_query("b=1&a=2&a=1") == "a=1&a=2&b=1"


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("DELETE", "/api/v1/jobs?a=1&b=2", b"{}"),          # method changed
        ("POST", "/api/v1/jobz?a=1&b=2", b"{}"),            # path changed
        ("POST", "/api/v1/jobs?a=1&b=3", b"{}"),            # query value changed
        ("POST", "/api/v1/jobs?a=1&b=2&c=3", b"{}"),        # query parameter added
        ("POST", "/api/v1/jobs?a=1", b"{}"),                # query parameter dropped
        ("POST", "/api/v1/jobs?a=1&b=2", b'{"x":1}'),       # body changed
    ],
)
def test_tampered_request_is_c007(keys, method, url, body):
    h = sign_request("alice", SECRET, "POST", "/api/v1/jobs?a=1&b=2", b"{}", now=NOW)
    with pytest.raises(AuthenticationFailed) as exc:
        _verify(keys, method, url, h, body)
    assert exc.value.code is ErrorCode.C007


def test_tampered_headers_are_c007(keys):
    h = sign_request("alice", SECRET, "GET", "/x", b"", now=NOW)
    for name, value in [
        (HEADER_SIGNATURE, "0" * 64),
        (HEADER_NONCE, "A" * 24),
        (HEADER_SIGNATURE, h[HEADER_SIGNATURE].upper()),
    ]:
        with pytest.raises(AuthenticationFailed):
            _verify(keys, "GET", "/x", h | {name: value}, b"")
    # A timestamp moved inside the window is a bad signature, not a clock problem.
    with pytest.raises(AuthenticationFailed):
        _verify(keys, "GET", "/x", h | {HEADER_TIMESTAMP: str(int(NOW) + 1)}, b"")


def test_unsigned_and_malformed_are_c007(keys):
    h = sign_request("alice", SECRET, "GET", "/x", b"", now=NOW)
    for missing in (HEADER_KEY, HEADER_TIMESTAMP, HEADER_NONCE, HEADER_SIGNATURE):
        with pytest.raises(AuthenticationFailed, match="unsigned"):
            _verify(keys, "GET", "/x", {k: v for k, v in h.items() if k != missing}, b"")
    for name, bad in [(HEADER_TIMESTAMP, "12.5"), (HEADER_NONCE, "short"), (HEADER_SIGNATURE, "zz"),
                      (HEADER_KEY, "")]:
        with pytest.raises(AuthenticationFailed, match="malformed|unsigned"):
            _verify(keys, "GET", "/x", h | {name: bad}, b"")
    with pytest.raises(AuthenticationFailed, match="more than once"):
        _verify(keys, "GET", "/x", list(h.items()) + [(HEADER_SIGNATURE.lower(), "0" * 64)], b"")


def test_unknown_key_is_c007(keys):
    h = sign_request("mallory", SECRET, "GET", "/x", b"", now=NOW)
    with pytest.raises(AuthenticationFailed, match="unknown key") as exc:
        _verify(keys, "GET", "/x", h, b"")
    assert exc.value.code is ErrorCode.C007
    keys.remove("alice")
    with pytest.raises(AuthenticationFailed, match="unknown key"):
        _verify(keys, "GET", "/x", sign_request("alice", SECRET, "GET", "/x", b"", now=NOW), b"")


def test_wrong_secret_is_c007(keys):
    h = sign_request("alice", b"not the secret", "GET", "/x", b"", now=NOW)
    with pytest.raises(AuthenticationFailed, match="does not match"):
        _verify(keys, "GET", "/x", h, b"")


@pytest.mark.parametrize("skew", [-301, 301, -10_000_000])
def test_outside_clock_window_is_c008(keys, skew):
    h = sign_request("alice", SECRET, "GET", "/x", b"", now=NOW + skew)
    with pytest.raises(RequestReplayed) as exc:
        _verify(keys, "GET", "/x", h, b"")
    assert exc.value.code is ErrorCode.C008


@pytest.mark.parametrize("skew", [-300, 0, 299])
def test_inside_clock_window_passes(keys, skew):
    h = sign_request("alice", SECRET, "GET", "/x", b"", now=NOW + skew)
    assert _verify(keys, "GET", "/x", h, b"") == "alice"


def test_replayed_nonce_is_c008(keys):
    nonces = MemoryNonceStore(clock=lambda: NOW)
    h = sign_request("alice", SECRET, "POST", "/jobs", b"{}", now=NOW)
    assert _verify(keys, "POST", "/jobs", h, b"{}", nonces=nonces) == "alice"
    with pytest.raises(RequestReplayed, match="nonce") as exc:
        _verify(keys, "POST", "/jobs", h, b"{}", nonces=nonces, now=NOW + 5)
    assert exc.value.code is ErrorCode.C008
    # After the window the replay is still refused: by the clock now.
    with pytest.raises(RequestReplayed, match="window"):
        _verify(keys, "POST", "/jobs", h, b"{}", nonces=nonces, now=NOW + 301)


def test_bad_signature_does_not_burn_the_nonce(keys):
    nonces = MemoryNonceStore(clock=lambda: NOW)
    h = sign_request("alice", SECRET, "GET", "/x", b"", now=NOW)
    with pytest.raises(AuthenticationFailed):
        _verify(keys, "GET", "/x", h | {HEADER_SIGNATURE: "1" * 64}, b"", nonces=nonces)
    assert _verify(keys, "GET", "/x", h, b"", nonces=nonces) == "alice"


def test_nonce_store_forgets_after_expiry_and_is_bounded():
    clock = [NOW]
    store = MemoryNonceStore(max_entries=3, clock=lambda: clock[0])
    assert store.check_and_remember("k", "n1", NOW + 10)
    assert not store.check_and_remember("k", "n1", NOW + 10)
    assert store.check_and_remember("other", "n1", NOW + 10)  # per key
    assert store.check_and_remember("k", "n2", NOW + 10)
    with pytest.raises(RequestRefused) as exc:
        store.check_and_remember("k", "n3", NOW + 10)
    assert exc.value.code is ErrorCode.C008
    clock[0] = NOW + 11
    assert store.check_and_remember("k", "n3", NOW + 20)
    assert len(store) == 1


class _Handler(http.server.BaseHTTPRequestHandler):
    keys: MemoryKeyStore
    nonces: MemoryNonceStore

    def _handle(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            who = verify_request(self.command, self.path, self.headers.items(), body,
                                 keys=self.keys, nonces=self.nonces)
            status, answer = 200, {"account": who}
        except RequestRefused as exc:
            status, answer = 401, {"code": exc.code.value, "message": exc.message}
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_DELETE = _handle

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server(keys):
    handler = type("H", (_Handler,), {"keys": keys, "nonces": MemoryNonceStore()})
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}"
    finally:
        srv.shutdown()
        srv.server_close()


def test_httpx_auth_signs_transparently_over_a_real_socket(server):
    with httpx.Client(base_url=server, auth=StarlingAuth("alice", SECRET)) as client:
        r = client.post("/api/v1/jobs", params={"wait": "1", "tag": "a b"}, json={"cmd": "uptime"})
        assert r.status_code == 200, r.text
        assert r.json() == {"account": "alice"}
        r = client.get("/api/v1/hosts/h%2F1", params=[("t", "x"), ("t", "a")])
        assert r.status_code == 200, r.text
        r = client.delete("/api/v1/jobs/j1")
        assert r.status_code == 200, r.text


def test_real_server_refuses_unsigned_wrong_key_and_replay(server):
    with httpx.Client(base_url=server) as client:
        r = client.get("/api/v1/hosts")
        assert (r.status_code, r.json()["code"]) == (401, "C007")
        with httpx.Client(base_url=server, auth=StarlingAuth("alice", b"wrong")) as bad:
            assert bad.get("/api/v1/hosts").json()["code"] == "C007"
        headers = sign_request("alice", SECRET, "POST", "/api/v1/jobs", b"{}")
        first = client.post("/api/v1/jobs", content=b"{}", headers=headers)
        again = client.post("/api/v1/jobs", content=b"{}", headers=headers)
        assert first.status_code == 200
        assert (again.status_code, again.json()["code"]) == (401, "C008")
