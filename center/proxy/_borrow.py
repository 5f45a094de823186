"""The proxy's side of borrowing: send borrowed agents home when asked."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from transports import Drain, send_if_open

if TYPE_CHECKING:
    from ._proxy import Proxy

log = logging.getLogger("starling.proxy")


#: An agent asked to go home that is still here after this long is asked again
#: (it was busy: agents ignore a drain while a task runs).
ASK_AGAIN_AFTER = 10.0


async def send_home(proxy: Proxy, agent_ids: list[str]) -> int:
    """Ask the listed agents that are here to register again (their own IDC
    has room). An agent with a task running ignores the request (agents are
    never drained while busy), so one still here is asked again later; the
    proxy's own in-flight bookkeeping is not trusted for this, as a task
    answered through another proxy may linger in it."""
    moved = 0
    now = time.monotonic()
    for agent_id in agent_ids:
        conn = proxy.agents.get(agent_id)
        if conn is None or (conn.drained and now - conn.drained_at < ASK_AGAIN_AFTER):
            continue
        if await send_if_open(conn.channel, Drain(reason="returning to its own IDC", retry_after=1.0, avoid=proxy.avoid_ids())):
            conn.drained, conn.drained_at = True, now
            moved += 1
    if moved:
        log.info("sent %d borrowed agents home", moved, extra={"proxy_id": proxy.proxy_id})
    return moved
