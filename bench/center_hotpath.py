"""The center's hot path alone: registration, presence, heartbeats, one job.

A real :class:`center.Center` — real store (SQLite file by default, or
``--db URL``), real policy and audit trail, its dispatcher and group-commit
writers — is linked to one stand-in proxy over the in-memory carrier (every
message still goes through the wire codec). The stand-in speaks the proxy's
protocol: hello with its credential, load report, presence, dispatch acks,
events and results in batches. Its hosts enroll with real Ed25519 keys and
sign every result, so the center pays for the same checks as with real
agents. What is NOT measured here: TLS, HTTP parsing, the proxy and the agents
themselves (bench/fanout.py and bench/simfleet.py measure the whole system).

    .venv/bin/python bench/center_hotpath.py --hosts 1000 10000
    .venv/bin/python bench/center_hotpath.py --hosts 10000 --db postgresql+psycopg://postgres@127.0.0.1:5432/NAME --json

Rows: registration rate (concurrent registrations through the registrar,
plus the proxy choice), seconds until every host is online in the store,
store rows written for one heartbeat round of every host (before the next
snapshot), and an ``exec.run`` job on all hosts: submit latency, submit to
every result stored, and the process CPU seconds spent on the job. CPU
seconds include the stand-in agents' result signatures (about a third of
the job's CPU): the center's share is less. On a busy machine the CPU
columns are the ones to compare; wall times stretch with the load.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import msgspec
import trio
from cryptography.hazmat.primitives.asymmetric import ed25519

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import base64  # noqa: E402

from agent_core.host import catalogue_for  # noqa: E402
from center._accounts import SecretBox, ensure_admin  # noqa: E402
from center._audit import AuditTrail  # noqa: E402
from center._center import Center  # noqa: E402
from center._credentials import proxy_token  # noqa: E402
from center._policy import Policy  # noqa: E402
from center._requests import JobRequest  # noqa: E402
from center._store import AsyncStore, Enrollee, Store  # noqa: E402
from transports import (  # noqa: E402
    AgentState,
    Dispatch,
    DispatchAck,
    Events,
    Health,
    Hello,
    LoadReport,
    Presence,
    Result,
    Results,
    TaskEvent,
    get_carrier,
)
from transports.signing import sign_result  # noqa: E402

PROXY = "bench-proxy"
TOKEN = "bench-proxy-token"
ADMIN = "bench-admin"
BATCH = 500  # a proxy's results/events batch


def _rows_counter(store: AsyncStore) -> Counter[str]:
    """Counts store calls and the rows they carried, by operation."""
    seen: Counter[str] = Counter()
    previous = store.observer

    def observe(op: str, args: tuple[Any, ...], seconds: float) -> None:
        seen[op] += 1
        if op == "presence_snapshot" and args:
            seen["heartbeat rows"] += len(args[0])
        if previous is not None:
            previous(op, args, seconds)

    store.observer = observe
    return seen


async def one(hosts: int, db: str, work: Path, catalogue: tuple[str, Any]) -> dict[str, float]:
    sync = Store(db)
    sync.drop_all()
    sync.create_all()
    box = SecretBox(os.urandom(32))
    ensure_admin(sync, box, ADMIN, "s" * 32)
    store = AsyncStore(sync)
    trail = AuditTrail(store, center_id="bench")
    policy = Policy()
    digest, cat = catalogue
    doc = msgspec.json.encode(cat)
    policy.book.add(digest, doc)
    sync.add_catalogue(digest, doc)
    center = Center(store, ed25519.Ed25519PrivateKey.generate(), proxy_token=TOKEN, policy=policy, audit=trail, center_id="bench", heartbeat=5.0)
    seen = _rows_counter(store)
    keys = [ed25519.Ed25519PrivateKey.generate() for _ in range(hosts)]
    pubs = [base64.b64encode(k.public_key().public_bytes_raw()).decode() for k in keys]
    url = f"memory://bench-center-{os.getpid()}-{hosts}"
    out: dict[str, float] = {"hosts": hosts}
    async with trio.open_nursery() as nursery:
        await nursery.start(center.run)
        nursery.start_soon(trail.run)
        await nursery.start(lambda task_status: get_carrier(url).serve(url, center.proxy_session, task_status=task_status))
        link = await get_carrier(url).connect(url)
        await link.send(Hello(role="proxy", node_id=PROXY, credential=proxy_token(TOKEN, PROXY).encode(), idc="bench"))
        await link.receive()  # welcome
        await link.send(LoadReport(proxy_id=PROXY, idc="bench", capacity=10 * hosts, urls=["tcp://127.0.0.1:1"]))
        while PROXY not in center.links or not center.links[PROXY].urls:  # noqa: ASYNC110 - watches the center from outside
            await trio.sleep(0.01)

        # -- registration: every host at once, as a cold start does
        ids: list[str] = [""] * hosts

        async def enroll(i: int, limiter: trio.CapacityLimiter) -> None:
            async with limiter:
                got = await center.registrar.register(
                    Enrollee(sn=f"bench-{i}", hostname=f"bench-{i:06d}", idc="bench", public_key=pubs[i], catalogue=digest),
                    base64.b64decode(pubs[i]),
                )
                await center.placement.proxies_for("bench")
                ids[i] = got.agent_id

        cpu0, t0 = time.process_time(), time.perf_counter()
        limiter = trio.CapacityLimiter(512)  # registrations in flight, like many agents' HTTPS requests
        async with trio.open_nursery() as regs:
            for i in range(hosts):
                regs.start_soon(enroll, i, limiter)
        out["register_per_s"] = hosts / (time.perf_counter() - t0)
        out["register_cpu_ms_per_host"] = (time.process_time() - cpu0) * 1000 / hosts
        out["register_batches"] = center.registrar.batches

        # -- presence: the proxy's full report, then one heartbeat round
        t0 = time.perf_counter()
        now = time.time()
        await link.send(Presence(agents=[AgentState(agent_id=a, online=True, at=now, carrier="tcp") for a in ids], full=True))
        while await store.call(lambda s: len(s.select_agents(all_hosts=True, online=True)), sync) < hosts:  # noqa: ASYNC110 - polls the store
            await trio.sleep(0.05)
        out["all_online_s"] = time.perf_counter() - t0
        before = seen["presence_changes"] + seen["presence_snapshot"]
        health = Health(load1=0.1, cpus=2)
        for i in range(0, hosts, BATCH):
            await link.send(Presence(agents=[AgentState(agent_id=a, online=True, at=time.time(), health=health, carrier="tcp") for a in ids[i : i + BATCH]]))
        await trio.sleep(0.2)
        out["beat_round_writes"] = seen["presence_changes"] + seen["presence_snapshot"] - before
        await center.presence.snapshot(force=True)
        out["snapshot_rows"] = seen["heartbeat rows"]

        # -- one job on every host
        by_task: dict[str, int] = {}
        index = {a: i for i, a in enumerate(ids)}
        done = trio.Event()

        async def stand_in_proxy() -> None:
            async for msg in link:
                if isinstance(msg, Dispatch):
                    await link.send(DispatchAck(dispatch_id=msg.dispatch_id))
                    for i in range(0, len(msg.tasks), BATCH):
                        chunk = msg.tasks[i : i + BATCH]
                        at = time.time()
                        await link.send(Events(events=[TaskEvent(t.task_id, "running", at) for t in chunk]))

                        def signed(chunk: list[Any] = chunk, at: float = at) -> list[Result]:
                            return [
                                sign_result(keys[index[t.agent_id]], Result(task_id=t.task_id, state="succeeded", exit_code=0, stdout="hi\n", started=at, finished=at))
                                for t in chunk
                            ]

                        results = await trio.to_thread.run_sync(signed)  # the agents' work, off the center's thread
                        by_task.update({r.task_id: 1 for r in results})
                        await link.send(Results(results=results))
                if done.is_set():
                    return

        nursery.start_soon(stand_in_proxy)
        cpu0, t0 = time.process_time(), time.perf_counter()
        answer = await center.submit(JobRequest(action="exec.run", params={"cmd": "echo hi"}, all=True, timeout=60), ADMIN)
        out["submit_s"] = time.perf_counter() - t0
        out["submit_cpu_s"] = time.process_time() - cpu0
        job_id = answer["job_id"]
        while True:
            await center.wait_progress(job_id, 0.2)
            job = await store.job(job_id)
            if job is not None and job.state == "done":
                break
        out["job_all_stored_s"] = time.perf_counter() - t0
        out["job_cpu_s"] = time.process_time() - cpu0
        counts = await store.job_counts(job_id)
        if counts != {"succeeded": hosts}:
            raise SystemExit(f"{hosts}: job ended {counts}")
        out["progress_commits"] = center.progress.commits
        out["signatures"] = center.dispatcher.signed.signatures
        done.set()
        await trail.flush()
        nursery.cancel_scope.cancel()
    sync.engine.dispose()
    return out


COLUMNS = [
    ("hosts", "hosts", "{:.0f}"),
    ("register_per_s", "register/s", "{:.0f}"),
    ("register_cpu_ms_per_host", "reg. CPU ms", "{:.2f}"),
    ("register_batches", "reg. txns", "{:.0f}"),
    ("all_online_s", "online s", "{:.2f}"),
    ("beat_round_writes", "beat writes", "{:.0f}"),
    ("snapshot_rows", "snap. rows", "{:.0f}"),
    ("submit_s", "submit s", "{:.3f}"),
    ("submit_cpu_s", "submit CPU", "{:.3f}"),
    ("job_all_stored_s", "job s", "{:.2f}"),
    ("job_cpu_s", "job CPU s", "{:.2f}"),
    ("progress_commits", "result txns", "{:.0f}"),
    ("signatures", "signings", "{:.0f}"),
]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hosts", type=int, nargs="+", default=[1000, 10000])
    ap.add_argument("--db", default="", help="a store URL (default: a fresh SQLite file per size)")
    ap.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="starling-hotpath-") as tmp:
        work = Path(tmp)
        catalogue = catalogue_for(work)
        rows = []
        for n in args.hosts:
            db = args.db or f"sqlite:///{work / f'center-{n}.db'}"
            rows.append(trio.run(one, n, db, work, catalogue))
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (a busy machine slows every figure)")
    print("  ".join(f"{title:>11}" for _, title, _ in COLUMNS))
    for r in rows:
        print("  ".join(f"{fmt.format(r[key]):>11}" for key, _, fmt in COLUMNS))
    if args.json:
        print(json.dumps({"load1": os.getloadavg()[0], "rows": rows}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
