"""Every carrier found by entry point passes the same conformance kit."""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest

from transports import Carrier
from transports.testing import SMALL_MAX_FRAME, check_transport

# How each scheme is exercised: (case name, carrier settings, check_transport kwargs).
Case = tuple[str, dict[str, Any], Callable[[Any, Path], dict[str, Any]]]

#: The long-poll carriers' session expiry: a session nobody polls for this long is gone, which is
#: also how an aborted peer is noticed (check 9 allows twice that). 4 s once expired a session
#: of check 8's fifty HTTPS channels, all in this one process, on a machine at load 5.
SESSION_TIMEOUT = 8.0

CASES: dict[str, list[Case]] = {
    "memory": [
        (
            "memory",
            {},
            lambda tls, tmp: {
                "url": "memory://conformance",
                # a message carrier: the raw bytes are whole bodies, no length prefix
                "raw_garbage": b"\xc1garbage",
                "raw_half_frame": b"\x81",
                "raw_oversized": b"\x00" * (SMALL_MAX_FRAME + 1),
            },
        )
    ],
    "tcp": [
        ("tcp-plain", {}, lambda tls, tmp: {"url": "tcp://127.0.0.1:0"}),
        (
            "tcp-tls",
            {},
            lambda tls, tmp: {"url": "tcp://127.0.0.1:0", "server_ssl": tls.server, "client_ssl": tls.client},
        ),
    ],
    "quic": [
        ("quic-ephemeral-cert", {}, lambda tls, tmp: {"url": "quic://127.0.0.1:0"}),
        (
            "quic-tls",
            {},
            lambda tls, tmp: {"url": "quic://127.0.0.1:0", "server_ssl": tls.server, "client_ssl": tls.client},
        ),
    ],
    "http": [
        (
            "http",
            {"session_timeout": SESSION_TIMEOUT, "poll_timeout": 1.0},
            lambda tls, tmp: {"url": "http://127.0.0.1:0/starling", "broken_within": 2 * SESSION_TIMEOUT},
        ),
    ],
    "https": [
        (
            "https",
            {"session_timeout": SESSION_TIMEOUT, "poll_timeout": 1.0},
            lambda tls, tmp: {
                "url": "https://127.0.0.1:0",
                "server_ssl": tls.server,
                "client_ssl": tls.client,
                "broken_within": 2 * SESSION_TIMEOUT,
            },
        ),
    ],
    "unix": [("unix", {}, lambda tls, tmp: {"url": f"unix://{tmp}/carrier.sock"})],
}


def _params() -> list[Any]:
    params = []
    for ep in sorted(entry_points(group="starling.transports"), key=lambda e: e.name):
        cases = CASES.get(ep.name)
        if cases is None:
            params.append(pytest.param(ep, None, id=f"{ep.name}-no-case"))
            continue
        params.extend(pytest.param(ep, case, id=case[0]) for case in cases)
    return params


@pytest.mark.parametrize(("ep", "case"), _params())
async def test_carrier_conformance(ep: Any, case: Case | None, tls: Any, tmp_path: Path) -> None:
    assert case is not None, (
        f"carrier {ep.name!r} ({ep.value}) is installed but has no conformance case: add one to CASES"
    )
    _name, settings, make_kwargs = case
    cls = ep.load()
    carrier = cls(**settings)
    assert isinstance(carrier, Carrier)
    assert ep.name in cls.schemes or not cls.schemes
    kwargs = make_kwargs(tls, tmp_path)
    await check_transport(carrier, kwargs.pop("url"), **kwargs)


def test_every_builtin_scheme_is_registered() -> None:
    names = {ep.name for ep in entry_points(group="starling.transports")}
    assert {"memory", "tcp", "quic", "http", "https"} <= names, names
