"""file.fetch: a file read in chunks reassembles exactly; sha256 at the end."""

from __future__ import annotations

import hashlib
import os

from agent_core.testing import run_action


async def test_fetch_chunks(tmp_path):
    blob = os.urandom(2 * 1024 * 1024 + 999)
    f = tmp_path / "blob"
    f.write_bytes(blob)
    got = b""
    offset = 0
    while True:
        out = await run_action("file.fetch", {"path": str(f), "offset": offset, "size": 700_000})
        assert out.ok, out.message
        v = out.value
        assert v["total_size"] == len(blob)
        assert v["chunk_sha256"] == hashlib.sha256(v["data"]).hexdigest()
        got += v["data"]
        offset += v["length"]
        if v["eof"]:
            break
        assert v["sha256"] == ""
    assert got == blob and v["sha256"] == hashlib.sha256(blob).hexdigest()
    out = await run_action("file.fetch", {"path": str(f), "size": 10, "checksum": True})
    assert out.value["sha256"] == hashlib.sha256(blob).hexdigest() and out.value["eof"] is False


async def test_fetch_empty_and_errors(tmp_path):
    e = tmp_path / "empty"
    e.write_bytes(b"")
    out = await run_action("file.fetch", {"path": str(e)})
    assert out.ok and out.value["eof"] and out.value["data"] == b""
    assert out.value["sha256"] == hashlib.sha256(b"").hexdigest()
    assert (await run_action("file.fetch", {"path": str(e), "offset": 5})).code == "A002"
    assert (await run_action("file.fetch", {"path": str(tmp_path / "no")})).code == "A017"
    assert (await run_action("file.fetch", {"path": str(tmp_path)})).code == "A002"
    assert (await run_action("file.fetch", {"path": str(e), "size": 100 * 1024 * 1024})).code == "A002"
