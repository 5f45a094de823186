from __future__ import annotations

import re
import shutil
import subprocess
import uuid

import pytest

from agent_core.testing import run_action

HAS_AT = all(shutil.which(t) for t in ("at", "atq", "atrm"))


def _submit(command: str, queue: str) -> int:
    res = subprocess.run(
        ["at", "-q", queue, "-t", "203601011200"],
        input=command + "\n",
        capture_output=True,
        text=True,
        check=True,
    )
    return int(re.search(r"job (\d+)", res.stderr).group(1))


def _atrm(job: int) -> None:
    subprocess.run(["atrm", str(job)], capture_output=True)


async def test_list_jobs_with_scripts():
    if not HAS_AT:
        assert (await run_action("sched.at.list", {})).code == "A003"
        pytest.skip("at/atq/atrm absent on this host: the real path is not exercised here; only the missing-tool answer (A003) was checked")
    marker = f"starling-at-{uuid.uuid4().hex[:8]}"
    job = _submit(f"echo {marker}\nlogger done", "t")
    try:
        out = await run_action("sched.at.list", {"queue": "t", "scripts": True})
        assert out.ok, out.message
        mine = [j for j in out.value["jobs"] if j["id"] == job]
        assert (
            mine
            and mine[0]["time"] == "2036-01-01T12:00:00"
            and mine[0]["queue"] == "t"
            and not mine[0]["running"]
        )
        assert mine[0]["script"] == f"echo {marker}\nlogger done"
        out = await run_action("sched.at.list", {"user": "nobody"})
        assert job not in {j["id"] for j in out.value["jobs"]}
    finally:
        _atrm(job)


async def test_list_bad_params():
    if not HAS_AT:
        pytest.skip("at/atq/atrm absent on this host: answers only the missing-tool code (A003), the real checks are not exercised")
    expected = "A002"
    assert (await run_action("sched.at.list", {"queue": "ab"})).code == expected
    assert (await run_action("sched.at.list", {"user": "a b"})).code == expected
