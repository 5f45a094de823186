"""The proxy's side of borrowing: send borrowed agents home when asked."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from transports import Drain, send_if_open

if TYPE_CHECKING:
    from ._proxy import Proxy

log = logging.getLogger("starling.proxy")


async def send_home(proxy: Proxy, agent_ids: list[str]) -> int:
    """Ask the listed agents that are here and idle to register again (their
    own IDC has room); busy ones are asked in a later round."""
    moved = 0
    for agent_id in agent_ids:
        conn = proxy.agents.get(agent_id)
        if conn is None or conn.inflight or conn.drained:
            continue
        if await send_if_open(conn.channel, Drain(reason="returning to its own IDC", retry_after=1.0, avoid=[proxy.proxy_id])):
            conn.drained = True
            moved += 1
    if moved:
        log.info("sent %d borrowed agents home", moved, extra={"proxy_id": proxy.proxy_id})
    return moved
