"""proc.pidlimits of a child started under prlimit with known limits."""

from __future__ import annotations

import os
import resource
import subprocess
import sys

import pytest

from agent_core.testing import run_action
from plugins.processes.pidlimits import parse_limits


@pytest.fixture
def limited():
    """A child whose open-files limit is 64/128 and that holds 40 descriptors open."""
    code = (
        "import resource, os, time\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (64, 128))\n"
        "fds = [os.open('/dev/null', os.O_RDONLY) for _ in range(40)]\n"
        "print('ready', flush=True)\ntime.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    yield proc
    proc.kill()
    proc.wait()


async def test_limits_and_usage_of_a_child(limited):
    out = await run_action("proc.pidlimits", {"pid": limited.pid, "threshold": 50})
    assert out.ok, out.message
    by = {lim["name"]: lim for lim in out.value["limits"]}
    files = by["Max open files"]
    assert (files["soft"], files["hard"], files["units"]) == (64, 128, "files")
    assert files["used"] >= 43  # 40 + stdin/stdout/stderr
    assert files["used_percent"] == round(100 * files["used"] / 64, 2)
    assert "Max open files" in out.value["near_limit"]
    assert by["Max address space"]["used"] > 0


async def test_own_limits_match_resource():
    out = await run_action("proc.pidlimits", {"pid": os.getpid()})
    by = {lim["name"]: lim for lim in out.value["limits"]}
    soft, hard = resource.getrlimit(resource.RLIMIT_STACK)
    inf = resource.RLIM_INFINITY
    assert by["Max stack size"]["soft"] == (None if soft == inf else soft)
    assert by["Max stack size"]["hard"] == (None if hard == inf else hard)


def test_parse_limits_columns():
    text = (
        "Limit                     Soft Limit           Hard Limit           Units     \n"
        "Max cpu time              unlimited            unlimited            seconds   \n"
        "Max open files            1024                 524288               files     \n"
        "Max realtime timeout      unlimited            unlimited            us        \n"
    )
    lims = parse_limits(text)
    assert [(x.name, x.soft, x.hard, x.units) for x in lims] == [
        ("Max cpu time", None, None, "seconds"), ("Max open files", 1024, 524288, "files"), ("Max realtime timeout", None, None, "us"),
    ]  # fmt: skip


@pytest.mark.parametrize(("params", "code"), [({"pid": 2**22 + 19}, "A017"), ({"pid": 0}, "A002"), ({"pid": 1, "threshold": 0}, "A002"), ({"pids": [1]}, "A002")])
async def test_limits_errors(params, code):
    assert (await run_action("proc.pidlimits", params)).code == code
