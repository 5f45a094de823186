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
