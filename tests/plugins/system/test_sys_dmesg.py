"""sys.dmesg against the dmesg program and the kernel ring buffer."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from agent_core.testing import run_action
from plugins.system.dmesg import LEVELS, parse_dmesg_raw, parse_kmsg_record


def _dmesg_raw() -> list[tuple[int, int, float, str]]:
    if shutil.which("dmesg") is None:
        pytest.skip("dmesg (util-linux) not installed")
    res = subprocess.run(["dmesg", "-r"], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    return parse_dmesg_raw(res.stdout)


async def test_tail_matches_dmesg_program():
    before = _dmesg_raw()
    out = await run_action("sys.dmesg", {"lines": 5})
    after = [m for *_, m in _dmesg_raw()]
    assert out.ok, out.message
    tail = [e["message"] for e in out.value["entries"]]
    assert len(tail) == min(5, len(before))
    # New kernel messages may arrive meanwhile; ours must be a contiguous run of dmesg's.
    assert any(after[i : i + len(tail)] == tail for i in range(len(after) - len(tail) + 1))
    assert out.value["scanned"] >= len(before)
    seqs = [e["seq"] for e in out.value["entries"]]
    assert seqs == sorted(seqs)


async def test_level_filter_and_match():
    out = await run_action("sys.dmesg", {"lines": 10000, "level": "notice"})
    assert out.ok
    assert all(LEVELS.index(e["level"]) <= LEVELS.index("notice") for e in out.value["entries"])
    every = await run_action("sys.dmesg", {"lines": 10000})
    word = every.value["entries"][-1]["message"].split()[0]
    hit = await run_action("sys.dmesg", {"lines": 10000, "match": word.replace("(", r"\(")})
    assert hit.value["matched"] >= 1
    assert all(word.lower() in e["message"].lower() for e in hit.value["entries"])
    assert hit.value["matched"] <= every.value["matched"]


async def test_since_and_facility():
    out = await run_action("sys.dmesg", {"since_seconds": 1e9, "facility": "kern", "lines": 10000})
    every = await run_action("sys.dmesg", {"lines": 10000})
    kern = [e for e in every.value["entries"] if e["facility"] == "kern"]
    assert out.value["matched"] == len(kern)


def test_parse_kmsg_record():
    rec = "3,1234,5678901,-;sd 0:0:0:0: [sda] error\n SUBSYSTEM=scsi\n DEVICE=+scsi:0:0:0:0\n"
    assert parse_kmsg_record(rec) == (3, 1234, 5.678901, "sd 0:0:0:0: [sda] error")
    assert parse_kmsg_record("garbage") is None


@pytest.mark.parametrize(
    "params", [{"lines": 0}, {"level": "loud"}, {"facility": "nope"}, {"match": "("}, {"since_seconds": -1}, {"tail": 3}]
)
async def test_bad_params(params):
    assert (await run_action("sys.dmesg", params)).code == "A002"
