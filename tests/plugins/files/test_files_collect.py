"""file.collect: a file goes up chunk by chunk with its manifest; caps, kinds."""

from __future__ import annotations

import hashlib
import os

from agent_core.testing import run_action


class Sink:
    """Takes chunks as the proxy would; keeps at most one in flight."""

    def __init__(self) -> None:
        self.got: dict[str, bytes] = {}
        self.order: list[str] = []

    async def put(self, digest: str, data: bytes) -> None:
        assert hashlib.sha256(data).hexdigest() == digest
        self.got[digest] = data
        self.order.append(digest)


async def test_collect_sends_chunks_and_manifest(tmp_path):
    blob = os.urandom(300_000)
    path = tmp_path / "app.log"
    path.write_bytes(blob)
    path.chmod(0o600)
    sink = Sink()
    out = await run_action("file.collect", {"path": str(path), "chunk_size": 100_000}, state_dir=tmp_path / "s", file_channel=sink)
    assert out.ok, out.message
    f = out.value["file"]
    assert f["path"] == "app.log" and f["size"] == len(blob) and f["mode"] == "0600"
    assert f["sha256"] == hashlib.sha256(blob).hexdigest() and len(f["chunks"]) == 3
    assert b"".join(sink.got[d] for d in f["chunks"]) == blob


async def test_collect_refuses_big_files_dirs_and_missing(tmp_path):
    (tmp_path / "big").write_bytes(b"x" * 1000)
    sink = Sink()
    out = await run_action("file.collect", {"path": str(tmp_path / "big"), "max_bytes": 999}, state_dir=tmp_path / "s", file_channel=sink)
    assert out.code == "C032" and sink.order == []
    out = await run_action("file.collect", {"path": str(tmp_path)}, state_dir=tmp_path / "s", file_channel=sink)
    assert out.code == "A022"
    out = await run_action("file.collect", {"path": str(tmp_path / "nope")}, state_dir=tmp_path / "s", file_channel=sink)
    assert out.code == "A017"


async def test_collect_notices_a_file_that_changes(tmp_path):
    path = tmp_path / "growing.log"
    path.write_bytes(b"a" * 200_000)

    class Appender(Sink):
        async def put(self, digest: str, data: bytes) -> None:
            await super().put(digest, data)
            with path.open("ab") as fh:  # someone writes while we read
                fh.write(b"more\n")

    out = await run_action("file.collect", {"path": str(path), "chunk_size": 50_000}, state_dir=tmp_path / "s", file_channel=Appender())
    assert out.code == "A021"
