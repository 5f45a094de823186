"""The center's hot path on each real store (SQLite, PostgreSQL, MariaDB):
registrations coalesce into one transaction, presence is written as changes
and snapshots (never per heartbeat), submit returns before any proxy hears of
the job, a job is signed once and its proofs reused for redispatches, and
results of many proxy batches land in one transaction, each stored once.

The proxy here is a stand-in speaking the real protocol over the in-memory
carrier (every message crosses the wire codec); the agents' keys and result
signatures are real.
"""

from __future__ import annotations

import base64
import os
import time
from pathlib import Path
from typing import Any

import msgspec
import pytest
import trio
from cryptography.hazmat.primitives.asymmetric import ed25519

from agent_core.host import catalogue_for
from center._accounts import SecretBox, ensure_admin
from center._center import Center
from center._credentials import proxy_token
from center._credentials import verify as verify_credential
from center._policy import Policy
from center._requests import JobRequest
from center._store import AsyncStore, Enrollee, Store
from transports import (
    AgentState,
    Channel,
    Dispatch,
    DispatchAck,
    Events,
    Health,
    Hello,
    LoadReport,
    Ping,
    Pong,
    Presence,
    Result,
    ResultAck,
    Results,
    TaskEvent,
    get_carrier,
)
from transports.signing import sign_result, verify_task

PROXY = "p-test"
TOKEN = "proxy-master-token"
ADMIN = "admin-test"


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, bytes]:
    digest, cat = catalogue_for(tmp_path_factory.mktemp("catalogue"))  # the real agent's declarations
    return digest, msgspec.json.encode(cat)


class Bench:
    """A center over a real store, one stand-in proxy link, and enrolled hosts."""

    def __init__(self, db_url: str, catalogue: tuple[str, bytes]) -> None:
        self.sync = Store(db_url)
        self.sync.create_all()
        ensure_admin(self.sync, SecretBox(os.urandom(32)), ADMIN, "s" * 32)
        self.digest, doc = catalogue
        self.sync.add_catalogue(self.digest, doc)
        policy = Policy()
        policy.book.add(self.digest, doc)
        self.store = AsyncStore(self.sync)
        self.center = Center(self.store, ed25519.Ed25519PrivateKey.generate(), proxy_token=TOKEN, policy=policy, heartbeat=5.0)
        self.keys: dict[str, ed25519.Ed25519PrivateKey] = {}
        self.link: Channel | None = None
        self.calls: list[str] = []
        previous = self.store.observer

        def observe(op: str, args: tuple[Any, ...], seconds: float) -> None:
            self.calls.append(op)
            if previous is not None:
                previous(op, args, seconds)

        self.store.observer = observe

    async def start(self, nursery: trio.Nursery) -> None:
        await nursery.start(self.center.run)
        url = f"memory://hotpath-{id(self)}"
        await nursery.start(lambda task_status: get_carrier(url).serve(url, self.center.proxy_session, task_status=task_status))
        self.link = await get_carrier(url).connect(url)
        await self.link.send(Hello(role="proxy", node_id=PROXY, credential=proxy_token(TOKEN, PROXY).encode(), idc="t"))
        await self.link.receive()  # welcome
        await self.link.send(LoadReport(proxy_id=PROXY, idc="t", capacity=1000, urls=["tcp://127.0.0.1:1"]))

    async def enroll(self, n: int) -> list[str]:
        ids: list[str] = [""] * n

        async def one(i: int) -> None:
            key = ed25519.Ed25519PrivateKey.generate()
            pub = key.public_key().public_bytes_raw()
            got = await self.center.registrar.register(
                Enrollee(sn=f"sn-{i}", hostname=f"h{i:03d}", idc="t", public_key=base64.b64encode(pub).decode(), catalogue=self.digest), pub
            )
            ids[i] = got.agent_id
            self.keys[got.agent_id] = key

        async with trio.open_nursery() as nursery:
            for i in range(n):
                nursery.start_soon(one, i)
        return ids

    async def online(self, ids: list[str]) -> None:
        assert self.link is not None
        await self.link.send(Presence(agents=[AgentState(agent_id=a, online=True, at=_time()) for a in ids], full=True))
        with trio.fail_after(10):
            while len(self.sync.select_agents(all_hosts=True, online=True)) < len(ids) or "presence_changes" not in self.calls:  # noqa: ASYNC110 - polls the store
                await trio.sleep(0.02)

    async def hosts_and_job(self, n: int) -> tuple[list[str], dict[str, Any]]:
        """``n`` hosts enrolled and online, and an ``exec.run`` job submitted to all of them."""
        ids = await self.enroll(n)
        await self.online(ids)
        answer = await self.center.submit(JobRequest(action="exec.run", params={"cmd": "echo hi"}, all=True, timeout=30), ADMIN)
        return ids, answer

    async def results_of_a_job(self, n: int) -> tuple[str, list[Result]]:
        """An ``exec.run`` job on ``n`` hosts, its dispatch acknowledged as the proxy would,
        and each host's signed ``succeeded`` result (not sent yet)."""
        _ids, answer = await self.hosts_and_job(n)
        d = await self.next_dispatch()
        assert self.link is not None
        await self.link.send(DispatchAck(dispatch_id=d.dispatch_id))
        results = [
            sign_result(self.keys[t.agent_id], Result(task_id=t.task_id, state="succeeded", exit_code=0, stdout=f"{t.agent_id}\n", finished=_time()))
            for t in d.tasks
        ]
        return answer["job_id"], results

    async def next_dispatch(self) -> Dispatch:
        assert self.link is not None
        with trio.fail_after(10):
            async for msg in self.link:
                if isinstance(msg, Dispatch):
                    return msg
        raise AssertionError("link closed")


def _time() -> float:
    return time.time()


async def test_registrations_coalesce_into_few_transactions(db_url: str, catalogue: tuple[str, bytes]) -> None:
    b = Bench(db_url, catalogue)
    async with trio.open_nursery() as nursery:
        await b.start(nursery)
        ids = await b.enroll(60)
        assert len(set(ids)) == 60 and all(ids)
        # 60 concurrent registrations, a handful of transactions (the first may go alone)
        assert b.calls.count("register_agents") == b.center.registrar.batches < 60
        assert b.center.registrar.hosts == 60
        # the credential is the center's signature over the host's id, IDC and key
        claims = verify_credential(b.center.public_key, (await b.center.registrar.register(Enrollee(sn="sn-7", idc="t"))).credential, ids[7])
        assert claims.idc == "t"
        # a revoked host is answered revoked, without a credential
        await b.store.revoke_agent(ids[3])
        got = await b.center.registrar.register(Enrollee(sn="sn-3", idc="t"))
        assert (got.agent_id, got.revoked, got.credential) == (ids[3], True, "")
        nursery.cancel_scope.cancel()


async def test_heartbeats_are_snapshots_not_writes(db_url: str, catalogue: tuple[str, bytes]) -> None:
    b = Bench(db_url, catalogue)
    async with trio.open_nursery() as nursery:
        await b.start(nursery)
        ids = await b.enroll(20)
        await b.online(ids)
        assert len(b.center.presence) == 20
        b.calls.clear()
        assert b.link is not None
        for _ in range(3):  # three heartbeat rounds of every host
            await b.link.send(Presence(agents=[AgentState(agent_id=a, online=True, at=_time(), health=Health(load1=0.25, cpus=4)) for a in ids]))
        await b.link.send(Presence(agents=[AgentState(agent_id=ids[0], online=False, at=_time(), code="E001")]))
        with trio.fail_after(10):
            while "presence_changes" not in b.calls:  # noqa: ASYNC110 - watches the center from outside
                await trio.sleep(0.02)
        assert b.center.presence.proxy_of(ids[0]) is None and b.center.presence.proxy_of(ids[1]) == PROXY
        # only the going was written; the beats wait for the snapshot
        assert [c for c in b.calls if c.startswith("presence")] == ["presence_changes"]
        assert await b.center.presence.snapshot(force=True) == 19
        rows = {r.id: r for r in b.sync.select_agents(all_hosts=True)}
        assert not rows[ids[0]].online and all(rows[a].online and rows[a].health["cpus"] == 4 for a in ids[1:])
        assert await b.center.presence.snapshot(force=True) == 0  # nothing beat since
        nursery.cancel_scope.cancel()


async def test_submit_returns_before_dispatch_and_a_job_is_signed_once(db_url: str, catalogue: tuple[str, bytes]) -> None:
    b = Bench(db_url, catalogue)
    async with trio.open_nursery() as nursery:
        await b.start(nursery)
        ids, answer = await b.hosts_and_job(12)
        # the job id is back before any proxy heard of the job
        assert answer["total"] == 12 and b.center.stats["dispatched"] == 0 and b.center.dispatcher.signed.signatures == 0
        first = await b.next_dispatch()
        keys = {b.center.key_id: b.center.public_key}
        for ref in first.tasks:  # what an agent checks before it runs anything
            verify_task(keys, first.job, ref.task_id, ref.proof, ref.index, _time(), agent_id=ref.agent_id)
        assert b.link is not None
        await b.link.send(DispatchAck(dispatch_id=first.dispatch_id))
        with trio.fail_after(10):
            while b.center.stats["dispatched"] < 12:  # noqa: ASYNC110 - watches the center from outside
                await trio.sleep(0.02)
        # hosts come back: their undelivered tasks go again, with the proofs kept from the first signing
        nursery.start_soon(b.center.dispatcher.redispatch_for, ids[:5])
        again = await b.next_dispatch()
        await b.link.send(DispatchAck(dispatch_id=again.dispatch_id))
        assert again.job.signature == first.job.signature and again.job.root == first.job.root
        assert {r.task_id: r.proof for r in again.tasks} == {r.task_id: r.proof for r in first.tasks if r.agent_id in ids[:5]}
        assert b.center.dispatcher.signed.signatures == 1
        nursery.cancel_scope.cancel()


async def test_a_dispatch_awaiting_its_ack_is_not_sent_again(db_url: str, catalogue: tuple[str, bytes]) -> None:
    """A large batch on a busy proxy can take a while to ack: its tasks are not
    re-sent meanwhile (they were, whole, past 10 s: every task of a 10,000-host job
    twice), and the link's end releases them at once, without waiting for the ack."""
    b = Bench(db_url, catalogue)
    async with trio.open_nursery() as nursery:
        await b.start(nursery)
        ids, _ = await b.hosts_and_job(6)
        first = await b.next_dispatch()
        in_flight = {r.task_id for r in first.tasks}
        assert b.center.dispatcher.in_flight == in_flight
        # the sweeper's and a reconnect's re-dispatch skip them while the ack is awaited
        await b.center.dispatcher.redispatch_for(ids)
        assert b.link is not None
        await b.link.send(Ping(seq=1))  # the center answers pong: anything dispatched would come before
        with trio.fail_after(10):
            async for msg in b.link:
                assert not isinstance(msg, Dispatch), "a task awaiting its proxy's ack was sent again"
                if isinstance(msg, Pong):
                    break
        # the link ends: nothing is in flight any more, and no ack is waited for
        await b.link.aclose()
        with trio.fail_after(5):
            while b.center.dispatcher.in_flight:  # noqa: ASYNC110 - watches the center from outside
                await trio.sleep(0.02)
        assert b.center.stats["dispatched"] == 0
        nursery.cancel_scope.cancel()


async def test_results_of_many_batches_in_few_transactions_stored_once(db_url: str, catalogue: tuple[str, bytes]) -> None:
    b = Bench(db_url, catalogue)
    async with trio.open_nursery() as nursery:
        await b.start(nursery)
        job_id, results = await b.results_of_a_job(30)
        assert b.link is not None
        # one result altered on its way (a proxy's forgery): dropped, not stored
        results[0] = msgspec.structs.replace(results[0], stdout="forged\n")
        commits = b.center.progress.commits
        for i in range(0, 30, 3):  # ten proxy batches, and every result sent twice
            await b.link.send(Events(events=[TaskEvent(r.task_id, "running", _time()) for r in results[i : i + 3]]))
            await b.link.send(Results(results=results[i : i + 3]))
        await b.link.send(Results(results=results[1:]))
        acked: set[str] = set()
        with trio.fail_after(20):
            async for msg in b.link:
                if isinstance(msg, ResultAck):
                    acked |= set(msg.task_ids)
                    if acked == {r.task_id for r in results}:
                        break
        with trio.fail_after(10):
            while (await b.store.job_counts(job_id)).get("succeeded", 0) < 29:  # noqa: ASYNC110 - polls the store
                await trio.sleep(0.02)
        assert b.center.progress.commits - commits < 21  # 21 proxy batches, fewer transactions
        counts = await b.store.job_counts(job_id)
        assert counts == {"succeeded": 29, "running": 1}, counts
        rows = {r.id: r for r in await b.store.job_tasks(job_id)}
        assert rows[results[0].task_id].stdout == "" and all(rows[r.task_id].stdout == r.stdout for r in results[1:])
        nursery.cancel_scope.cancel()


def test_the_protocols_are_what_the_server_injects(tmp_path: Path) -> None:
    """Policy and audit come in through the constructor, typed by protocols."""
    from center._audit import AuditTrail
    from center._center import Audit, JobPolicy

    store = AsyncStore(Store(f"sqlite:///{tmp_path / 'c.db'}"))
    trail: Audit = AuditTrail(store)
    policy: JobPolicy = Policy()
    center = Center(store, ed25519.Ed25519PrivateKey.generate(), proxy_token="t", policy=policy, audit=trail)
    assert center.policy is policy and center.audit is trail


async def test_a_large_batch_is_checked_in_parts_and_each_forgery_dropped(
    db_url: str, catalogue: tuple[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch of 300 results is split between three checking threads
    (``center._progress``); forgeries at both ends of every part are dropped and
    every genuine result is stored."""
    import center._progress

    monkeypatch.setattr(center._progress, "CHECK_THREADS", 3)
    b = Bench(db_url, catalogue)
    async with trio.open_nursery() as nursery:
        await b.start(nursery)
        job_id, results = await b.results_of_a_job(300)
        assert b.link is not None
        forged = {0, 99, 100, 199, 200, 299}  # the first and last of each part of 100
        for i in forged:
            results[i] = msgspec.structs.replace(results[i], stdout="forged\n")
        await b.link.send(Results(results=results))
        with trio.fail_after(30):
            async for msg in b.link:
                if isinstance(msg, ResultAck) and len(msg.task_ids) == 300:
                    break
        counts = await b.store.job_counts(job_id)
        assert counts.get("succeeded") == 294, counts
        rows = {r.id: r for r in await b.store.job_tasks(job_id)}
        assert all((rows[r.task_id].stdout == "") == (i in forged) for i, r in enumerate(results))
        nursery.cancel_scope.cancel()
