"""hw.dmi: the real host (or its A003 where there is no DMI), and the reader on a sysfs-shaped tree."""

from __future__ import annotations

import os

import pytest

from agent_core.testing import run_action
from plugins.hardware.dmi import DMI, is_placeholder, read_dmi

HAVE_DMI = os.path.isdir(DMI)


def _dmi_field(name: str) -> str:
    with open(os.path.join(DMI, name)) as fh:
        return fh.read().strip()


async def test_dmi_on_this_host():
    out = await run_action("hw.dmi")
    if not HAVE_DMI:
        assert out.code == "A003" and DMI in out.message
        pytest.skip("DMI (/sys/class/dmi/id) absent on this host: the real path is not exercised here; only the missing-tool answer (A003) was checked")
    assert out.ok, out.message
    assert out.value["vendor"] == _dmi_field("sys_vendor")
    assert out.value["product"] == _dmi_field("product_name")


def test_read_dmi_tree(tmp_path):
    values = {
        "sys_vendor": "Dell Inc.", "product_name": "PowerEdge R650", "product_serial": "7XK2JH3",
        "product_uuid": "4c4c4544-0058-4b10-8032-b7c04f4a4833", "board_serial": "To Be Filled By O.E.M.",
        "chassis_type": "23", "chassis_serial": "00000000", "bios_version": "1.8.2\n",
    }  # fmt: skip
    for name, value in values.items():
        (tmp_path / name).write_text(value + "\n")
    (tmp_path / "chassis_asset_tag").write_text("secret")
    os.chmod(tmp_path / "chassis_asset_tag", 0)
    d = read_dmi(str(tmp_path))
    assert (d.vendor, d.product, d.serial, d.chassis) == ("Dell Inc.", "PowerEdge R650", "7XK2JH3", "rack-mount")
    assert d.fields["bios_version"] == "1.8.2"
    assert d.placeholders == ["board_serial", "chassis_serial"]
    if os.geteuid() != 0:  # root reads mode-000 files anyway
        assert d.unreadable == ["chassis_asset_tag"]


def test_placeholders():
    assert is_placeholder("To Be Filled By O.E.M.") and is_placeholder("") and is_placeholder("00000000-0000-0000")
    assert not is_placeholder("CZ21470ABC")


async def test_dmi_bad_params():
    out = await run_action("hw.dmi", {"field": "x"})
    if not HAVE_DMI:
        pytest.skip("DMI (/sys/class/dmi/id) absent on this host: answers only the missing-tool code (A003), the real checks are not exercised")
    assert out.code == "A002"
