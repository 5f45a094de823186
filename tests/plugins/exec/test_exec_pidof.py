"""exec.pidof: agrees with pidof(1) and pgrep -f on a uniquely named process."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid

import pytest

from agent_core.testing import run_action


def _pids(*argv: str) -> list[int]:
    out = subprocess.run(list(argv), capture_output=True, text=True).stdout
    return sorted(int(x) for x in out.split())


@pytest.fixture
def unique_sleepers(tmp_path):
    """Two processes of a program with a name nothing else on the host has."""
    name = "stl" + uuid.uuid4().hex[:8]
    prog = tmp_path / name
    shutil.copy(shutil.which("sleep"), prog)
    procs = [subprocess.Popen([str(prog), "30"]) for _ in range(2)]
    yield name, prog, procs
    _stop(procs)


def _stop(procs) -> None:
    for p in procs:
        p.kill()
        p.wait()


async def test_pidof_unique_program(unique_sleepers):
    name, prog, procs = unique_sleepers
    out = await run_action("exec.pidof", {"name": name})
    assert out.ok, out.message
    assert out.value["pids"] == sorted(p.pid for p in procs) == _pids("pidof", name)
    first = out.value["processes"][0]
    assert first["exe"] == str(prog) and first["comm"] == name and first["ppid"] == os.getpid()
    assert first["cmdline"] == f"{prog} 30" and first["user"] == "root"
    out = await run_action("exec.pidof", {"name": f"{name} 3[0-9]", "full": True})
    assert out.value["pids"] == _pids("pgrep", "-f", f"{name} 3[0-9]")
    _stop(procs)
    out = await run_action("exec.pidof", {"name": name})
    assert out.ok and out.value["pids"] == []
    assert (await run_action("exec.pidof", {"name": name, "require": True})).code == "A017"


async def test_pidof_bad_params():
    assert (await run_action("exec.pidof", {"name": "("})).ok  # plain names are not regexes
    assert (await run_action("exec.pidof", {"name": "(", "full": True})).code == "A002"
    assert (await run_action("exec.pidof", {"name": ""})).code == "A002"
