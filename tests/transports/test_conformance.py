"""Every carrier passes the same conformance kit."""

from __future__ import annotations

import pytest
import trustme

from transports import get_carrier
from transports.testing import check_transport


@pytest.fixture(scope="session")
def tls_pair():
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    server = __import__("ssl").create_default_context(__import__("ssl").Purpose.CLIENT_AUTH)
    cert.configure_cert(server)
    client = __import__("ssl").create_default_context()
    ca.configure_trust(client)
    return server, client


async def test_memory_carrier():
    await check_transport(get_carrier("memory"), "memory://conformance", raw_garbage=b"\xc1garbage",
                          raw_half_frame=b"\x81", raw_oversized=b"\x00" * (256 * 1024 + 1))


async def test_tcp_plain():
    await check_transport(get_carrier("tcp"), "tcp://127.0.0.1:0")


async def test_tcp_tls(tls_pair):
    server, client = tls_pair
    await check_transport(get_carrier("tcp"), "tcp://127.0.0.1:0", server_ssl=server, client_ssl=client)
