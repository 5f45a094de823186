"""hw.cpuinfo against /proc/cpuinfo, os.cpu_count and psutil."""

from __future__ import annotations

import os

import psutil

from agent_core.testing import run_action
from plugins.hardware._common import cpuinfo_blocks
from plugins.hardware.cpuinfo import parse_size


def _first_cpu() -> dict[str, str]:
    with open("/proc/cpuinfo") as fh:
        return cpuinfo_blocks(fh.read())[0]


def _packages() -> set[str]:
    base = "/sys/devices/system/cpu"
    cpus = [d for d in os.listdir(base) if d.startswith("cpu") and d[3:].isdigit()]
    out = set()
    for cpu in cpus:
        path = f"{base}/{cpu}/topology/physical_package_id"
        if os.path.exists(path):
            with open(path) as fh:
                out.add(fh.read().strip())
    return out


def _vulns() -> set[str]:
    path = "/sys/devices/system/cpu/vulnerabilities"
    return set(os.listdir(path)) if os.path.isdir(path) else set()


async def test_cpu_info_matches_host():
    first = _first_cpu()
    out = await run_action("hw.cpuinfo", {"has": ["fpu", "no_such_flag_zz"], "flags": True})
    assert out.ok, out.message
    v = out.value
    assert v["logical"] == os.cpu_count()
    assert v["cores"] == psutil.cpu_count(logical=False)
    assert v["sockets"] == len(_packages())
    assert v["model_name"] == first.get("model name", v["model_name"])
    assert set(v["flags"]) == set(first.get("flags", "").split())
    assert v["flag_count"] == len(v["flags"])
    assert v["has"] == {"fpu": "fpu" in v["flags"], "no_such_flag_zz": False}
    assert set(v["vulnerabilities"]) == _vulns()
    assert all(v["vulnerabilities"][n].startswith("Vulnerable") for n in v["vulnerable"])
    # Every CPU is counted in each cache level exactly once.
    for cache in v["caches"]:
        assert cache["size"] > 0 and cache["instances"] * cache["shared_by"] >= len(v["online"])


async def test_flags_omitted_by_default():
    out = await run_action("hw.cpuinfo")
    assert out.ok and out.value["flags"] == [] and out.value["flag_count"] > 0


def test_parse_size():
    assert parse_size("48K") == 48 * 1024
    assert parse_size("32M") == 32 * 1024 * 1024
    assert parse_size("") == 0


async def test_cpu_info_bad_params():
    assert (await run_action("hw.cpuinfo", {"has": "avx2"})).code == "A002"
    assert (await run_action("hw.cpuinfo", {"verbose": True})).code == "A002"
