"""A parking lot for quiet server channels: one task waits for all of them.

A server that holds tens of thousands of connections keeps each of them
waiting for its next message almost all the time (an agent in a proxy speaks
once a heartbeat, or once a task). With a task per connection, every one of
them holds the task, its coroutine frames from the handler down to the
socket read, and trio's bookkeeping of the wait: measured with tracemalloc,
~4.5 KB of Python objects for an idle TLS connection, as much as a third of
what the connection costs in all (OpenSSL holds ~14 KB).

A handler that has read everything there was (:meth:`Channel.receive_nowait`
says :class:`trio.WouldBlock`) parks its channel here and returns
(:meth:`Parking.next_message` does the three steps: read what is there, park,
or wait where parking is not possible). The lot
keeps the channel's socket in one ``epoll`` set, waited on by its own task;
when the socket turns readable (a message, the peer's close, a reset) or the
channel is closed by anyone, the lot runs the handler's ``resume`` in a fresh
task, under :func:`run_handler` like any connection handler: it reads what
came and parks the channel again, or ends the session (and the channel is
closed after it, as always).

Only a channel that can be read without waiting (:meth:`Channel.park_fileno`:
TCP with or without TLS, logged in) parks; for any other,
:meth:`Parking.park` says ``False`` and the handler keeps waiting in its own
task. Sending on a parked channel is as before: senders never needed the
receiving task.
"""

from __future__ import annotations

import logging
import select
from typing import Any

import trio

from ._base import Channel, Handler, run_handler
from ._errors import UnknownMessage
from ._messages import Message

log = logging.getLogger("starling.transports")

_RESUME_TASK = "transports.parking.resume"  # one name for every resume task (trio makes one per task otherwise)
_CLOSE_AT_END = 5.0  # seconds the lot gives its channels to say goodbye when it stops


class Parking:
    """Channels parked by their handlers, waited on by :meth:`run` (start it in
    the server's nursery before parking anything)."""

    def __init__(self) -> None:
        self._epoll: Any = None
        self._parked: dict[int, tuple[Channel, Handler]] = {}
        self._nursery: trio.Nursery | None = None
        #: Wake-ups so far (a channel's socket turned readable, or it was closed while parked).
        self.resumed = 0

    def __len__(self) -> int:
        return len(self._parked)

    async def run(self, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Wait for the parked channels until cancelled; then close those still parked."""
        if not hasattr(select, "epoll"):  # not Linux: nothing parks, every handler keeps its task
            task_status.started()
            await trio.sleep_forever()
            return
        self._epoll = select.epoll()
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                task_status.started()
                while True:
                    await trio.lowlevel.wait_readable(self._epoll)
                    for fd, _events in self._epoll.poll(0):
                        self._wake(fd)
        finally:
            self._nursery = None
            parked = [channel for channel, _ in self._parked.values()]
            self._parked.clear()
            self._epoll.close()
            with trio.CancelScope(shield=True), trio.move_on_after(_CLOSE_AT_END):
                for channel in parked:
                    channel._parking = None  # type: ignore[attr-defined]
                    await channel.aclose()
            with trio.CancelScope(shield=True):
                for channel in parked:
                    await channel.abort()  # those the time was too short for (a no-op for the others)

    def park(self, channel: Channel, resume: Handler) -> bool:
        """Hold ``channel`` until its socket turns readable or it is closed, then run
        ``resume(channel)`` in a task of the lot. ``False`` (and nothing held) when the
        channel cannot park or the lot is not running: the caller waits itself.

        Park only a channel whose :meth:`~Channel.receive_nowait` just said
        :class:`trio.WouldBlock` (nothing is buffered above its socket), and return
        from the handler at once: the handler's channel then stays open."""
        if self._nursery is None:
            return False
        fd = channel.park_fileno()
        if fd < 0:
            return False
        try:
            self._epoll.register(fd, select.EPOLLIN)
        except OSError as exc:  # never seen; the handler then waits itself, as unparked
            log.warning("cannot park the channel from %s (descriptor %d): %s", channel.peer, fd, exc)
            return False
        self._parked[fd] = (channel, resume)
        channel._parking = self  # type: ignore[attr-defined]
        return True

    async def next_message(self, channel: Channel, resume: Handler) -> Message | None:
        """``channel``'s next message, for a handler that parks between messages: at once
        when it is here already; ``None`` when nothing is and the channel parked (the handler
        returns now, and the lot runs ``resume(channel)`` when the peer speaks); otherwise,
        for a channel that cannot park, waited for as :meth:`Channel.receive` does. Messages
        of unknown types are skipped, as iterating a channel skips them; the channel's end
        raises as ``receive`` does."""
        while True:
            try:
                try:
                    return channel.receive_nowait()
                except trio.WouldBlock:
                    pass
                if self.park(channel, resume):
                    return None
                return await channel.receive()
            except UnknownMessage as exc:
                channel.skip_unknown(exc)

    def closing(self, channel: Channel) -> None:
        """``channel`` is being closed while parked (called by the channel before its
        socket closes): its ``resume`` runs, and finds it closed."""
        self._wake(channel.park_fileno())

    def _wake(self, fd: int) -> None:
        entry = self._parked.pop(fd, None)
        if entry is None:
            return
        try:
            self._epoll.unregister(fd)
        except OSError:  # closed under us after all (the kernel dropped it from the set): nothing to undo
            pass
        channel, resume = entry
        channel._parking = None  # type: ignore[attr-defined]
        self.resumed += 1
        assert self._nursery is not None
        self._nursery.start_soon(run_handler, resume, channel, name=_RESUME_TASK)
