"""sys.osrelease against Python's own os-release reader."""

from __future__ import annotations

import platform
import shutil

from agent_core.testing import run_action
from plugins.system.osrelease import family_of, parse_os_release


def _read(path: str) -> str:
    with open(path) as fh:
        return fh.read().strip()



async def test_os_matches_platform():
    out = await run_action("sys.osrelease")
    assert out.ok, out.message
    v = out.value
    ref = platform.freedesktop_os_release()
    assert v["id"] == ref["ID"] and v["pretty_name"] == ref.get("PRETTY_NAME", ref["NAME"])
    # platform fills in NAME/ID/PRETTY_NAME defaults; every field in the file must agree.
    assert all(ref[k] == val for k, val in v["fields"].items())
    assert set(ref) - {"NAME", "ID", "PRETTY_NAME"} <= set(v["fields"])
    assert v["package_manager"] and shutil.which(v["package_manager"])
    if ref["ID"] in ("debian", "ubuntu"):
        assert v["family"] == "debian"
        assert v["point_release"] == _read("/etc/debian_version")


def test_parse_and_family():
    text = 'NAME="Rocky Linux"\nID="rocky"\nID_LIKE="rhel centos fedora"\nVERSION_ID="9.3"\n# c\nSUPPORT_END=2032-05-31\n'
    fields = parse_os_release(text)
    assert fields["ID_LIKE"] == "rhel centos fedora" and fields["SUPPORT_END"] == "2032-05-31"
    assert family_of(fields) == "rhel"
    assert family_of({"ID": "ubuntu", "ID_LIKE": "debian"}) == "debian"
    assert family_of({"ID": "opensuse-leap", "ID_LIKE": "suse opensuse"}) == "suse"
    assert family_of({"ID": "alpine"}) == "alpine"


async def test_os_bad_params():
    assert (await run_action("sys.osrelease", {"x": 1})).code == "A002"
