"""proc.cgroup of a child moved into a private cgroup with a memory limit and a CPU quota.

The cgroups are created under the host's hierarchy with unique names and removed
in teardown (the child is killed first, so rmdir succeeds).
"""

from __future__ import annotations

import os
import uuid

import pytest

from agent_core.testing import run_action, spawned
from plugins.processes.cgroup import hierarchy_dirs

ROOT = "/sys/fs/cgroup"
LIMIT = 64 * 1024 * 1024


def _write(path: str, value: str) -> None:
    with open(path, "w") as fh:
        fh.write(value)


def _layout() -> tuple[str, str | None] | None:
    """(memory dir, cpu dir) parents where a test cgroup can be made, by cgroup version."""
    if os.path.exists(f"{ROOT}/cgroup.controllers"):
        with open(f"{ROOT}/cgroup.subtree_control") as fh:
            enabled = fh.read().split()
        return (ROOT, ROOT) if "memory" in enabled else None
    if os.path.isdir(f"{ROOT}/memory"):
        return f"{ROOT}/memory", f"{ROOT}/cpu" if os.path.isdir(f"{ROOT}/cpu") else None
    return None


@pytest.fixture
def caged():
    layout = _layout()
    if layout is None or os.geteuid() != 0:
        pytest.skip("no writable cgroup hierarchy with the memory controller (needs root)")
    mem_parent, cpu_parent = layout
    v2 = mem_parent == ROOT and os.path.exists(f"{ROOT}/cgroup.controllers")
    name = f"starling-test-{uuid.uuid4().hex[:8]}"
    dirs = [f"{mem_parent}/{name}"] + ([f"{cpu_parent}/{name}"] if cpu_parent and cpu_parent != mem_parent else [])
    proc = spawned(["sleep", "51"])
    cpu_set = False
    try:
        for d in dirs:
            os.mkdir(d)
        if v2:
            _write(f"{dirs[0]}/memory.max", str(LIMIT))
            if os.path.exists(f"{dirs[0]}/cpu.max"):
                _write(f"{dirs[0]}/cpu.max", "50000 100000")
                cpu_set = True
        else:
            _write(f"{dirs[0]}/memory.limit_in_bytes", str(LIMIT))
            if len(dirs) > 1:
                _write(f"{dirs[1]}/cpu.cfs_period_us", "100000")
                _write(f"{dirs[1]}/cpu.cfs_quota_us", "50000")
                cpu_set = True
        for d in dirs:
            _write(f"{d}/cgroup.procs", str(proc.pid))
        yield proc, name, dirs, cpu_set
    finally:
        proc.kill()
        proc.wait()
        for d in reversed(dirs):
            if os.path.isdir(d):
                os.rmdir(d)


async def test_limits_of_a_caged_child(caged):
    proc, name, dirs, cpu_set = caged
    out = await run_action("proc.cgroup", {"pid": proc.pid})
    assert out.ok, out.message
    v = out.value
    assert v["memory"]["limit"] == LIMIT
    # v1 leaves earlier charges with the old cgroup (no move_charge_at_immigrate), so usage may be 0.
    assert v["memory"]["usage"] is not None and 0 <= v["memory"]["usage"] < LIMIT
    mem_key = "memory" if "memory" in v["dirs"] else "unified"
    assert v["dirs"][mem_key] == dirs[0] and v["paths"][mem_key].endswith("/" + name)
    if cpu_set:
        assert v["cpu"]["quota_cores"] == 0.5
    assert v["pressure"] == []


async def test_own_cgroup_paths_match_proc():
    out = await run_action("proc.cgroup", {"pid": os.getpid()})
    assert out.ok, out.message
    paths, _ = hierarchy_dirs(os.getpid())
    assert out.value["paths"] == {k or "unified": p for k, p in paths.items()}
    assert out.value["version"] in ("v1", "v2", "hybrid")


@pytest.mark.parametrize(("params", "code"), [({"pid": 2**22 + 31}, "A017"), ({"pid": 0}, "A002"), ({"pid": 1, "controller": "memory"}, "A002")])
async def test_cgroup_errors(params, code):
    assert (await run_action("proc.cgroup", params)).code == code
