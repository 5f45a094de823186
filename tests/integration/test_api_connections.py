"""The API's HTTP connections against a real center: a request refused before its body
was read leaves a keep-alive connection usable (or says ``Connection: close``), so a
client's next request on it is answered rather than lost."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import h11
import httpx
import pytest

from center._http import DRAIN_LIMIT
from transports import client_context

from .conftest import Fleet

pytestmark = pytest.mark.integration

AGENTS = 1


class Conn:
    """One TLS connection to the API, spoken with h11 so each byte's timing is ours."""

    def __init__(self, fleet: Fleet) -> None:
        p = fleet.profile
        url = urlsplit(p["api"])
        self.host = url.hostname or "127.0.0.1"
        raw = socket.create_connection((self.host, url.port or 443), timeout=20)
        self.sock = client_context(p["ca_file"]).wrap_socket(raw, server_hostname=self.host)
        self.h11 = h11.Connection(h11.CLIENT)

    def send(self, *events: h11.Event) -> None:
        for event in events:
            data = self.h11.send(event)
            if data:
                self.sock.sendall(data)

    def response(self) -> tuple[h11.Response, bytes]:
        head: h11.Response | None = None
        body = b""
        while True:
            event = self.h11.next_event()
            if event is h11.NEED_DATA:
                self.h11.receive_data(self.sock.recv(65536))
            elif isinstance(event, h11.Response):
                head = event
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                assert head is not None
                return head, body
            elif isinstance(event, h11.ConnectionClosed):
                raise ConnectionError("the server closed the connection without an answer")

    def request(self, method: str, path: str, headers: list[tuple[str, str]], body: bytes = b"") -> h11.Request:
        return h11.Request(method=method, target=path, headers=[("host", self.host), *headers, ("content-length", str(len(body)))])

    def closed_by_server(self) -> bool:
        self.sock.settimeout(10)
        try:
            return self.sock.recv(1) == b""
        except (ConnectionError, OSError):
            return True


@contextmanager
def connection(fleet: Fleet) -> Iterator[Conn]:
    conn = Conn(fleet)
    try:
        yield conn
    finally:
        conn.sock.close()


def _health(conn: Conn) -> None:
    conn.h11.start_next_cycle()
    conn.send(conn.request("GET", "/v1/health", []), h11.EndOfMessage())
    head, body = conn.response()
    assert head.status_code == 200, body


def _session_cookie(fleet: Fleet) -> str:
    p = fleet.profile
    with httpx.Client(base_url=p["api"], verify=client_context(p["ca_file"]), timeout=30) as http:
        r = http.post("/ui/login", json={"key_id": p["key_id"], "secret": p["secret"]})
        assert r.status_code == 200, r.text
        return "; ".join(f"{k}={v}" for k, v in http.cookies.items())


@pytest.mark.parametrize(("path", "session", "status", "code"), [
    ("/v1/jobs", True, 403, "C035"),  # a console session without its CSRF header
    ("/v1/no-such-route", False, 404, "C028"),
])
def test_refused_before_the_body_arrived_keeps_the_connection(fleet: Fleet, path: str, session: bool, status: int, code: str) -> None:
    """Headers first, the body later (as a slow client or a split TCP write does): the
    refusal waits for the body, and the same connection answers the next request."""
    body = json.dumps({"action": "exec.run", "params": {"cmd": "true"}, "all": True}).encode()
    headers = [("content-type", "application/json")] + ([("cookie", _session_cookie(fleet))] if session else [])
    with connection(fleet) as conn:
        conn.send(conn.request("POST", path, headers, body))
        time.sleep(0.3)  # the center has the headers alone, and refuses on them
        conn.send(h11.Data(data=body), h11.EndOfMessage())
        head, answer = conn.response()
        assert head.status_code == status and json.loads(answer)["error"]["code"] == code, answer
        assert b"close" not in dict(head.headers).get(b"connection", b"")
        _health(conn)


def test_refused_large_body_says_connection_close(fleet: Fleet) -> None:
    """A refused body over the drain limit is not read: the answer says so with
    ``Connection: close`` and the server ends the connection, nothing is left half-done."""
    size = DRAIN_LIMIT * 4
    with connection(fleet) as conn:
        conn.send(conn.request("POST", "/v1/jobs", [("content-type", "application/json")], b"x" * size))
        conn.sock.sendall(b"x" * 1024)  # a first slice only; the answer must not wait for the rest
        head, answer = conn.response()
        assert head.status_code == 401 and json.loads(answer)["error"]["code"] == "C007"
        assert dict(head.headers)[b"connection"] == b"close"
        assert conn.closed_by_server()


def test_oversized_body_is_c018_and_closes(fleet: Fleet) -> None:
    """A declared body past the API's limit is refused with C018 from its length alone."""
    from center._http import MAX_BODY

    p = fleet.profile
    with connection(fleet) as conn:
        conn.send(h11.Request(method="POST", target="/ui/login", headers=[
            ("host", conn.host), ("content-type", "application/json"), ("content-length", str(MAX_BODY + 1)),
        ]))
        conn.sock.sendall(json.dumps({"key_id": p["key_id"], "secret": p["secret"]}).encode())
        head, answer = conn.response()
        assert head.status_code == 413 and json.loads(answer)["error"]["code"] == "C018", answer
        assert dict(head.headers)[b"connection"] == b"close"
        assert conn.closed_by_server()


def test_idle_connection_outlives_the_clients_expiry(fleet: Fleet) -> None:
    """httpx drops an idle connection after 5 s; the center keeps one longer, so a client
    never sends a request on a connection the server is closing at that very moment."""
    with connection(fleet) as conn:
        conn.send(conn.request("GET", "/v1/health", []), h11.EndOfMessage())
        assert conn.response()[0].status_code == 200
        time.sleep(6.0)  # past httpx's (and hypercorn's default) 5 s
        _health(conn)


def test_refusal_does_not_wait_for_a_body_that_never_comes(fleet: Fleet) -> None:
    """A small declared body that is never sent holds the refusal at most DRAIN_SECONDS;
    then the answer goes out with ``Connection: close``."""
    from center._http import DRAIN_SECONDS

    with connection(fleet) as conn:
        conn.send(conn.request("POST", "/v1/no-such-route", [("content-type", "application/json")], b"{}" * 100))
        started = time.monotonic()
        head, answer = conn.response()
        assert head.status_code == 404 and json.loads(answer)["error"]["code"] == "C028"
        assert DRAIN_SECONDS - 0.5 <= time.monotonic() - started < DRAIN_SECONDS + 10
        assert dict(head.headers)[b"connection"] == b"close"
        assert conn.closed_by_server()
