"""proc.openfiles lists this test's own files and sockets with the right modes and addresses."""

from __future__ import annotations

import os
import socket

import pytest

from agent_core.testing import run_action


@pytest.fixture
def opened(tmp_path):
    path = tmp_path / "log.txt"
    appender = open(path, "a")  # noqa: SIM115 - held open on purpose
    appender.write("x" * 10)
    appender.flush()
    reader = open(path)  # noqa: SIM115
    reader.read(4)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    r, w = os.pipe()
    yield {"path": str(path), "appender": appender, "reader": reader, "listener": listener, "pipe": (r, w)}
    appender.close()
    reader.close()
    listener.close()
    os.close(r)
    os.close(w)


def _fd_count() -> int:
    return len(os.listdir(f"/proc/{os.getpid()}/fd"))


async def test_files_of_this_process(opened):
    out = await run_action("proc.openfiles", {"pid": os.getpid()})
    assert out.ok, out.message
    by_fd = {f["fd"]: f for f in out.value["files"]}
    a = by_fd[opened["appender"].fileno()]
    assert (a["kind"], a["target"], a["mode"]) == ("file", opened["path"], "w,append")
    r = by_fd[opened["reader"].fileno()]
    assert r["mode"] == "r" and r["pos"] >= 4
    s = by_fd[opened["listener"].fileno()]
    port = opened["listener"].getsockname()[1]
    assert s["kind"] == "socket" and s["socket"] == {"proto": "tcp", "local": f"127.0.0.1:{port}", "remote": "0.0.0.0:0", "state": "LISTEN", "path": ""}
    assert by_fd[opened["pipe"][0]]["kind"] == "pipe"
    assert abs(out.value["total"] - _fd_count()) <= 2  # listing a directory briefly opens one
    assert out.value["limit_soft"] and out.value["limit_used_percent"] > 0


async def test_kind_filter(opened):
    out = await run_action("proc.openfiles", {"pid": os.getpid(), "kinds": ["socket"]})
    assert out.value["files"] and all(f["kind"] == "socket" for f in out.value["files"])
    assert out.value["counts"]["file"] >= 2  # counts cover everything, the list only the kinds asked for


@pytest.mark.parametrize(("params", "code"), [({"pid": 2**22 + 17}, "A017"), ({"pid": -3}, "A002"), ({"pid": 1, "kinds": ["fifo"]}, "A002"), ({"pid": "me"}, "A002")])
async def test_files_errors(params, code):
    assert (await run_action("proc.openfiles", params)).code == code
