"""CPU of one TLS handshake on each side, OpenSSL alone (memory BIOs: no sockets, no trio).

    .venv/bin/python bench/tls_handshake.py              # the project's contexts, tickets on and off
    .venv/bin/python bench/tls_handshake.py --n 2000 --json

Certificates of the kind every Starling link has (center/_pki.py makes an ECDSA P-256 CA
and leaves it issues; here trustme makes the same kind, as bench/tls_memory.py does). Each row: process CPU per handshake of the client (ClientHello, then the
server's flight: key share, certificate chain and CertificateVerify checks, Finished) and
of the server (its flight, session tickets, the client's Finished), and the client's
reading of the first record after it (where TLS 1.3 tickets are taken in). Not a test:
numbers go to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import ssl
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from transports import client_context, server_context, write_private  # noqa: E402


def _step(obj: ssl.SSLObject) -> None:
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass


def measure(sctx: ssl.SSLContext, cctx: ssl.SSLContext, n: int) -> dict[str, float]:
    client = server = 0.0
    version = ""
    for _ in range(n):
        ci, co, si, so = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
        c = cctx.wrap_bio(ci, co, server_hostname="127.0.0.1")
        s = sctx.wrap_bio(si, so, server_side=True)
        t0 = time.process_time()
        _step(c)
        t1 = time.process_time()
        si.write(co.read())
        _step(s)
        t2 = time.process_time()
        ci.write(so.read())
        c.do_handshake()
        t3 = time.process_time()
        si.write(co.read())
        s.do_handshake()
        s.write(b"hello")
        t4 = time.process_time()
        ci.write(so.read())
        c.read(5)
        t5 = time.process_time()
        client += (t1 - t0) + (t3 - t2) + (t5 - t4)
        server += (t2 - t1) + (t4 - t3)
        version = str(c.version())
    return {"client_us": 1e6 * client / n, "server_us": 1e6 * server / n, "version": version}  # type: ignore[dict-item]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=500, help="handshakes per row")
    ap.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args = ap.parse_args()
    import trustme

    with tempfile.TemporaryDirectory() as tmp:
        pki = Path(tmp)
        authority = trustme.CA()  # ECDSA P-256, as center/_pki.py
        leaf = authority.issue_cert("127.0.0.1", "localhost")
        ca, cert, key = pki / "ca.pem", pki / "cert.pem", pki / "key.pem"
        authority.cert_pem.write_to_path(str(ca))
        cert.write_bytes(b"".join(b.bytes() for b in leaf.cert_chain_pems))
        write_private(key, leaf.private_key_pem.bytes())
        rows = []
        for tickets in (2, 0):
            sctx, cctx = server_context(cert, key), client_context(ca)
            sctx.num_tickets = tickets
            measure(sctx, cctx, 20)  # warm up
            rows.append({"tickets": tickets, **measure(sctx, cctx, args.n)})
    print(f"{ssl.OPENSSL_VERSION}; {args.n} handshakes per row; CPU per handshake")
    print("| session tickets | version | client µs | server µs |")
    print("|---:|---|---:|---:|")
    for r in rows:
        print(f"| {r['tickets']} | {r['version']} | {r['client_us']:.0f} | {r['server_us']:.0f} |")
    if args.json:
        print(json.dumps({"bench": "tls_handshake", "openssl": ssl.OPENSSL_VERSION, "rows": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
