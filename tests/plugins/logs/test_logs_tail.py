"""log.tail: last lines, incremental offsets, and following through a rotation."""

from __future__ import annotations

import os

import trio

from agent_core.testing import run_action


def _append(path, text: str) -> None:
    with open(path, "a") as fh:
        fh.write(text)


def _rotate(path) -> None:
    os.rename(path, f"{path}.1")
    _append(path, "")  # a fresh, empty live file, as logrotate's "create" leaves


async def test_tail_and_incremental_offset(tmp_path):
    log = tmp_path / "app.log"
    _append(log, "".join(f"old {i}\n" for i in range(100)))
    out = await run_action("log.tail", {"path": str(log), "lines": 3})
    assert out.ok, out.message
    assert out.value["lines"] == ["old 97", "old 98", "old 99"]
    offset = out.value["offset"]
    assert offset == log.stat().st_size
    _append(log, "new 1\nnew 2\npartial")
    out = await run_action("log.tail", {"path": str(log), "offset": offset})
    assert out.value["lines"] == ["new 1", "new 2"]  # the unfinished line waits for its newline
    _append(log, " done\n")
    out = await run_action("log.tail", {"path": str(log), "offset": out.value["offset"]})
    assert out.value["lines"] == ["partial done"]
    # An offset past the end means the file was rotated/truncated: start again from 0.
    log.write_text("fresh\n")
    out = await run_action("log.tail", {"path": str(log), "offset": 10_000})
    assert out.value["lines"] == ["fresh"]


async def test_follow_survives_rotation(tmp_path):
    log = tmp_path / "svc.log"
    _append(log, "before\n")
    result = {}

    async def follow():
        result["out"] = await run_action(
            "log.tail", {"path": str(log), "lines": 1, "follow_seconds": 2.5}, stream=True
        )

    async with trio.open_nursery() as nursery:
        nursery.start_soon(follow)
        await trio.sleep(0.4)
        _append(log, "one\ntwo\n")
        await trio.sleep(0.4)
        _append(log, "last words\n")
        _rotate(log)
        await trio.sleep(0.4)
        _append(log, "after rotation\n")
    out = result["out"]
    assert out.ok, out.message
    assert out.value["lines"] == ["before", "one", "two", "last words", "after rotation"]
    assert out.value["rotations"] == 1
    streamed = b"".join(c for _, c in out.chunks).decode()
    assert streamed == "before\none\ntwo\nlast words\nafter rotation\n"


async def test_tail_errors(tmp_path):
    assert (await run_action("log.tail", {"path": str(tmp_path / "none.log")})).code == "A017"
    assert (await run_action("log.tail", {"path": str(tmp_path)})).code == "A002"
    assert (await run_action("log.tail", {"path": "/var/log/x", "follow_seconds": -1})).code == "A002"
