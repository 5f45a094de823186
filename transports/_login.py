"""The server side of the first message: wait for a ``hello`` and check it.

Both servers that accept logins (a proxy from agents, a center from proxies)
start the same way; this module is that start, so that both refuse the same
things with the same codes:

* no hello within the time given: one rate-limited INFO line, no traceback;
* something else than a hello, or the wrong role: ``P003``;
* a hello that names no protocol version this side speaks: ``P008``, with
  both sides' versions in the message.

A proxy also takes an ``enroll`` before the hello (an agent without an
identity enrolls on the connection it then logs in on): the caller's
``enroll`` handler answers it, and the hello follows on the same connection.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import trio

from ._base import Channel
from ._codes import ErrorCode
from ._guard import _RateLog
from ._messages import SUPPORTED_VERSIONS, Enroll, ErrorMsg, Hello, Message

log = logging.getLogger("starling.transports.login")
_log_silent = _RateLog(logging.INFO)


def common_version(hello: Hello) -> int | None:
    """The highest protocol version both sides speak, or ``None``."""
    theirs = set(hello.versions) | {hello.version}
    both = theirs & set(SUPPORTED_VERSIONS)
    return max(both) if both else None


async def receive_hello(
    channel: Channel, role: str, *, seconds: float = 10.0, enroll: Callable[[Channel, Enroll], Awaitable[bool]] | None = None,
) -> Hello | None:
    """Wait up to ``seconds`` for ``channel``'s hello from a ``role`` peer.

    :param enroll: answers an ``enroll`` sent before the hello (True: enrolled,
        the hello may follow); without it an ``enroll`` is refused (``P003``).
    :returns: the hello, or ``None`` when the peer is refused (it has been
        told why with an error message where it could hear it, and the
        caller just returns).
    """
    msg: Message | None = None
    with trio.move_on_after(seconds):
        msg = await channel.receive()
        if isinstance(msg, Enroll) and enroll is not None:
            if not await enroll(channel, msg):
                return None  # not enrolled: the peer was told why
            msg = await channel.receive()
    if msg is None:
        _log_silent("closed %s: no hello within %.0f s", channel.peer, seconds)
        return None
    if not isinstance(msg, Hello) or msg.role != role:
        await channel.send(ErrorMsg(code=ErrorCode.P003.value, message=f"expected a{'n' if role[0] in 'aeiou' else ''} {role} hello"))
        return None
    if common_version(msg) is None:
        offered = sorted(set(msg.versions) | {msg.version})
        ours = list(SUPPORTED_VERSIONS)
        log.warning("%s %s refused: protocol version(s) %s, this side speaks %s", role, msg.node_id, offered, ours)
        await channel.send(
            ErrorMsg(
                code=ErrorCode.P008.value,
                message=f"unsupported protocol version {offered}: this side speaks {ours}; upgrade the older side",
            )
        )
        return None
    return msg
