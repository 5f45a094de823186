"""sys.info against independent readings of the same host facts."""

from __future__ import annotations

import os
import platform
import socket

import psutil

from agent_core.testing import run_action


async def test_info_matches_host():
    out = await run_action("sys.info")
    assert out.ok, out.message
    v = out.value
    assert v["cpus"] == os.cpu_count()
    assert v["hostname"] == socket.gethostname()
    assert v["kernel"] == platform.release()
    assert v["mem_total"] == psutil.virtual_memory().total
    assert v["os_id"] == platform.freedesktop_os_release()["ID"]
    assert abs(v["boot_time"] - psutil.boot_time()) < 2


async def test_info_rejects_params():
    out = await run_action("sys.info", {"verbose": True})
    assert out.code == "A002"
