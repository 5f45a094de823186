"""sys.kernelinfo against uname and /proc."""

from __future__ import annotations

import os

from agent_core.testing import run_action
from plugins.system.kernelinfo import parse_cmdline


def _read(path: str) -> str:
    with open(path) as fh:
        return fh.read().strip()



async def test_kernel_matches_uname_and_proc():
    out = await run_action("sys.kernelinfo")
    assert out.ok, out.message
    v = out.value
    u = os.uname()
    assert (v["release"], v["version"]) == (u.release, u.version)
    assert v["cmdline"] == _read("/proc/cmdline")
    assert v["banner"] == _read("/proc/version")
    assert v["switches"]["randomize_va_space"] == int(_read("/proc/sys/kernel/randomize_va_space"))
    assert len(v["args"]) >= 1


async def test_single_argument_lookup():
    first = _read("/proc/cmdline").split()[0]
    key, _, value = first.partition("=")
    out = await run_action("sys.kernelinfo", {"arg": key})
    assert out.ok and value in out.value["arg_values"]
    out = await run_action("sys.kernelinfo", {"arg": "no_such_kernel_arg_xyz"})
    assert out.ok and out.value["arg_values"] == []


def test_parse_cmdline_quotes_and_flags():
    args = parse_cmdline('root=UUID=ab-cd ro quiet dyndbg="file foo.c +p" console=ttyS0,115200')
    assert [(a.key, a.value) for a in args] == [
        ("root", "UUID=ab-cd"), ("ro", None), ("quiet", None), ("dyndbg", "file foo.c +p"), ("console", "ttyS0,115200"),
    ]  # fmt: skip


async def test_kernel_bad_params():
    assert (await run_action("sys.kernelinfo", {"arg": 3})).code == "A002"
