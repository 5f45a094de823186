"""What an agent has to send on one connection, and the task that writes it.

Every message an agent sends (acks, results, task output, terminal output,
heartbeats) goes through one :class:`Outbox` per connection. Senders only
queue; one writer task, owned by the connection, takes everything queued and
writes it in one ``send_many``: messages queued while a write is in flight go
out together in the next one, without a timer. Woken, the writer lets one
scheduler pass go by before it writes, so what other tasks queue in that pass
(a task's ``received`` ack, its ``running`` ack and its result) share its write.

The writer is never one of the senders. A sender can be cancelled at any
time (a task times out, a terminal session closes), and a cancelled writer
would take down with it the messages other senders had queued behind it: a
terminal's echo lost for good because another terminal closed at that moment
(the 200-session hang of issue 10), or a result that waits for the next
reconnect. Only the end of the connection stops the writer; then what it
held is lost with the link, as with any broken link (results are re-sent from
the journal, streams are cut with P007).
"""

from __future__ import annotations

from collections.abc import Callable

import trio

from transports import Channel, Message, StarlingError, TransportError
from transports import ErrorCode as EC

__all__ = ["OUTBOX_HIGH_WATER", "Outbox"]

#: Messages queued behind an in-flight write before senders wait for it.
OUTBOX_HIGH_WATER = 256


class Outbox:
    """The send queue of one connection.

    :param channel: the connection.
    :param before_write: called before every write (the journal's flush: what
        the messages report is durable before they leave).
    """

    def __init__(self, channel: Channel, before_write: Callable[[], None]) -> None:
        self.channel = channel
        self._before_write = before_write
        self._items: list[Message] = []
        self._wake = trio.Event()
        self._written = trio.Event()
        self.closed = False

    def __len__(self) -> int:
        return len(self._items)

    async def put(self, msg: Message) -> bool:
        """Queue ``msg``; True once it is queued (as good as sent), False after :meth:`close`.

        Returns at once, without a checkpoint, unless more than
        :data:`OUTBOX_HIGH_WATER` messages wait: then it waits for the next write.
        """
        if self.closed:
            return False
        self._items.append(msg)
        self._wake.set()
        if len(self._items) > OUTBOX_HIGH_WATER:
            await self._written.wait()
        return True

    def close(self) -> None:
        """The connection ended: drop what is queued, release waiting senders, take nothing more."""
        self.closed = True
        self._items = []
        self._wake.set()
        self._written.set()

    async def run(self) -> None:
        """The writer: until :meth:`close` or the connection breaks (then
        :class:`StarlingError` P007, which ends the connection)."""
        try:
            while not self.closed:
                await self._wake.wait()
                self._wake = trio.Event()
                # One scheduler pass before the write: what the tasks woken with
                # this sender queue in that pass (a task's acks and its result;
                # a fleet's thousands of sessions answering one job) goes out in
                # this write, and behind one journal commit (``before_write``).
                await trio.lowlevel.checkpoint()
                while self._items and not self.closed:
                    batch, self._items = self._items, []
                    self._before_write()
                    if len(batch) == 1:
                        await self.channel.send(batch[0])
                    else:
                        await self.channel.send_many(batch)
                    self._written.set()
                    self._written = trio.Event()
        except TransportError as exc:
            raise StarlingError(f"sending to the proxy failed: {exc}", code=EC.P007) from exc
        finally:
            self.close()
