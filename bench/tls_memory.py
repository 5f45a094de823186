"""Where an idle TLS connection's memory goes in the proxy: the OpenSSL part.

    .venv/bin/python bench/tls_memory.py [--n 1000] [--json]

Counts the C heap (glibc ``mallinfo2``: bytes in use, not RSS, so freed holes
and Python's own arenas are not counted) that server-side TLS connections hold:
``ssl.SSLObject``s over two ``MemoryBIO``s (trio's ``SSLStream``, and the
carrier's own stream until session 10) at three stages: just created, after a
TLS handshake with a client (done in memory), and after a small message each
way; and, as the carrier's stream holds them now, ``ssl.SSLSocket``s over a
socket pair after the handshake and a small message each way (the client ends
closed before counting; the Python objects of both kinds are included here). Then what one
``MemoryBIO`` keeps after one write of a given size passed through it (the
buffer keeps the largest size it ever held). The Python side of a connection
(trio tasks, streams, the channel) is measured with tracemalloc by
``bench/connections.py``'s numbers minus these; see docs/benchmarks.md.
Not a test; glibc only.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import ssl
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from transports import client_context, server_context, write_private  # noqa: E402


class _MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()]


_libc = ctypes.CDLL("libc.so.6")
_libc.mallinfo2.restype = _MallInfo2


def heap_in_use() -> int:
    info = _libc.mallinfo2()
    return int(info.uordblks + info.hblkhd)


def _contexts(root: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    ca.cert_pem.write_to_path(str(root / "ca.pem"))
    (root / "cert.pem").write_bytes(b"".join(b.bytes() for b in cert.cert_chain_pems))
    write_private(root / "key.pem", cert.private_key_pem.bytes())
    return server_context(root / "cert.pem", root / "key.pem"), client_context(root / "ca.pem")


def _pump(out: ssl.MemoryBIO, into: ssl.MemoryBIO) -> None:
    data = out.read()
    if data:
        into.write(data)


def _server_side(sctx: ssl.SSLContext, cctx: ssl.SSLContext, stage: str) -> Any:
    si, so, ci, co = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
    server = sctx.wrap_bio(si, so, server_side=True)
    if stage == "created":
        return server, si, so
    client = cctx.wrap_bio(ci, co, server_hostname="127.0.0.1")
    for _ in range(10):
        for end in (client, server):
            try:
                end.do_handshake()
            except ssl.SSLWantReadError:
                pass
        _pump(co, si)
        _pump(so, ci)
    if stage == "one message each way":
        client.write(b"x" * 100)
        _pump(co, si)
        server.read(16384)
        server.write(b"y" * 100)
        _pump(so, ci)
    return server, si, so


def _socket_side(sctx: ssl.SSLContext, cctx: ssl.SSLContext) -> tuple[Any, Any]:
    """A server ``SSLSocket`` after a handshake and one small message each way, and its client."""
    import socket

    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    server = sctx.wrap_socket(a, server_side=True, do_handshake_on_connect=False)
    client = cctx.wrap_socket(b, server_hostname="127.0.0.1", do_handshake_on_connect=False)
    done = [False, False]
    for _ in range(20):
        for i, end in enumerate((client, server)):
            if not done[i]:
                try:
                    end.do_handshake()
                    done[i] = True
                except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                    pass
        if all(done):
            break
    client.sendall(b"x" * 100)
    server.recv(16384)
    server.sendall(b"y" * 100)
    client.recv(1000)
    return server, client


def measure(n: int) -> dict[str, float]:
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        sctx, cctx = _contexts(Path(tmp))
        for stage in ("created", "handshake done", "one message each way"):
            for _ in range(20):
                _server_side(sctx, cctx, stage)  # warm up the allocator
            gc.collect()
            before = heap_in_use()
            keep = [_server_side(sctx, cctx, stage) for _ in range(n)]
            gc.collect()
            out[f"server SSLObject + 2 BIOs: {stage}"] = (heap_in_use() - before) / n
            del keep
        for _ in range(20):
            _socket_side(sctx, cctx)[1].close()
        gc.collect()
        before = heap_in_use()
        pairs = [_socket_side(sctx, cctx) for _ in range(n)]
        for _server, client in pairs:
            client.close()
        servers = [server for server, _client in pairs]
        del pairs, _server, client
        gc.collect()
        out["server SSLSocket (the carrier's stream now): one message each way, client closed"] = (heap_in_use() - before) / n
        for server in servers:
            server.close()
        del servers
    for size in (100, 3000, 16384):
        gc.collect()
        before = heap_in_use()
        bios = []
        for _ in range(n):
            bio = ssl.MemoryBIO()
            bio.write(b"x" * size)
            bio.read()
            bios.append(bio)
        out[f"MemoryBIO after one {size}-byte write (drained)"] = (heap_in_use() - before) / n
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1000, help="objects per row")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    rows = measure(args.n)
    print(f"OpenSSL {ssl.OPENSSL_VERSION}, {args.n:,} objects per row, C heap in use (mallinfo2)\n")
    print("| what | bytes each |\n| --- | ---: |")
    for what, size in rows.items():
        print(f"| {what} | {size:,.0f} |")
    if args.json:
        print(json.dumps({k: round(v) for k, v in rows.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
