"""A compromised proxy cannot make an agent run anything the center did not sign.

The proxy here is the real proxy code with a hostile twist, linked to the real
center with valid proxy credentials; the agent is a real agent process. The
proxy forges tasks, alters signed ones (params; and timeout, deadline, stream,
account, issued time: everything that controls execution is signed), moves one
to another id, delays one past its expiry, replays one that already ran, and
replays a captured one after the agent lost its journal.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import msgspec
import pytest
import trio

from center import Client
from center._credentials import proxy_token
from center.proxy import Proxy
from transports import (
    JobSpec,
    Result,
    Task,
    client_context,
    encode_value,
    get_carrier,
    server_context,
)

from .conftest import Fleet

pytestmark = pytest.mark.integration

AGENTS = 1


class EvilProxy(Proxy):
    def __init__(self, **kw):
        super().__init__(**kw)
        self.mode = "pass"
        self.seen: list[Task] = []
        self.results: list[Result] = []

    async def _on_dispatch(self, channel, msg):
        if self.mode == "alter":
            msg = msgspec.structs.replace(msg, job=msgspec.structs.replace(msg.job, params=msgspec.Raw(encode_value({"cmd": "echo pwned"}))))
        elif self.mode == "stretch":
            # The reported attack: a 1 s timeout stretched to 30 s on the way.
            msg = msgspec.structs.replace(msg, job=msgspec.structs.replace(msg.job, timeout=30.0))
        elif self.mode == "delay":
            await trio.sleep(3.5)
        for ref in msg.tasks:
            self.seen.append(Task(task_id=ref.task_id, job=msg.job, proof=ref.proof, index=ref.index))
        await super()._on_dispatch(channel, msg)

    async def _on_agent_message(self, conn, msg):
        if isinstance(msg, Result):
            self.results.append(msg)
            if self.mode == "forge-result":
                msg = msgspec.structs.replace(msg, stdout="all good, nothing to see\n", state="succeeded", code="", exit_code=0)
        await super()._on_agent_message(conn, msg)

    async def inject(self, task: Task) -> Result:
        before = len(self.results)
        (conn,) = self.agents.values()
        await conn.channel.send(task)
        with trio.fail_after(20):
            while not any(r.task_id == task.task_id for r in self.results[before:]):
                await trio.sleep(0.05)
        return next(r for r in self.results[before:] if r.task_id == task.task_id)


async def test_compromised_proxy(fleet: Fleet, tmp_path: Path) -> None:
    home = fleet.home
    sec = json.loads((home / "secrets.json").read_text())
    link = next(line.split('"')[1] for line in (home / "center.toml").read_text().splitlines() if line.startswith("proxy_listen"))
    pki = home / "pki"
    prof = fleet.profile
    client = Client(prof["api"], prof["key_id"], prof["secret"], prof["ca_file"])
    marker = tmp_path / "ran"
    evil = EvilProxy(
        proxy_id="p-evil", idc="evil", centers=[link], proxy_token=proxy_token(sec["proxy_token"], "p-evil"),
        advertise=[], client_ssl=client_context(pki / "ca.pem"), heartbeat=2.0, flush_interval=0.02,
    )
    agent = None
    async with trio.open_nursery() as nursery:
        url = await nursery.start(lambda task_status: get_carrier("tcp").serve(
            "tcp://127.0.0.1:0", evil.agent_session, ssl_context=server_context(pki / "proxy.pem", pki / "proxy.key"), task_status=task_status))
        evil.advertise = [url]
        nursery.start_soon(evil.run_links)
        adir = tmp_path / "agent"
        adir.mkdir()
        (adir / "identity.toml").write_text('sn = "evil-victim"\nhostname = "evil-victim"\nidc = "evil"\n')
        (adir / "agent.toml").write_text(
            "[agent]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in {
                "center": [prof["api"]], "enroll_token": sec["enroll_token"], "ca_file": str(pki / "ca.pem"),
                "state_dir": str(adir), "identity_file": str(adir / "identity.toml"), "clock_leeway": 0.0,
                "log_file": str(adir / "agent.log"),
                "max_load_per_cpu": 1000.0,  # a loaded test box must not defer the tasks (A013)
            }.items())
        )
        with trio.fail_after(10):
            while not (evil.center_key and evil._links):
                await trio.sleep(0.1)
        await trio.sleep(3.5)  # a load report tells the center where p-evil listens
        agent = subprocess.Popen([sys.executable, "-m", "agent_core._daemon", "-c", str(adir / "agent.toml")], stdout=(adir / "out").open("wb"), stderr=subprocess.STDOUT)
        try:
            with trio.fail_after(30):
                while not evil.agents:
                    await trio.sleep(0.1)
            (agent_id,) = evil.agents

            def online() -> bool:
                return any(h["hostname"] == "evil-victim" and h["online"] for h in client.hosts())

            with trio.fail_after(15):
                while not await trio.to_thread.run_sync(online):
                    await trio.sleep(0.2)

            async def run(cmd: str, **kw) -> dict:
                sub = await trio.to_thread.run_sync(lambda: client.submit("exec.run", {"cmd": cmd}, hosts=["evil-victim"], **kw))
                done = await trio.to_thread.run_sync(lambda: client.wait(sub["job_id"], 30))
                assert done["complete"], done
                job = await trio.to_thread.run_sync(lambda: client.job(sub["job_id"]))
                return job["results"][0]

            # 0. honest traffic works through this proxy
            ok = await run(f"echo once >> {marker}; echo good")
            assert (ok["state"], ok["stdout"]) == ("succeeded", "good\n"), ok
            genuine = evil.seen[-1]

            # 1. a task the center never signed
            forged = Task(task_id="forged-1", job=JobSpec(job_id="forged", action="exec.run", params=msgspec.Raw(encode_value({"cmd": f"echo forged >> {marker}"})), timeout=5, deadline=time.time() + 60))
            res = await evil.inject(forged)
            assert res.code == "A010"

            # 2. a signed task with its params altered on the way
            evil.mode = "alter"
            altered = await run(f"echo altered >> {marker}")
            assert (altered["state"], altered["code"]) == ("failed", "A010")
            evil.mode = "pass"

            # 3. a signed task moved to another task id
            moved = msgspec.structs.replace(genuine, task_id=genuine.task_id + "0")
            assert (await evil.inject(moved)).code == "A010"

            # 4. a forged signature on a copied header
            bad_sig = msgspec.structs.replace(genuine, job=msgspec.structs.replace(genuine.job, signature=bytes(64)))
            assert (await evil.inject(bad_sig)).code == "A010"

            # 5. held until after the signature expired (the job's deadline)
            evil.mode = "delay"
            late = await run(f"echo late >> {marker}", deadline=2)
            evil.mode = "pass"
            # The center stores the agent's A011 or, when its sweeper gets there first,
            # the overdue code its last health report explains (E003 on a loaded box).
            assert late["state"] == "failed" and late["code"] in ("A011", "C005", "E003", "E004"), late
            # Submission no longer waits for the proxies: the held dispatch may still
            # be on its way to the agent when the sweeper has already closed the job.
            with trio.move_on_after(15):
                while not any(r.code == "A011" for r in evil.results):
                    await trio.sleep(0.1)
            assert any(r.code == "A011" for r in evil.results), [r.code for r in evil.results]

            # 6. a replay of the genuine task: answered from the journal, never run again
            replayed = await evil.inject(genuine)
            assert replayed.state == "succeeded" and replayed.stdout == "good\n"

            # 7. a result rewritten on its way back: the center drops it (the agent
            #    signed what it saw), so the task fails at its deadline instead
            evil.mode = "forge-result"
            forged_back = await run("echo real; exit 3", deadline=4)
            evil.mode = "pass"
            assert forged_back["state"] == "failed" and forged_back["stdout"] != "all good, nothing to see\n", forged_back
            log = (home / "logs" / "center.log").read_text()
            assert "dropped a result for" in log

            # 8. what controls execution is signed: a stretched timeout, a moved deadline,
            #    streaming turned on, another account or issue time: all refused (A010)
            evil.mode = "stretch"
            stretched = await run(f"sleep 2; echo stretched >> {marker}", timeout=1)
            evil.mode = "pass"
            assert (stretched["state"], stretched["code"]) == ("failed", "A010"), stretched
            for change in ({"timeout": 3600.0}, {"deadline": genuine.job.deadline + 3600}, {"stream": True},
                           {"account": "admin"}, {"issued": genuine.job.issued + 1}):
                altered_task = msgspec.structs.replace(genuine, task_id=genuine.task_id, job=msgspec.structs.replace(genuine.job, **change))
                assert (await evil.inject(altered_task)).code == "A010", change

            # 9. at-most-once without the journal: capture a signed task, let it run,
            #    wipe the agent's journal, restart the agent, replay the capture
            capture_marker = tmp_path / "captured-ran"
            first = await run(f"echo ran >> {capture_marker}", deadline=600)
            assert first["state"] == "succeeded", first
            captured = evil.seen[-1]
            agent.terminate()
            agent.wait(10)
            for suffix in ("", "-wal", "-shm"):
                (adir / f"journal.db{suffix}").unlink(missing_ok=True)
            before = evil.agents.get(agent_id)
            agent = subprocess.Popen([sys.executable, "-m", "agent_core._daemon", "-c", str(adir / "agent.toml")], stdout=(adir / "out2").open("wb"), stderr=subprocess.STDOUT)
            with trio.fail_after(30):
                while evil.agents.get(agent_id) in (None, before):
                    await trio.sleep(0.1)
            replay = await evil.inject(captured)
            assert (replay.state, replay.code) == ("failed", "A019"), replay
            assert "epoch" in replay.message
            assert capture_marker.read_text() == "ran\n", "the captured task ran again after the journal was lost"

            assert marker.read_text() == "once\n", "only the honest task may ever have run"
        finally:
            agent.terminate()
            agent.wait(10)
            client.close()
            nursery.cancel_scope.cancel()
