"""Enrollment through the proxy (docs/identity.md), against real processes:
a center, proxies and ``starling-simfleet`` on loopback, each its own process.

An identity's first message on its proxy connection is ``enroll``; the proxy
relays enrollments in batches on its link; the center checks token, identity
and the key proof and answers; the agent logs in on the same connection.
Refusals come back per agent with their own code; a proxy that is unknown or
revoked enrolls nobody; a center killed mid-batch loses no enrollment and
doubles no host.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trio

from agent_core.host import Identity, RegistrationError, enroll_on, enroll_request
from center._up import _write_toml
from tests.chaos._cluster import PY, Cluster
from transports import Channel, ErrorMsg, Hello, Welcome, client_context, free_port, get_carrier
from transports.signing import new_private_key, sign_hello

pytestmark = pytest.mark.integration

SIMS = 40


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    c = Cluster(tmp_path_factory.mktemp("enroll"), proxies=2)
    try:
        c.start_center()
        for p in c.proxy_ids:
            c.start_proxy(p)
        yield c
    finally:
        c.stop_all()


def _ident(name: str) -> Identity:
    return Identity(sn=name, ip="10.9.9.9", hostname=name, idc="chaos", tags=["enroll-test"])


async def _connect(c: Cluster, url: str) -> Channel:
    with trio.fail_after(10):
        return await get_carrier(url).connect(url, ssl_context=client_context(str(c.ca)))


def _enroll(c: Cluster, url: str, identity: Identity, *, token: str | None = None, key: Any = None,
            tamper: str = "", then_hello: bool = False, hello_key: Any = None) -> Any:
    """Enroll ``identity`` through the proxy at ``url``; returns the enrollment
    (and the login's answer with ``then_hello``) or the RegistrationError."""

    async def go() -> Any:
        k = key or new_private_key()
        req = enroll_request(c.enroll_token if token is None else token, identity, "test/1", k)
        if tamper == "proof":
            req.proof = enroll_request(c.enroll_token, identity, "test/1", new_private_key()).proof
        channel = await _connect(c, url)
        try:
            with trio.fail_after(20):
                got = await enroll_on(channel, req)
                if not then_hello:
                    return got
                now = time.time()
                await channel.send(Hello(role="agent", node_id=got.agent_id, credential=got.credential.encode(),
                                         proof=sign_hello(hello_key or k, got.agent_id, now), ts=now, idc="chaos"))
                return got, await channel.receive()
        except RegistrationError as exc:
            return exc
        finally:
            await channel.aclose()

    return trio.run(go)


def _sns(c: Cluster) -> list[str]:
    return [h["sn"] for h in c.client.hosts()]


def test_a_fleet_enrolls_through_its_proxy_and_runs_a_job(cluster: Cluster) -> None:
    c = cluster
    c.start_simfleet(SIMS, prefix="via", via_proxy=True)
    try:
        c.wait_all_online(SIMS, timeout=120)
        c.wait_until(lambda: c.sim_status()["connected"] == SIMS, 10, "the fleet's status file")
        st = c.sim_status()
        # Every identity enrolled through the proxy, on the connection it logged in on.
        assert st["stats"]["enrolled_via_proxy"] == SIMS and st["connected"] == SIMS
        job = c.wait_job(c.submit("echo hi"), 60)
        ok = [r for r in job["results"] if r["state"] == "succeeded" and r["stdout"] == "hi\n"]
        assert len(ok) == SIMS, job["counts"]
        sns = [s for s in _sns(c) if s.startswith("via-")]
        assert sorted(sns) == sorted(f"via-{i}" for i in range(SIMS))
    finally:
        c.kill("simfleet")


def test_a_real_agent_enrolls_through_its_proxy(cluster: Cluster) -> None:
    c = cluster
    name = c.start_agent(1, via_proxy=True)
    try:
        c.wait_until(lambda: any(h["sn"] == "chaos-1" and h["online"] for h in c.client.hosts()), 60, "agent online")
        log = (c.root / name / "agent.log").read_text()
        assert "registering over HTTPS" not in log  # the proxy carried it
        job = c.wait_job(c.submit("echo real"), 60)
        assert [r["stdout"] for r in job["results"] if r["state"] == "succeeded"].count("real\n") >= 1, job["counts"]
    finally:
        c.kill(name)


def test_one_connection_enrolls_then_logs_in(cluster: Cluster) -> None:
    c = cluster
    got, answer = _enroll(c, c.proxy_url("proxy-1"), _ident("solo-1"), then_hello=True)
    assert got.agent_id and got.credential and got.center_keys
    assert {p.id for p in got.proxies} >= {"proxy-1"}
    assert isinstance(answer, Welcome)
    assert [h["id"] for h in c.client.hosts() if h["sn"] == "solo-1"] == [got.agent_id]
    # The login after an enrollment still needs the hello proof by the enrolled key.
    _, refused = _enroll(c, c.proxy_url("proxy-1"), _ident("solo-2"), then_hello=True, hello_key=new_private_key())
    assert isinstance(refused, ErrorMsg) and refused.code == "P005", refused


def test_bad_token_and_bad_key_proof_get_their_codes(cluster: Cluster) -> None:
    c = cluster
    url = c.proxy_url("proxy-1")
    bad_token = _enroll(c, url, _ident("bad-token-1"), token="not-the-token")
    assert isinstance(bad_token, RegistrationError) and bad_token.code.value == "C017"
    bad_proof = _enroll(c, url, _ident("bad-proof-1"), tamper="proof")
    assert isinstance(bad_proof, RegistrationError) and bad_proof.code.value == "C042"
    # Bad ones sent together with good ones: each gets its own answer.
    results: dict[str, Any] = {}

    def one(name: str, **kw: Any) -> None:
        results[name] = _enroll(c, url, _ident(name), **kw)

    import threading

    threads = [threading.Thread(target=one, args=(f"mix-{i}",), kwargs={"tamper": "proof"} if i % 3 == 0 else {}) for i in range(9)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for i in range(9):
        got = results[f"mix-{i}"]
        if i % 3 == 0:
            assert isinstance(got, RegistrationError) and got.code.value == "C042", got
        else:
            assert not isinstance(got, Exception) and got.agent_id, got
    sns = set(_sns(c))
    assert not {"bad-token-1", "bad-proof-1", "mix-0", "mix-3", "mix-6"} & sns
    assert {"mix-1", "mix-2", "mix-4", "mix-5", "mix-7", "mix-8"} <= sns


def test_an_unknown_proxy_enrolls_nobody(cluster: Cluster) -> None:
    """A proxy without a valid token never links, so nothing it relays reaches a center."""
    c = cluster
    url = f"tcp://127.0.0.1:{free_port()}"
    _write_toml(c.root / "proxy-x.toml", "proxy", {
        "proxy_id": "proxy-x", "idc": "chaos", "centers": [c.link], "proxy_token": secrets.token_urlsafe(18),
        "listen": [url], "cert_file": str(c.pcert), "key_file": str(c.pkey), "ca_file": str(c.ca),
        "log_file": str(c.logs / "proxy-x.log"),
    })
    c.argv["proxy-x"] = [PY, "-m", "center.cli", "proxy", "-c", str(c.root / "proxy-x.toml")]
    c.start("proxy-x")
    try:
        c.wait_until(lambda: "refused" in (c.logs / "center.log").read_text() and "proxy-x" in (c.logs / "center.log").read_text(), 30, "proxy-x refused")
        got = _enroll(c, url, _ident("via-unknown-1"))
        assert isinstance(got, RegistrationError) and got.code.value == "P007", got
        assert "via-unknown-1" not in _sns(c)
    finally:
        c.kill("proxy-x")


def test_a_revoked_proxy_enrolls_nobody(cluster: Cluster) -> None:
    c = cluster
    url = c.proxy_url("proxy-2")
    assert not isinstance(_enroll(c, url, _ident("before-revoke-1")), Exception)
    c.client.request("POST", "/v1/proxies/proxy-2/revoke")
    got = _enroll(c, url, _ident("after-revoke-1"))
    assert isinstance(got, RegistrationError) and got.code.value in ("P005", "P007"), got
    assert "after-revoke-1" not in _sns(c) and "before-revoke-1" in _sns(c)


def test_center_killed_mid_batch_loses_no_enrollment_and_doubles_none(tmp_path: Path) -> None:
    n = 600
    c = Cluster(tmp_path)
    try:
        c.start_center()
        c.start_proxy("proxy-1")
        c.start_simfleet(n, prefix="kill", via_proxy=True)
        c.wait_until(lambda: c.sim_status()["registered"] >= 30, 60, "enrollments under way")
        c.kill("center")  # kill -9, enrollments in flight at the proxy and in the registrar
        before = c.sim_status()["registered"]
        assert before < n, "all enrolled before the kill: nothing was in flight"
        time.sleep(2)
        c.start("center")
        c.wait_all_online(n, timeout=240)
        c.wait_until(lambda: c.sim_status()["connected"] == n, 10, "the fleet's status file")
        hosts = c.client.hosts()
        sns = [h["sn"] for h in hosts]
        assert len(sns) == n and len(set(sns)) == n  # every identity once
        assert len({h["id"] for h in hosts}) == n
        st = c.sim_status()
        assert st["registered"] == n and st["connected"] == n
    finally:
        c.stop_all()
