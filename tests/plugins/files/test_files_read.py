"""file.read: text and base64 reads at offsets, binary detection, errors."""

from __future__ import annotations

import base64
import os

from agent_core.testing import run_action


async def test_read_text_with_offset_and_limit(tmp_path):
    f = tmp_path / "t.txt"
    f.write_text("hello world\nsecond line\n")
    out = await run_action("file.read", {"path": str(f), "offset": 6, "limit": 5})
    assert out.ok, out.message
    v = out.value
    assert v["data"] == "world" and v["length"] == 5 and v["size"] == 24
    assert v["eof"] is False and v["binary"] is False
    out = await run_action("file.read", {"path": str(f), "offset": 19})
    assert out.value["data"] == "line\n" and out.value["eof"] is True


async def test_read_binary_base64_round_trips(tmp_path):
    blob = os.urandom(3000) + b"\x00\xff"
    f = tmp_path / "b.bin"
    f.write_bytes(blob)
    got = b""
    offset = 0
    while True:
        out = await run_action("file.read", {"path": str(f), "offset": offset, "limit": 1024, "encoding": "base64"})
        assert out.ok
        got += base64.b64decode(out.value["data"])
        offset += out.value["length"]
        if out.value["eof"]:
            break
    assert got == blob
    out = await run_action("file.read", {"path": str(f), "offset": 3000, "encoding": "base64"})
    assert out.value["binary"] is True


async def test_read_proc_file_with_zero_size():
    out = await run_action("file.read", {"path": "/proc/self/status"})
    assert out.ok and out.value["size"] == 0 and "Pid:" in out.value["data"] and out.value["eof"]


async def test_read_errors(tmp_path):
    assert (await run_action("file.read", {"path": str(tmp_path / "missing")})).code == "A017"
    assert (await run_action("file.read", {"path": str(tmp_path)})).code == "A002"
    assert (await run_action("file.read", {"path": "relative/x"})).code == "A002"
    assert (await run_action("file.read", {"path": "/etc/hostname", "limit": 0})).code == "A002"
    assert (await run_action("file.read", {"path": "/etc/hostname", "encoding": "rot13"})).code == "A002"
