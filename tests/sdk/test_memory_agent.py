"""The memory_agent fixture is the real agent: signatures are checked, tasks are
journaled and never run twice, output streams, results are acknowledged, and
heartbeats carry the health summary, all over the in-memory carrier."""

from __future__ import annotations

import msgspec
import trio

from transports import JobSpec, encode_value


async def test_runs_an_action_with_acks_and_stream(memory_agent):
    out = await memory_agent.run("exec.run", {"cmd": "echo one; echo two >&2"}, stream=True)
    assert out.ok and out.acks == ["received", "running"]
    assert out.stdout == "one\n" and out.stderr == "two\n"
    assert b"".join(d for fd, d in out.chunks if fd == 1) == b"one\n"
    assert memory_agent.hello is not None and memory_agent.hello.node_id == memory_agent.agent_id
    # The result was acknowledged, so the agent's journal holds nothing to resend.
    await trio.sleep(0.1)
    assert memory_agent.agent.journal.unacked() == []


async def test_forged_task_is_refused_and_not_journaled(memory_agent, tmp_path):
    marker = tmp_path / "ran"
    spec = JobSpec(
        job_id="forged", action="exec.run", params=msgspec.Raw(encode_value({"cmd": "true"})),
        timeout=10, deadline=1e10,
    )
    task = memory_agent.sign(spec, "forged-1")
    evil = msgspec.structs.replace(
        task, job=msgspec.structs.replace(task.job, params=msgspec.Raw(encode_value({"cmd": f"touch {marker}"})))
    )
    out = await memory_agent.deliver(evil)
    assert out.code == "A010" and not marker.exists()
    assert memory_agent.agent.journal.counts() == {}
    # The genuine task with the same id still runs: the forgery did not burn it.
    assert (await memory_agent.deliver(task)).ok


async def test_redelivered_task_runs_once(memory_agent, tmp_path):
    log = tmp_path / "runs"
    spec = JobSpec(
        job_id="once", action="exec.run", params=msgspec.Raw(encode_value({"cmd": f"echo x >> {log}"})),
        timeout=10, deadline=1e10,
    )
    task = memory_agent.sign(spec, "once-1")
    first = await memory_agent.deliver(task)
    again = await memory_agent.deliver(task)
    assert first.ok and again.ok and again.acks == []
    assert log.read_text() == "x\n"
    assert memory_agent.agent.statistics["duplicates"] == 1


async def test_timeout_and_unknown_action(memory_agent):
    out = await memory_agent.run("exec.run", {"cmd": "sleep 30"}, timeout=0.3)
    assert out.state == "timed_out" and out.code == "A005"
    out = await memory_agent.run("no.such.action")
    assert out.code == "A001"


async def test_heartbeats_carry_health(memory_agent):
    with trio.fail_after(10):
        while True:
            if memory_agent.pings and memory_agent.pings[-1].health is not None:
                break
            await trio.sleep(0.05)
    health = memory_agent.pings[-1].health
    assert health.agent_rss > 0 and health.mem_total > 0 and health.cpus >= 1
