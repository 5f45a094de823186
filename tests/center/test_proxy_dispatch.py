"""The proxy's side of a dispatch: what it writes to each agent connection.

A real ``Proxy`` object, an agent connection and a center link over the in-memory
carrier (every message through the wire codec).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import msgspec
import trio

from center.proxy._proxy import AgentConn, Proxy
from transports import Channel, Dispatch, DispatchAck, JobSpec, Task, TaskRef, get_carrier


@asynccontextmanager
async def _pair(name: str) -> AsyncIterator[tuple[Channel, Channel]]:
    """(the proxy's end, the far end) of one in-memory connection."""
    carrier = get_carrier("memory")
    accepted: list[Channel] = []
    async with trio.open_nursery() as nursery:

        async def handler(ch: Channel) -> None:
            accepted.append(ch)
            await trio.sleep_forever()

        url = await nursery.start(lambda task_status: carrier.serve(f"memory://{name}", handler, task_status=task_status))
        far = await carrier.connect(url)
        while not accepted:
            await trio.sleep(0.01)
        yield accepted[0], far
        nursery.cancel_scope.cancel()


def _dispatch(dispatch_id: str, task_id: str, agent_id: str) -> Dispatch:
    job = JobSpec(job_id="j-1", action="exec.run", params=msgspec.Raw(msgspec.msgpack.encode({"cmd": "true"})), timeout=10, deadline=time.time() + 60)
    return Dispatch(dispatch_id=dispatch_id, job=job, tasks=[TaskRef(task_id, agent_id)])


async def _tasks_waiting(channel: Channel) -> list[str]:
    got: list[str] = []
    with trio.move_on_after(0.3):
        while True:
            msg = await channel.receive()
            if isinstance(msg, Task):
                got.append(msg.task_id)
    return got


async def test_a_task_sent_again_on_the_connection_that_carried_it_is_not_written_twice() -> None:
    proxy = Proxy(proxy_id="p", idc="i", centers=[], proxy_token="", advertise=[], client_ssl=None)
    async with _pair("agent-a") as (to_agent, agent), _pair("center-a") as (to_center, center):
        proxy.agents["a1"] = AgentConn(agent_id="a1", channel=to_agent, since=time.time())

        await proxy._on_dispatch(to_center, _dispatch("d1", "j-1-1", "a1"))
        assert await _tasks_waiting(agent) == ["j-1-1"]
        # The center sends it again (it has not heard the agent's ack yet): not written
        # again, acknowledged, and reported delivered (the center waits anew from there).
        await proxy._on_dispatch(to_center, _dispatch("d2", "j-1-1", "a1"))
        assert await _tasks_waiting(agent) == []
        acks = [m for m in [await center.receive(), await center.receive()] if isinstance(m, DispatchAck)]
        assert [(a.dispatch_id, a.rejected) for a in acks] == [("d1", []), ("d2", [])]
        assert [(e.task_id, e.state) for e in proxy._events] == [("j-1-1", "delivered"), ("j-1-1", "delivered")]
        assert proxy.stats["duplicates_skipped"] == 1 and proxy.stats["dispatched"] == 1

    # The agent came back on a new connection: that one never carried the task, so it is written.
    async with _pair("agent-b") as (to_agent, agent), _pair("center-b") as (to_center, center):
        proxy.agents["a1"] = AgentConn(agent_id="a1", channel=to_agent, since=time.time())
        await proxy._on_dispatch(to_center, _dispatch("d3", "j-1-1", "a1"))
        assert await _tasks_waiting(agent) == ["j-1-1"]
        assert proxy.stats["duplicates_skipped"] == 1
