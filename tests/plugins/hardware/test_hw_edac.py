"""hw.edac: the real host (A003 without an EDAC driver) and the reader on an EDAC-shaped tree."""

from __future__ import annotations

import os

import pytest

from agent_core.testing import run_action
from plugins.hardware.edac import EDAC_MC, read_edac

HAVE_EDAC = os.path.isdir(EDAC_MC)


async def test_edac_on_this_host():
    out = await run_action("hw.edac")
    if not HAVE_EDAC:
        assert out.code == "A003" and EDAC_MC in out.message
        pytest.skip("EDAC (/sys/devices/system/edac/mc) absent on this host: the real path is not exercised here; only the missing-tool answer (A003) was checked")
    assert out.ok, out.message
    assert out.value["ce_total"] == sum(c["ce"] for c in out.value["controllers"])


def _write(d, **files):
    d.mkdir(parents=True, exist_ok=True)
    for name, value in files.items():
        (d / name).write_text(f"{value}\n")


def test_read_edac_tree(tmp_path):
    mc0 = tmp_path / "mc0"
    _write(mc0, mc_name="Skylake Socket#0 IMC#0", size_mb=65536, ce_count=7, ue_count=0, ce_noinfo_count=0, ue_noinfo_count=0)
    _write(mc0 / "dimm0", dimm_label="CPU_SrcID#0_MC#0_Chan#0_DIMM#0", dimm_location="channel 0 slot 0 ", size=32768,
           dimm_mem_type="Registered-DDR4", dimm_ce_count=7, dimm_ue_count=0)  # fmt: skip
    _write(mc0 / "dimm1", dimm_label="CPU_SrcID#0_MC#0_Chan#1_DIMM#0", size=32768, dimm_ce_count=0, dimm_ue_count=0)
    mc1 = tmp_path / "mc1"  # an older driver with csrows
    _write(mc1, mc_name="i5000", ce_count=0, ue_count=1, ue_noinfo_count=0, ce_noinfo_count=0)
    _write(mc1 / "csrow0", size_mb=4096, ue_count=1, ch0_ce_count=0, ch0_dimm_label="DIMM_A1", ch1_ce_count=0, ch1_dimm_label="DIMM_B1")
    (tmp_path / "power").mkdir()
    e = read_edac(str(tmp_path))
    assert [c.name for c in e.controllers] == ["mc0", "mc1"]
    assert (e.ce_total, e.ue_total) == (7, 1)
    dimm0 = e.controllers[0].dimms[0]
    assert (dimm0.label, dimm0.location, dimm0.size_mb, dimm0.ce) == ("CPU_SrcID#0_MC#0_Chan#0_DIMM#0", "channel 0 slot 0", 32768, 7)
    assert [d.label for d in e.controllers[1].dimms] == ["DIMM_A1", "DIMM_B1"]
    assert e.failing == [
        "mc0/dimm0 CPU_SrcID#0_MC#0_Chan#0_DIMM#0", "mc1/csrow0/ch0 DIMM_A1", "mc1/csrow0/ch1 DIMM_B1",
    ]  # fmt: skip


async def test_edac_bad_params():
    out = await run_action("hw.edac", {"reset": True})
    if not HAVE_EDAC:
        pytest.skip("EDAC (/sys/devices/system/edac/mc) absent on this host: answers only the missing-tool code (A003), the real checks are not exercised")
    assert out.code == "A002"
