"""When the center grants a terminal's output window (center/_terminal.py): only when the
host's proxy said it relays ``stream_credit`` and the host's agent declares ``exec.pty``'s
``window`` param. Anything else (an older proxy or agent) runs without one, as before,
instead of stalling after the first window. The sessions themselves are tested end to end
in tests/integration/test_terminal.py."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import msgspec

from center._actions import ActionBook
from center._terminal import CREDIT_FEATURE, TerminalEndpoint, TerminalHub
from center.proxy._streams import FEATURES
from plugins.exec.pty import pty as pty_action
from transports import Catalogue


def endpoint(book: ActionBook) -> TerminalEndpoint:
    async def learn_catalogues(digests: set[str]) -> None:
        return None

    center: Any = SimpleNamespace(policy=SimpleNamespace(book=book), learn_catalogues=learn_catalogues, terminals=TerminalHub())
    return TerminalEndpoint(center, SimpleNamespace(), None, None, None, None)


def book_with(**catalogues: Catalogue) -> ActionBook:
    book = ActionBook()
    for digest, cat in catalogues.items():
        book.add(digest, msgspec.json.encode(cat))
    return book


async def test_window_only_with_both_proxy_and_agent():
    assert CREDIT_FEATURE in FEATURES  # what the proxy says is what the center looks for
    new = pty_action.declaration("exec.pty")
    assert "window" in new.params["properties"]
    old_params = {**new.params, "properties": {k: v for k, v in new.params["properties"].items() if k != "window"}}
    old = msgspec.structs.replace(new, params=old_params)
    ep = endpoint(book_with(new=Catalogue(actions=[new]), old=Catalogue(actions=[old])))
    credit_link = SimpleNamespace(features=frozenset(FEATURES))
    plain_link = SimpleNamespace(features=frozenset())
    assert await ep._flow_controlled(credit_link, SimpleNamespace(catalogue="new"))
    assert not await ep._flow_controlled(plain_link, SimpleNamespace(catalogue="new"))  # an older proxy
    assert not await ep._flow_controlled(credit_link, SimpleNamespace(catalogue="old"))  # an older agent
    assert not await ep._flow_controlled(credit_link, SimpleNamespace(catalogue=""))  # declared nothing
    assert not await ep._flow_controlled(credit_link, SimpleNamespace(catalogue="unknown"))


async def test_one_large_output_message_reaches_the_browser_in_bounded_frames() -> None:
    """A proxy merges what queued for a stream (up to a whole window, 256 KiB) into one
    message. The center sends it as frames of at most MAX_OUTPUT_FRAME bytes: 256 KiB of
    NUL bytes in one frame was 1.5 MiB of JSON, and a client that caps its messages at 1 MiB
    (trio-websocket's default) was closed with 1009 in the middle of a flood."""
    import json

    from center._terminal import MAX_OUTPUT_FRAME, Session
    from transports import StreamClose, StreamData

    data = b"\0" * (256 * 1024) + "é-line\n".encode() * 3000  # a two-byte character falls on a slice edge
    session = Session(stream_id=7, account="a", host=None, link=None)  # type: ignore[arg-type]
    session.deliver(StreamData(stream_id=7, seq=1, data=data))
    session.deliver(StreamClose(stream_id=7, status=0))
    sent: list[dict[str, Any]] = []
    recorded: list[bytes] = []
    drawn: list[str] = []

    async def send_json(frame: dict[str, Any]) -> None:
        sent.append(frame)

    async def output(text: str) -> None:
        drawn.append(text)

    ws = SimpleNamespace(send_json=send_json)
    outcome: dict[str, Any] = {}
    await TerminalEndpoint._upstream(None, ws, session, SimpleNamespace(output=output), SimpleNamespace(output=recorded.append), outcome)  # type: ignore[arg-type]
    texts = [f["data"] for f in sent if f["type"] == "output"]
    assert "".join(texts) == data.decode() == "".join(drawn)  # whole, in order, no character torn
    assert b"".join(recorded) == data
    assert len(texts) >= len(data) // MAX_OUTPUT_FRAME
    assert all(len(t.encode()) <= MAX_OUTPUT_FRAME for t in texts)
    assert max(len(json.dumps(f)) for f in sent) < 1 << 20
    assert outcome["exit"]["status"] == 0 and session.queued == 0
