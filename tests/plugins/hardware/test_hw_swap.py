"""hw.swap against /proc/swaps, psutil and the zram sysfs; a swap file is not created (host state)."""

from __future__ import annotations

import os

import psutil
import pytest

from agent_core.testing import run_action
from plugins.hardware.swap import parse_swaps


def _swaps() -> str:
    with open("/proc/swaps") as fh:
        return fh.read()


def _zram_names() -> list[str]:
    return sorted(n for n in os.listdir("/sys/block") if n.startswith("zram"))


def _swappiness() -> int:
    with open("/proc/sys/vm/swappiness") as fh:
        return int(fh.read())


async def test_swap_matches_host():
    out = await run_action("hw.swap", {"interval": 0.2, "top": 5})
    assert out.ok, out.message
    v = out.value
    assert v["total"] == psutil.swap_memory().total
    assert [a["name"] for a in v["areas"]] == [a.name for a in parse_swaps(_swaps())]
    assert [z["name"] for z in v["zram"]] == _zram_names()
    assert v["swappiness"] == _swappiness()
    assert v["pswpin_per_s"] is not None and v["pswpin_per_s"] >= 0
    assert len(v["top"]) <= 5
    assert [t["swap"] for t in v["top"]] == sorted((t["swap"] for t in v["top"]), reverse=True)


async def test_no_sampling_by_default():
    out = await run_action("hw.swap")
    assert out.ok and out.value["pswpin_per_s"] is None


def test_parse_swaps():
    text = (
        "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"
        "/dev/dm-1                               partition\t8388604\t\t1024\t\t-2\n"
        "/var/swap\\040file                       file\t\t1048572\t\t0\t\t-3\n"
    )
    areas = parse_swaps(text)
    assert [(a.name, a.type, a.size, a.used, a.priority) for a in areas] == [
        ("/dev/dm-1", "partition", 8388604 * 1024, 1024 * 1024, -2),
        ("/var/swap file", "file", 1048572 * 1024, 0, -3),
    ]


@pytest.mark.parametrize("params", [{"top": -1}, {"top": 1001}, {"interval": 61}, {"device": "zram0"}])
async def test_swap_bad_params(params):
    assert (await run_action("hw.swap", params)).code == "A002"
