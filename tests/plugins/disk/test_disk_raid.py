"""disk.raid: A003 where md is absent; the mdstat parser on the kernel's own format."""

from __future__ import annotations

import os

import pytest

from agent_core.testing import run_action
from plugins.disk.raid import MDSTAT, parse_mdstat

HAVE_MD = os.path.exists(MDSTAT)


def _why_no_md() -> str:
    """Why md RAID cannot be exercised on this machine, read from its kernel at run time."""
    why = f"{MDSTAT} absent: this kernel has no md driver built in"
    try:
        with open("/proc/cmdline") as fh:
            cmdline = fh.read().split()
    except OSError:
        cmdline = []
    if "nomodule" in cmdline:
        why += " and loads no modules (nomodule on its command line), so md_mod cannot be loaded"
    elif not os.path.exists("/proc/modules"):
        why += " and has no module support (no /proc/modules), so md_mod cannot be loaded"
    else:
        why += " and md_mod is not loaded"
    return why + "; no array can be made here (not even with mdadm on loop devices)"

SAMPLE = """Personalities : [raid1] [raid6] [raid5] [raid4]
md1 : active raid1 sdb2[1] sda2[0]
      976630464 blocks super 1.2 [2/2] [UU]
      bitmap: 1/8 pages [4KB], 65536KB chunk

md0 : active raid5 sdd1[3](F) sdc1[2] sdb1[1] sda1[0]
      1953260544 blocks super 1.2 level 5, 512k chunk, algorithm 2 [4/3] [UUU_]
      [==>..................]  recovery = 12.6% (123456/976630272) finish=123.4min speed=100000K/sec

md2 : inactive sde1[0](S)
      976630464 blocks super 1.2

md3 : active (auto-read-only) raid1 sdf1[0] sdg1[1]
      1048512 blocks super 1.2 [2/2] [UU]
        resync=PENDING

unused devices: <none>
"""


def _read(path: str) -> str:
    with open(path) as fh:
        return fh.read()


async def test_raid_on_this_host():
    out = await run_action("disk.raid")
    if not HAVE_MD:
        assert out.code == "A003" and MDSTAT in out.message
        pytest.skip(f"{_why_no_md()}: the real path is not exercised; only the missing-tool answer (A003) was checked")
    assert out.ok, out.message
    _, arrays = parse_mdstat(_read(MDSTAT))
    assert [a["name"] for a in out.value["arrays"]] == [a.name for a in arrays]


def test_parse_mdstat():
    personalities, arrays = parse_mdstat(SAMPLE)
    assert personalities == ["raid1", "raid6", "raid5", "raid4"]
    md1, md0, md2, md3 = arrays
    assert (md1.level, md1.status, md1.degraded, md1.blocks) == ("raid1", "UU", False, 976630464)
    assert [(m.device, m.role, m.flags) for m in md0.members] == [("sdd1", 3, ["failed"]), ("sdc1", 2, []), ("sdb1", 1, []), ("sda1", 0, [])]
    assert (md0.expected, md0.working, md0.degraded) == (4, 3, True)
    assert (md0.sync_action, md0.sync_percent, md0.sync_finish, md0.sync_speed) == ("recovery", 12.6, "123.4min", "100000K/sec")
    assert (md2.state, md2.level, md2.members[0].flags) == ("inactive", "", ["spare"])
    assert md3.read_only and md3.sync_action == "resync pending"


async def test_raid_bad_params():
    out = await run_action("disk.raid", {"array": "md0"})
    if not HAVE_MD:
        assert out.code == "A003"
        pytest.skip(f"{_why_no_md()}: disk.raid answers only the missing-tool code (A003), its param checks are not exercised")
    assert out.code == "A002"
