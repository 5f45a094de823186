"""log.size: families and totals on a temp log tree; a deleted-but-open log is found."""

from __future__ import annotations

import os

import pytest

from agent_core.testing import run_action


def _blocks(path) -> int:
    return os.stat(path).st_blocks * 512


@pytest.fixture
def held_open(tmp_path):
    """A log file deleted while this process still writes to it (the classic disk leak)."""
    path = tmp_path / "logs" / "ghost.log"
    path.parent.mkdir(exist_ok=True)
    fh = open(path, "wb")
    fh.write(b"g" * 50_000)
    fh.flush()
    os.unlink(path)
    yield str(path), fh.fileno()
    fh.close()


async def test_log_size_families(tmp_path, held_open):
    logs = tmp_path / "logs"
    (logs / "nginx").mkdir(parents=True)
    for name, size in [("access.log", 30_000), ("access.log.1", 20_000), ("access.log.2.gz", 9_000), ("error.log", 100)]:
        (logs / "nginx" / name).write_bytes(os.urandom(size))
    (logs / "syslog").write_bytes(b"s" * 12_000)
    (logs / "syslog-20240101").write_bytes(b"s" * 8_000)
    out = await run_action("log.size", {"path": str(logs)})
    assert out.ok, out.message
    v = out.value
    all_files = [p for p in logs.rglob("*") if p.is_file()]
    assert v["files"] == len(all_files) == 6
    assert v["bytes"] == sum(_blocks(p) for p in all_files)
    fams = {f["name"]: f for f in v["families"]}
    access = fams[str(logs / "nginx" / "access.log")]
    assert access["rotated_files"] == 2
    assert access["live_bytes"] == _blocks(logs / "nginx" / "access.log")
    assert access["bytes"] == sum(_blocks(logs / "nginx" / n) for n in ("access.log", "access.log.1", "access.log.2.gz"))
    assert fams[str(logs / "syslog")]["rotated_files"] == 1
    assert v["families"][0]["name"] == str(logs / "nginx" / "access.log")
    path, fd = held_open
    ghost = [d for d in v["deleted_open"] if d["path"] == path]
    assert ghost and ghost[0]["pid"] == os.getpid() and ghost[0]["fd"] == fd and ghost[0]["bytes"] == 50_000
    out = await run_action("log.size", {"path": str(logs), "top": 1, "deleted": False})
    assert len(out.value["families"]) == 1 and out.value["deleted_open"] == []


async def test_log_size_errors(tmp_path):
    assert (await run_action("log.size", {"path": str(tmp_path / "none")})).code == "A017"
    (tmp_path / "f").write_text("")
    assert (await run_action("log.size", {"path": str(tmp_path / "f")})).code == "A002"
    assert (await run_action("log.size", {"top": 0})).code == "A002"
