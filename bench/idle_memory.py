"""Where an idle TLS connection's Python memory goes, in a server that waits in a task
per connection and in one that parks its quiet connections (``transports.Parking``).

    .venv/bin/python bench/idle_memory.py [--conns 2000] [--top 15] [--json]

For each mode a server subprocess (the TCP carrier with TLS, tracemalloc on) serves
``--conns`` idle connections from this process, each having sent one ping and read its
pong; the server compares a tracemalloc snapshot taken with 200 warm-up connections open
against one with all of them open. Printed: Python bytes and objects per idle connection
(tracemalloc), RSS per idle connection (tracemalloc's own bookkeeping included, so larger
than without it: ``bench/connections.py`` measures RSS in the real proxy), and the largest
allocation sites. The server's handler pongs pings; parked, it reads with
``Parking.next_message`` and parks between messages. Not a test; loopback only.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import subprocess
import sys
import tempfile
import tracemalloc
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psutil  # noqa: E402
import trio  # noqa: E402

from transports import Channel, Parking, Ping, Pong, client_context, get_carrier, server_context  # noqa: E402

WARM = 200


async def _serve(mode: str, tls: dict[str, str], top: int) -> None:
    lot = Parking()

    async def waiting(channel: Channel) -> None:
        async for msg in channel:
            if isinstance(msg, Ping):
                await channel.send(Pong(seq=msg.seq))
            del msg

    async def parking(channel: Channel) -> None:
        while (msg := await lot.next_message(channel, parking)) is not None:
            if isinstance(msg, Ping):
                await channel.send(Pong(seq=msg.seq))
            del msg

    tracemalloc.start()
    async with trio.open_nursery() as nursery:
        await nursery.start(lot.run)
        url = await nursery.start(lambda task_status: get_carrier("tcp").serve(
            "tcp://127.0.0.1:0", parking if mode == "parked" else waiting,
            ssl_context=server_context(tls["cert"], tls["key"]), task_status=task_status))
        print(json.dumps({"url": url}), flush=True)
        stdin = trio.lowlevel.FdStream(os.dup(0))
        snaps = []
        while len(snaps) < 2:
            line = await stdin.receive_some(100)
            if not line:
                return
            gc.collect()
            snaps.append((tracemalloc.take_snapshot(), psutil.Process().memory_info().rss))
        n = int(line.decode().strip())
        (s0, r0), (s1, r1) = snaps
        stats = s1.compare_to(s0, "lineno")
        sites = [{"bytes": st.size_diff / n, "objects": st.count_diff / n, "where": st.traceback.format()[-1].strip()}
                 for st in stats[:top]]
        print(json.dumps({
            "mode": mode, "python_bytes": sum(st.size_diff for st in stats) / n,
            "python_objects": sum(st.count_diff for st in stats) / n, "rss_kib": (r1 - r0) / n / 1024, "sites": sites,
        }), flush=True)
        nursery.cancel_scope.cancel()


async def _measure(mode: str, conns: int, tls: dict[str, str], top: int) -> dict[str, Any]:
    proc = await trio.lowlevel.open_process(
        [sys.executable, __file__, "--serve", mode, "--tls", json.dumps(tls), "--top", str(top)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None
    try:
        with trio.fail_after(30):
            url = json.loads(await proc.stdout.receive_some(4096))["url"]
        ctx = client_context(tls["ca"])
        channels: list[Channel] = []
        limit = trio.CapacityLimiter(50)

        async def one() -> None:
            async with limit:
                ch = await get_carrier("tcp").connect(url, ssl_context=ctx)
                await ch.send(Ping(seq=1))
                await ch.receive()
                channels.append(ch)

        for count in (WARM, conns):
            async with trio.open_nursery() as nursery:
                for _ in range(count):
                    nursery.start_soon(one)
            await trio.sleep(1.5)  # the server settles (its last handlers park or wait)
            await proc.stdin.send_all(f"{count}\n".encode())
        buf = b""
        with trio.fail_after(120):
            while not buf.endswith(b"\n"):
                buf += await proc.stdout.receive_some(1 << 20)
        for ch in channels:
            await ch.abort()
        return json.loads(buf)
    finally:
        proc.kill()
        await proc.wait()


def _tls_files(root: Path) -> dict[str, str]:
    """A throwaway CA and a server certificate for 127.0.0.1 in ``root`` (the key 0600)."""
    import trustme

    from transports import write_private

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    files = {"ca": root / "ca.pem", "cert": root / "cert.pem", "key": root / "key.pem"}
    ca.cert_pem.write_to_path(str(files["ca"]))
    files["cert"].write_bytes(b"".join(b.bytes() for b in cert.cert_chain_pems))
    write_private(files["key"], cert.private_key_pem.bytes())
    return {k: str(v) for k, v in files.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--conns", type=int, default=2000, help="idle connections measured (beyond the warm-up's 200)")
    ap.add_argument("--top", type=int, default=12, help="allocation sites listed per mode")
    ap.add_argument("--json", action="store_true", help="also print one JSON object as the last line")
    ap.add_argument("--serve", help=argparse.SUPPRESS)
    ap.add_argument("--tls", help=argparse.SUPPRESS)
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if args.serve:
        trio.run(_serve, args.serve, json.loads(args.tls), args.top)
        return
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tls = _tls_files(Path(tmp))
        for mode in ("task", "parked"):
            rows.append(trio.run(_measure, mode, args.conns, tls, args.top))
    print(f"{args.conns:,} idle TLS connections, one server process each mode (tracemalloc on)\n")
    print("| server | Python bytes per connection | Python objects | RSS per connection (tracing included) |")
    print("| --- | ---: | ---: | ---: |")
    for r in rows:
        name = "a task per connection" if r["mode"] == "task" else "parked (transports.Parking)"
        print(f"| {name} | {r['python_bytes']:,.0f} | {r['python_objects']:.1f} | {r['rss_kib']:.1f} KiB |")
    for r in rows:
        print(f"\nlargest allocation sites, {r['mode']} (bytes and objects per connection):")
        for site in r["sites"]:
            if site["bytes"] >= 1:
                print(f"  {site['bytes']:7.0f} B {site['objects']:5.1f}  {site['where']}")
    if args.json:
        print(json.dumps({"bench": "idle_memory", "conns": args.conns,
                          "rows": [{k: v for k, v in r.items() if k != "sites"} for r in rows]}))


if __name__ == "__main__":
    main()
