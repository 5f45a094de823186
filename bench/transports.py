"""Benchmark every carrier on loopback and print one table.

For each carrier: small-frame messages per second one way on one channel,
from one sending task and from 32 at once (whose frames the carrier may
coalesce into shared writes), each also per CPU-second of the sender, round-trip time p50/p99 (one message out, its echo back), and the server's
memory per idle channel with 1,000 channels open (RSS delta of the server
process, which runs in a subprocess so the client's memory is not counted).

Run: ``.venv/bin/python bench/transports.py [--carriers tcp,quic,...] [--idle 1000]``
Not a test: nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psutil  # noqa: E402
import trio  # noqa: E402

from transports import (  # noqa: E402
    Channel,
    Output,
    Ping,
    Pong,
    client_context,
    get_carrier,
    server_context,
)

# name -> (scheme, listen URL, uses TLS)
CASES: dict[str, tuple[str, str, bool]] = {
    "memory": ("memory", "memory://bench", False),
    "tcp": ("tcp", "tcp://127.0.0.1:0", False),
    "tcp+tls": ("tcp", "tcp://127.0.0.1:0", True),
    "quic": ("quic", "quic://127.0.0.1:0", True),
    "http": ("http", "http://127.0.0.1:0/starling", False),
    "https": ("https", "https://127.0.0.1:0/starling", True),
    "unix": ("unix", "", False),
}


def _raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


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


async def _bench_handler(ch: Channel) -> None:
    """Echo pings; count one-way messages and report the count on a pong."""
    count = 0
    async for msg in ch:
        if isinstance(msg, Ping):
            await ch.send(msg)
        elif isinstance(msg, Output):
            count += 1
        elif isinstance(msg, Pong):
            await ch.send(Pong(seq=count))
            count = 0


# --- the server subprocess ------------------------------------------------------------


async def _serve(case: str, url: str, tls: dict[str, str] | None) -> None:
    scheme = CASES[case][0]
    ssl_ctx = server_context(tls["cert"], tls["key"]) if tls else None
    async with trio.open_nursery() as nursery:
        bound = await nursery.start(
            lambda task_status: get_carrier(scheme).serve(url, _bench_handler, ssl_context=ssl_ctx, task_status=task_status)
        )
        print(json.dumps({"url": bound, "pid": os.getpid()}), flush=True)
        await trio.sleep_forever()


# --- the client side ---------------------------------------------------------------------


async def _throughput(ch: Channel, seconds: float, senders: int = 1) -> tuple[float, float]:
    """Small messages one way for ``seconds`` from ``senders`` tasks at once:
    (messages per wall second, messages per CPU-second of this sending process)."""
    sent = 0
    start, cpu0 = time.perf_counter(), time.process_time()
    deadline = start + seconds
    msg = Output(task_id="bench", seq=0, data=b"x" * 32)

    async def pump() -> None:
        nonlocal sent
        while time.perf_counter() < deadline:
            for _ in range(100):
                await ch.send(msg)
            sent += 100

    async with trio.open_nursery() as nursery:
        for _ in range(senders):
            nursery.start_soon(pump)
    cpu = time.process_time() - cpu0
    await ch.send(Pong(seq=0))
    reply = await ch.receive()
    elapsed = time.perf_counter() - start
    assert isinstance(reply, Pong) and reply.seq == sent, (reply, sent)
    return sent / elapsed, sent / max(cpu, 1e-9)


async def _round_trips(ch: Channel, count: int) -> tuple[float, float]:
    samples = []
    for i in range(count):
        t = time.perf_counter()
        await ch.send(Ping(seq=i))
        await ch.receive()
        samples.append(time.perf_counter() - t)
    samples.sort()
    return statistics.median(samples) * 1e3, samples[int(len(samples) * 0.99) - 1] * 1e3


async def _idle_memory(url: str, scheme: str, ssl_ctx: Any, pid: int, n: int) -> float:
    proc = psutil.Process(pid)
    await trio.sleep(0.5)
    before = proc.memory_info().rss
    channels: list[Channel] = []
    limit = trio.CapacityLimiter(50)

    async def one() -> None:
        async with limit:
            ch = await get_carrier(scheme).connect(url, ssl_context=ssl_ctx)
            await ch.send(Ping(seq=1))
            await ch.receive()
            channels.append(ch)

    async with trio.open_nursery() as nursery:
        for _ in range(n):
            nursery.start_soon(one)
    await trio.sleep(2.0)  # let the server settle (pending acks, timers, first keep-alives)
    after = proc.memory_info().rss
    async with trio.open_nursery() as nursery:
        for ch in channels:
            nursery.start_soon(ch.aclose)
    return (after - before) / n


async def _run_case(case: str, args: argparse.Namespace, tls: dict[str, str]) -> dict[str, Any]:
    scheme, url, uses_tls = CASES[case]
    if case == "unix":
        url = f"unix://{tempfile.mkdtemp(prefix='starling-bench-')}/bench.sock"
    client_ssl = client_context(tls["ca"]) if uses_tls else None
    row: dict[str, Any] = {"carrier": case}
    if case == "memory":  # in-process only: no server process to weigh
        async with trio.open_nursery() as nursery:
            bound = await nursery.start(lambda task_status: get_carrier(scheme).serve(url, _bench_handler, task_status=task_status))
            ch = await get_carrier(scheme).connect(bound)
            row["msgs_per_s"], row["per_cpu_s"] = await _throughput(ch, args.seconds)
            row["msgs_per_s_32"], row["per_cpu_s_32"] = await _throughput(ch, args.seconds, 32)
            row["p50_ms"], row["p99_ms"] = await _round_trips(ch, args.rtts)
            await ch.aclose()
            nursery.cancel_scope.cancel()
        return row
    cmd = [sys.executable, __file__, "--serve", case, "--url", url]
    if uses_tls:
        cmd += ["--tls", json.dumps(tls)]
    proc = await trio.lowlevel.open_process(cmd, stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        with trio.fail_after(30):
            line = await proc.stdout.receive_some(4096)
        info = json.loads(line)
        ch = await get_carrier(scheme).connect(info["url"], ssl_context=client_ssl)
        row["msgs_per_s"], row["per_cpu_s"] = await _throughput(ch, args.seconds)
        row["msgs_per_s_32"], row["per_cpu_s_32"] = await _throughput(ch, args.seconds, 32)
        row["p50_ms"], row["p99_ms"] = await _round_trips(ch, args.rtts)
        await ch.aclose()
        if args.idle:
            row["idle_kib"] = await _idle_memory(info["url"], scheme, client_ssl, info["pid"], args.idle) / 1024
    finally:
        proc.kill()
        await proc.wait()
    return row


def _table(rows: list[dict[str, Any]], idle: int) -> str:
    head = (
        "| carrier | msgs/s (one way, 1 channel) | per sender CPU-s | msgs/s (32 senders) | per sender CPU-s (32) "
        f"| RTT p50 (ms) | RTT p99 (ms) | KiB per idle channel ({idle:,} open) |"
    )
    lines = [head, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        idle_col = f"{r['idle_kib']:.1f}" if "idle_kib" in r else "n/a"
        lines.append(
            f"| {r['carrier']} | {r['msgs_per_s']:,.0f} | {r['per_cpu_s']:,.0f} | {r['msgs_per_s_32']:,.0f} "
            f"| {r['per_cpu_s_32']:,.0f} | {r['p50_ms']:.3f} | {r['p99_ms']:.3f} | {idle_col} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--carriers", default="memory,tcp,tcp+tls,quic,http,https,unix")
    parser.add_argument("--seconds", type=float, default=3.0, help="length of the throughput run")
    parser.add_argument("--rtts", type=int, default=2000, help="round trips timed")
    parser.add_argument("--idle", type=int, default=1000, help="idle channels for the memory figure (0: skip)")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--tls", help=argparse.SUPPRESS)
    args = parser.parse_args()
    _raise_fd_limit()
    if args.serve:
        trio.run(_serve, args.serve, args.url, json.loads(args.tls) if args.tls else None)
        return
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tls = _tls_files(Path(tmp))
        for case in args.carriers.split(","):
            if case == "unix":
                try:
                    get_carrier("unix")
                except Exception:
                    print("unix: skipped (pip install -e examples/starling-carrier-unix)", file=sys.stderr)
                    continue
            print(f"{case} ...", file=sys.stderr, flush=True)
            rows.append(trio.run(_run_case, case, args, tls))
    print(f"Python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs, loopback")
    print(_table(rows, args.idle))


if __name__ == "__main__":
    main()
