"""kernel.limits against /proc/sys, with inotify watches this test creates."""

from __future__ import annotations

import ctypes
import os

import pytest

from agent_core.testing import run_action

HAVE_AIO = os.path.exists("/proc/sys/fs/aio-nr")


def _read(path: str) -> str:
    with open(path) as fh:
        return fh.read().strip()


@pytest.fixture
def watches(tmp_path):
    """One inotify instance with 25 watches, made through libc (no extra dependency)."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = libc.inotify_init()
    assert fd >= 0
    for i in range(25):
        d = tmp_path / f"d{i}"
        d.mkdir()
        assert libc.inotify_add_watch(fd, str(d).encode(), 0x100) >= 0  # IN_CREATE
    yield 25
    os.close(fd)


async def test_tables_match_proc():
    out = await run_action("kernel.limits")
    assert out.ok, out.message
    t = {x["name"]: x for x in out.value["tables"]}
    allocated, free, maximum = (int(x) for x in _read("/proc/sys/fs/file-nr").split())
    assert t["file handles"]["limit"] == maximum
    assert abs(t["file handles"]["used"] - (allocated - free)) < 2000
    assert t["pids"]["limit"] == int(_read("/proc/sys/kernel/pid_max"))
    assert t["threads"]["limit"] == int(_read("/proc/sys/kernel/threads-max"))
    assert t["pids"]["used"] >= len([p for p in os.listdir("/proc") if p.isdigit()]) - 50
    assert out.value["nr_open"] == int(_read("/proc/sys/fs/nr_open"))
    if HAVE_AIO:
        assert t["aio contexts"]["limit"] == int(_read("/proc/sys/fs/aio-max-nr"))


async def test_inotify_watches_are_counted(watches):
    out = await run_action("kernel.limits")
    t = {x["name"]: x for x in out.value["tables"]}
    assert t["inotify watches"]["used"] >= watches
    assert t["inotify instances"]["used"] >= 1
    assert t["inotify watches"]["limit"] == int(_read("/proc/sys/fs/inotify/max_user_watches"))


async def test_threshold_warnings():
    out = await run_action("kernel.limits", {"threshold": 0.0001})
    assert out.ok
    assert any(w.startswith("pids:") for w in out.value["warnings"])


@pytest.mark.parametrize("params", [{"threshold": 0}, {"threshold": 101}, {"table": "pids"}])
async def test_limits_bad_params(params):
    assert (await run_action("kernel.limits", params)).code == "A002"
