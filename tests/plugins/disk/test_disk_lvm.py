"""disk.lvm on a real volume group built on a loop device, or A003 without lvm2."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid

import pytest

from agent_core.testing import run_action
from plugins.disk.lvm import problems, to_lv, to_pv, to_vg

HAVE_LVM = shutil.which("lvm") is not None
ENV = dict(os.environ, LVM_SUPPRESS_FD_WARNINGS="1")


def _run(*argv: str) -> str:
    return subprocess.run(list(argv), capture_output=True, text=True, check=True, env=ENV).stdout.strip()


@pytest.fixture
def loop_vg(tmp_path):
    """A 32 MiB volume group on a loop device, removed afterwards."""
    if not HAVE_LVM or shutil.which("losetup") is None:
        pytest.skip("lvm (lvm2) or losetup (util-linux) not installed")
    if os.geteuid() != 0:
        pytest.skip("loop devices and pvcreate need root")
    image = tmp_path / "pv.img"
    with open(image, "wb") as fh:
        fh.truncate(32 * 1024 * 1024)
    loop = _run("losetup", "--find", "--show", str(image))
    vg = f"starlingtest{uuid.uuid4().hex[:8]}"
    try:
        _run("pvcreate", "-y", loop)
        _run("vgcreate", vg, loop)
        yield vg, loop
    finally:
        subprocess.run(["vgremove", "-y", vg], capture_output=True, env=ENV)
        subprocess.run(["pvremove", "-y", loop], capture_output=True, env=ENV)
        subprocess.run(["losetup", "-d", loop], capture_output=True)


async def test_lvm_reports_a_real_volume_group(loop_vg):
    vg, loop = loop_vg
    out = await run_action("disk.lvm", {"vg": vg})
    assert out.ok, out.message
    v = out.value
    (g,) = v["vgs"]
    assert g["name"] == vg and g["pvs"] == 1 and g["lvs"] == 0 and not g["partial"]
    assert 0 < g["size"] <= 32 * 1024 * 1024 and g["free"] == g["size"] and g["free_percent"] == 100.0
    (pv,) = v["pvs"]
    assert pv["name"] == loop and pv["vg"] == vg and pv["allocatable"] and not pv["missing"]
    assert v["lvs"] == [] and v["problems"] == []
    everything = await run_action("disk.lvm")
    assert vg in [x["name"] for x in everything.value["vgs"]]


async def test_lvm_unavailable_or_unknown_vg():
    out = await run_action("disk.lvm", {"vg": "starling_no_such_vg"})
    if not HAVE_LVM:
        pytest.skip("lvm absent on this host: answers only the missing-tool code (A003), the real checks are not exercised")
    assert out.code == "A017"


def test_lv_mapping_and_problems():
    pool = to_lv({"lv_name": "pool", "vg_name": "data", "lv_attr": "twi-aotz--", "lv_size": "1073741824",
                  "segtype": "thin-pool", "data_percent": "91.50", "metadata_percent": "12.00"})  # fmt: skip
    thin = to_lv({"lv_name": "vol1", "vg_name": "data", "lv_attr": "Vwi-aotz--", "lv_size": "2147483648", "pool_lv": "pool", "data_percent": "40.1"})
    assert (pool.type, pool.active, pool.open, pool.data_percent) == ("thin-pool", True, True, 91.5)
    assert (thin.type, thin.pool) == ("thin", "pool")
    pv = to_pv({"pv_name": "/dev/sdz", "vg_name": "data", "pv_attr": "a-m", "pv_size": "10", "pv_free": "0"})
    vg = to_vg({"vg_name": "data", "vg_attr": "wz-pn-", "vg_size": "100", "vg_free": "25", "vg_missing_pv_count": "1"})
    assert pv.missing and vg.partial and vg.free_percent == 25.0
    found = problems([pv], [vg], [pool, thin], 80.0)
    assert found == ["PV /dev/sdz of VG data is missing", "VG data is partial (1 PV missing)", "thin-pool data/pool data 91.5% full"]


@pytest.mark.parametrize("params", [{"threshold": 101}, {"vg": "bad name!"}, {"vg": ""}, {"lv": "x"}])
async def test_lvm_bad_params(params):
    out = await run_action("disk.lvm", params)
    if not HAVE_LVM:
        pytest.skip("lvm absent on this host: answers only the missing-tool code (A003), the real checks are not exercised")
    assert out.code == "A002"
