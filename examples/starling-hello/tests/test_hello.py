"""The example plugin's own tests: what a plugin author writes.

``run_action`` runs an action in-process exactly as the agent's executor does;
the ``memory_agent`` fixture (from agent_core.testing, a pytest plugin installed
with starling) runs it through a real agent: signature check, journal, acks and
result delivery, over the in-memory carrier.
"""

from __future__ import annotations

import socket
from importlib import resources
from importlib.metadata import entry_points

from agent_core.testing import run_action


def _shipped() -> list[str]:
    """The fortunes as the package ships them, read independently of the plugin."""
    text = resources.files("starling_hello").joinpath("fortunes.txt").read_text()
    return [x.strip() for x in text.splitlines() if x.strip() and not x.startswith("#")]


def test_registered_by_entry_point():
    eps = {ep.name: ep.value for ep in entry_points(group="starling.plugins")}
    assert eps.get("hello") == "starling_hello.plugin", "install it: pip install -e examples/starling-hello"


async def test_greet():
    out = await run_action("hello.greet", {"name": "ops"})
    assert out.ok, out.message
    assert out.value["text"] == "hello ops"
    assert out.value["host"] == socket.gethostname()
    out = await run_action("hello.greet", {"name": "ops", "shout": True})
    assert out.value["text"] == "HELLO OPS"


async def test_greet_bad_params():
    assert (await run_action("hello.greet", {"name": 42})).code == "A002"
    assert (await run_action("hello.greet", {"nmae": "typo"})).code == "A002"
    out = await run_action("hello.greet", {"name": " "})
    assert out.code == "A002" and "blank" in out.message


async def test_fortune_reads_the_shipped_file():
    shipped = _shipped()
    assert len(shipped) >= 5
    out = await run_action("hello.fortune", {"index": 3})
    assert out.ok and out.value == {"text": shipped[3], "index": 3, "total": len(shipped)}
    out = await run_action("hello.fortune", {"contains": "dns"})
    assert out.ok and "DNS" in out.value["text"]
    out = await run_action("hello.fortune")
    assert out.ok and out.value["text"] == shipped[out.value["index"]]


async def test_fortune_errors():
    out = await run_action("hello.fortune", {"index": 999})
    assert out.code == "A002" and "out of range" in out.message
    out = await run_action("hello.fortune", {"contains": "no such words anywhere"})
    assert out.code == "A017"


async def test_through_a_real_agent(memory_agent):
    out = await memory_agent.run("hello.greet", {"name": "fleet"})
    assert out.ok, out.message
    assert out.acks == ["received", "running"]
    assert out.value["text"] == "hello fleet"
    assert out.value["agent_id"] == memory_agent.agent_id
