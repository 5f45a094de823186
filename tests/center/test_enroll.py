"""Enrollments relayed by a proxy, at the center (on each real store).

The proxy is a stand-in speaking the real protocol over the in-memory carrier
(every message crosses the wire codec); the agents' keys and proofs are real
(``agent_core``'s :func:`enroll_request`). The checks are the HTTPS route's
(center._enroll): each bad enrollment gets its own code and the rest of its
batch is enrolled, in one registrar batch.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import msgspec
import pytest
import trio
from cryptography.hazmat.primitives.asymmetric import ed25519

from agent_core.host import Identity, catalogue_for, enroll_request
from center._accounts import SecretBox, ensure_admin
from center._center import Center
from center._credentials import proxy_token
from center._credentials import verify as verify_credential
from center._policy import Policy
from center._store import AsyncStore, Store
from transports import (
    Channel,
    EnrolledBatch,
    Enrollments,
    ErrorMsg,
    Hello,
    LoadReport,
    StarlingError,
    get_carrier,
)
from transports.signing import new_private_key

PROXY = "p-enroll"
TOKEN = "proxy-master-token"
ENROLL = "fleet-enroll-token"


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, bytes]:
    digest, cat = catalogue_for(tmp_path_factory.mktemp("catalogue"))
    return digest, msgspec.json.encode(cat)


def _ident(i: int) -> Identity:
    return Identity(sn=f"sn-{i}", ip=f"10.0.0.{i}", hostname=f"h{i:03d}", idc="t", tags=["a"])


async def _center(db_url: str, catalogue: tuple[str, bytes], nursery: trio.Nursery) -> tuple[Center, Store, Channel]:
    sync = Store(db_url)
    sync.create_all()
    ensure_admin(sync, SecretBox(os.urandom(32)), "admin", "s" * 32)
    digest, doc = catalogue
    sync.add_catalogue(digest, doc)
    policy = Policy()
    policy.book.add(digest, doc)
    center = Center(AsyncStore(sync), ed25519.Ed25519PrivateKey.generate(), proxy_token=TOKEN, policy=policy, enroll_token=ENROLL)
    await nursery.start(center.run)
    url = f"memory://enroll-{id(center)}"
    await nursery.start(lambda task_status: get_carrier(url).serve(url, center.proxy_session, task_status=task_status))
    link = await get_carrier(url).connect(url)
    await link.send(Hello(role="proxy", node_id=PROXY, credential=proxy_token(TOKEN, PROXY).encode(), idc="t"))
    await link.receive()  # welcome
    await link.send(LoadReport(proxy_id=PROXY, idc="t", capacity=1000, urls=["tcp://127.0.0.1:1"]))
    # The report is stored by the center's link loop: placements offer the proxy from then on.
    with trio.fail_after(10):
        while not any(p.id == PROXY and p.urls for p in sync.list_proxies()):  # noqa: ASYNC110 - polls the store
            await trio.sleep(0.02)
    return center, sync, link


async def _answers(link: Channel) -> EnrolledBatch:
    with trio.fail_after(10):
        async for msg in link:
            if isinstance(msg, EnrolledBatch):
                return msg
    raise AssertionError("link closed")


async def test_a_batch_with_bad_enrollments_enrolls_the_rest(db_url: str, catalogue: tuple[str, bytes]) -> None:
    digest = catalogue[0]
    async with trio.open_nursery() as nursery:
        center, sync, link = await _center(db_url, catalogue, nursery)
        keys = [new_private_key() for _ in range(6)]
        items = [enroll_request(ENROLL, _ident(i), "1.0", keys[i], digest) for i in range(6)]
        items[1].token = "wrong-token"  # C017
        items[2].proof = enroll_request(ENROLL, _ident(2), "1.0", new_private_key(), digest).proof  # another key's proof: C042
        items[3].identity["hostname"] = "changed-on-the-way"  # the proof no longer matches: C042
        items[4].identity["sn"] = ""  # C001 (checked before the proof)
        for ref, item in enumerate(items, start=1):
            item.ref = ref
        batches_before = center.registrar.batches
        await link.send(Enrollments(items=items))
        got = await _answers(link)
        by_ref = {a.ref: a for a in got.items}
        assert sorted(by_ref) == [1, 2, 3, 4, 5, 6]
        assert [by_ref[r].code for r in (2, 3, 4, 5)] == ["C017", "C042", "C042", "C001"]
        for ref in (1, 6):
            ok = by_ref[ref]
            assert ok.code == "" and ok.agent_id and not ok.catalogue_wanted
            assert ok.proxies and ok.proxies[0]["id"] == PROXY
            claims = verify_credential(center.public_key, ok.credential, ok.agent_id)  # bound to the agent's own key
            assert claims.pubkey == items[ref - 1].public_key
        assert center.registrar.batches == batches_before + 1  # the good ones: one transaction
        hosts = {h.sn: h for h in sync.select_agents(all_hosts=True)}
        assert set(hosts) == {"sn-0", "sn-5"} and hosts["sn-0"].catalogue == digest
        # The same enrollment again is the same host, not a second one.
        again = enroll_request(ENROLL, _ident(0), "1.0", keys[0], digest)
        again.ref = 7
        await link.send(Enrollments(items=[again]))
        (second,) = (await _answers(link)).items
        assert second.code == "" and second.agent_id == by_ref[1].agent_id
        assert len(sync.select_agents(all_hosts=True)) == 2
        nursery.cancel_scope.cancel()


async def test_revoked_hosts_and_revoked_proxies(db_url: str, catalogue: tuple[str, bytes]) -> None:
    digest = catalogue[0]
    async with trio.open_nursery() as nursery:
        center, sync, link = await _center(db_url, catalogue, nursery)
        first = enroll_request(ENROLL, _ident(1), "1.0", new_private_key(), digest)
        first.ref = 1
        await link.send(Enrollments(items=[first]))
        (ok,) = (await _answers(link)).items
        sync.revoke_agent(ok.agent_id)
        # A revoked host is refused with its own code; a new one in the same batch is not.
        items = [enroll_request(ENROLL, _ident(i), "1.0", new_private_key(), digest) for i in (1, 2)]
        for ref, item in enumerate(items, start=2):
            item.ref = ref
        await link.send(Enrollments(items=items))
        got = {a.ref: a for a in (await _answers(link)).items}
        assert got[2].code == "C019" and got[3].code == "" and got[3].agent_id
        # Revoked since it linked (revocation by another center: only the store knows): enrolls nobody, loses its link.
        sync.revoke_proxy(PROXY)
        late = enroll_request(ENROLL, _ident(9), "1.0", new_private_key(), digest)
        late.ref = 9
        await link.send(Enrollments(items=[late]))
        msgs: list[Any] = []
        with trio.fail_after(10):
            async for msg in link:
                msgs.append(msg)
        answers = [m for m in msgs if isinstance(m, EnrolledBatch)]
        assert [(a.ref, a.code) for a in answers[0].items] == [(9, "P005")]
        assert "sn-9" not in {h.sn for h in sync.select_agents(all_hosts=True)}
        # And it cannot link again.
        url = f"memory://enroll-{id(center)}"
        relink = await get_carrier(url).connect(url)
        await relink.send(Hello(role="proxy", node_id=PROXY, credential=proxy_token(TOKEN, PROXY).encode(), idc="t"))
        refused = await relink.receive()
        assert isinstance(refused, ErrorMsg) and refused.code == "P005"
        nursery.cancel_scope.cancel()


async def test_the_https_route_and_the_link_share_the_checks(tmp_path: Any, catalogue: tuple[str, bytes]) -> None:
    """The same request through :meth:`Enroller.enroll` (the HTTPS route's call)
    gets the same codes; a proof is optional there, checked when given."""
    from center._enroll import EnrollRequest

    digest = catalogue[0]
    async with trio.open_nursery() as nursery:
        center, _sync, _link = await _center(f"sqlite:///{tmp_path / 'c.db'}", catalogue, nursery)
        good = enroll_request(ENROLL, _ident(1), "1.0", new_private_key(), digest)
        answer = await center.enroller.enroll(EnrollRequest.from_wire(good))
        assert answer["agent_id"] and answer["credential"]
        no_proof = EnrollRequest.from_wire(enroll_request(ENROLL, _ident(2), "1.0", new_private_key(), digest))
        assert (await center.enroller.enroll(dataclasses.replace(no_proof, proof=b"", ts=0.0)))["agent_id"]
        forged = enroll_request(ENROLL, _ident(3), "1.0", new_private_key(), digest)
        forged.public_key = bytes(32)
        with pytest.raises(StarlingError) as err:
            await center.enroller.enroll(EnrollRequest.from_wire(forged))
        assert err.value.code.value == "C042"
        nursery.cancel_scope.cancel()


async def test_an_agent_enrolling_again_joins_its_enrollment_in_flight(db_url: str, catalogue: tuple[str, bytes]) -> None:
    """The proxy's relay (center/proxy/_enroll.py) against the real center: an agent that
    gave up waiting (the center's answers are held back on the proxy's side of the link,
    as a starved center would be late) and enrolls again, with a fresh proof, is answered
    from its first enrollment — still in flight, or answered late — and the center checks
    it once: overload does not multiply the work."""
    from center.proxy._enroll import EnrollRelay

    digest = catalogue[0]
    async with trio.open_nursery() as nursery:
        center, sync, link = await _center(db_url, catalogue, nursery)
        relay = EnrollRelay(lambda: link, wait=0.3)
        nursery.start_soon(relay.run)
        held: list[EnrolledBatch] = []
        arrived = trio.Semaphore(0)

        async def from_center() -> None:
            async for msg in link:
                if isinstance(msg, EnrolledBatch):
                    held.append(msg)
                    arrived.release()

        def deliver() -> None:
            while held:
                relay.answered(held.pop(0))

        nursery.start_soon(from_center)
        url = f"memory://agents-{id(relay)}"
        accepted_send, accepted = trio.open_memory_channel[Channel](10)

        async def proxy_side(ch: Channel) -> None:
            await accepted_send.send(ch)
            await trio.sleep_forever()

        await nursery.start(lambda task_status: get_carrier(url).serve(url, proxy_side, task_status=task_status))

        async def attempt(i: int, key: Any, result: list[Any]) -> None:
            agent = await get_carrier(url).connect(url)
            here = await accepted.receive()
            ok = await relay.enroll(here, enroll_request(ENROLL, _ident(i), "1.0", key, digest))
            with trio.fail_after(10):
                result.append((ok, await agent.receive()))

        batches = center.registrar.batches
        # 1. The answer comes while the second attempt waits: it joins the first.
        key, first, second = new_private_key(), [], []
        await attempt(9, key, first)
        assert not first[0][0] and first[0][1].code == "P007"
        relay.wait = 10.0
        async with trio.open_nursery() as waiting:
            waiting.start_soon(attempt, 9, key, second)
            await arrived.acquire()  # the center answered the first attempt (held back)
            with trio.fail_after(10):
                while relay.stats["joined"] < 1:  # the second attempt is waiting on the first
                    await trio.sleep(0.01)
            deliver()
        ok, answer = second[0]
        assert ok and answer.code == "" and answer.agent_id
        assert (relay.stats["relayed"], relay.stats["joined"]) == (1, 1)
        # 2. The answer comes between the attempts: kept, and handed to the next one.
        relay.wait = 0.3
        key8, late, again = new_private_key(), [], []
        await attempt(8, key8, late)
        assert late[0][1].code == "P007"
        await arrived.acquire()
        deliver()  # nobody waits for it now
        relay.wait = 10.0
        await attempt(8, key8, again)
        assert again[0][0] and again[0][1].code == ""
        assert (relay.stats["relayed"], relay.stats["joined"]) == (2, 2)
        assert center.registrar.batches == batches + 2
        assert sorted(h.sn for h in sync.select_agents(all_hosts=True)) == ["sn-8", "sn-9"]
        # 3. An answer is spent once: a new key's enrollment goes to the center.
        fresh: list[Any] = []
        async with trio.open_nursery() as waiting:
            waiting.start_soon(attempt, 9, new_private_key(), fresh)
            await arrived.acquire()
            deliver()
        assert fresh[0][0] and fresh[0][1].agent_id == answer.agent_id and relay.stats["relayed"] == 3
        nursery.cancel_scope.cancel()
