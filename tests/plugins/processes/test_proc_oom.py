"""proc.oom: a child that volunteers (oom_score_adj 1000) ranks first; kill records parse."""

from __future__ import annotations

import pytest

from agent_core.testing import run_action, spawned
from plugins.processes.oom import parse_kills


@pytest.fixture
def volunteer():
    proc = spawned(["sleep", "52"])
    with open(f"/proc/{proc.pid}/oom_score_adj", "w") as fh:
        fh.write("1000")  # raising the score of our own child needs no privilege
    yield proc
    proc.kill()
    proc.wait()


def _vmstat_oom_kill() -> int:
    with open("/proc/vmstat") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("oom_kill "))


async def test_volunteer_ranks_first(volunteer):
    out = await run_action("proc.oom", {"top": 5})
    assert out.ok, out.message
    first = out.value["candidates"][0]
    assert first["pid"] == volunteer.pid and first["oom_score_adj"] == 1000 and first["oom_score"] >= 1000
    scores = [c["oom_score"] for c in out.value["candidates"]]
    assert scores == sorted(scores, reverse=True)
    assert out.value["oom_kill_total"] == _vmstat_oom_kill()


def test_parse_kill_records():
    records = [
        (6, 1, 10.5, "Out of memory: Killed process 4242 (java) total-vm:8388608kB, anon-rss:4194304kB, file-rss:0kB, shmem-rss:0kB, UID:1000 pgtables:9000kB oom_score_adj:0"),
        (6, 2, 11.0, "Memory cgroup out of memory: Killed process 777 (php-fpm) total-vm:400000kB, anon-rss:120000kB, file-rss:0kB"),
        (6, 3, 12.0, "EXT4-fs (sda1): mounted filesystem"),
    ]  # fmt: skip
    kills = parse_kills(records)
    assert [(k.scope, k.pid, k.name, k.anon_rss) for k in kills] == [("global", 4242, "java", 4194304 * 1024), ("cgroup", 777, "php-fpm", 120000 * 1024)]


@pytest.mark.parametrize("params", [{"top": 0}, {"top": 5000}, {"pid": 1}])
async def test_oom_bad_params(params):
    assert (await run_action("proc.oom", params)).code == "A002"
